//! The same message written with different prefixes, default namespaces and declaration places parses the same.

use access_point::ebms::*;

const SOAP_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const EB_NS: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// A hand-written envelope. `soap` and `eb` are prefixes; the empty string means "default namespace".
/// With both empty, SOAP is the default namespace of the Envelope and eb the default from Messaging down.
/// `eb_decl_on_root` says whether the eb namespace is declared on the Envelope or on Messaging.
fn envelope(soap: &str, eb: &str, eb_decl_on_root: bool) -> String {
    let q = |prefix: &str, local: &str| {
        if prefix.is_empty() {
            local.to_string()
        } else {
            format!("{prefix}:{local}")
        }
    };
    let decl = |prefix: &str, uri: &str| {
        if prefix.is_empty() {
            format!(" xmlns=\"{uri}\"")
        } else {
            format!(" xmlns:{prefix}=\"{uri}\"")
        }
    };
    let (s, e) = (|l: &str| q(soap, l), |l: &str| q(eb, l));
    // mustUnderstand needs a prefix even when SOAP is the default namespace (unprefixed attributes have no
    // namespace): use a dedicated one then.
    let (mu_prefix, mu_decl) = if soap.is_empty() {
        ("s12a", decl("s12a", SOAP_NS))
    } else {
        (soap, String::new())
    };
    let root_decls = format!(
        "{}{}{}",
        decl(soap, SOAP_NS),
        decl("wsu", WSU_NS),
        if eb_decl_on_root && eb != soap {
            decl(eb, EB_NS)
        } else {
            String::new()
        }
    );
    let messaging_decl = if eb_decl_on_root && eb != soap {
        String::new()
    } else {
        decl(eb, EB_NS)
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<{envelope}{root_decls}>
  <{header}>
    <{messaging}{messaging_decl}{mu_decl} {mu_prefix}:mustUnderstand="1" wsu:Id="_m">
      <{um}>
        <{mi}>
          <{ts}>2023-11-02T08:15:00.000Z</{ts}>
          <{mid}> a1b2@sender.example </{mid}>
        </{mi}>
        <{pi}>
          <{from}><{pid} type="urn:t">AP0001</{pid}><{role}>urn:role:initiator</{role}></{from}>
          <{to}><{pid} type="urn:t">AP0002</{pid}><{role}>urn:role:responder</{role}></{to}>
        </{pi}>
        <{ci}>
          <{svc} type="urn:svc">bdx:noprocess</{svc}>
          <{act}>act-1</{act}>
          <{conv}>conv-1</{conv}>
        </{ci}>
        <{mp}><{prop} name="originalSender" type="iso6523-actorid-upis">0203:a.se</{prop}></{mp}>
        <{pl}>
          <{part} href="cid:message"><{pp}><{prop} name="MimeType">text/xml</{prop}></{pp}></{part}>
        </{pl}>
      </{um}>
    </{messaging}>
  </{header}>
  <{body} wsu:Id="_b"/>
</{envelope}>"#,
        envelope = s("Envelope"),
        header = s("Header"),
        body = s("Body"),
        messaging = e("Messaging"),
        um = e("UserMessage"),
        mi = e("MessageInfo"),
        ts = e("Timestamp"),
        mid = e("MessageId"),
        pi = e("PartyInfo"),
        from = e("From"),
        to = e("To"),
        pid = e("PartyId"),
        role = e("Role"),
        ci = e("CollaborationInfo"),
        svc = e("Service"),
        act = e("Action"),
        conv = e("ConversationId"),
        mp = e("MessageProperties"),
        prop = e("Property"),
        pl = e("PayloadInfo"),
        part = e("PartInfo"),
        pp = e("PartProperties"),
    )
}

fn parse(xml: &str) -> ParsedEnvelope {
    Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

#[test]
fn prefixes_do_not_matter() {
    let reference = parse(&envelope("soap", "eb", true));
    let user = reference.messaging().user_message().unwrap();
    assert_eq!(user.message_info.message_id.as_str(), "a1b2@sender.example");
    assert_eq!(user.party_info.to.single_party_id().unwrap().value(), "AP0002");
    assert_eq!(user.payload_info[0].mime_type(), Some("text/xml"));
    assert_eq!(reference.messaging_wsu_id(), Some("_m"));
    assert!(reference.messaging_must_understand());
    let mut variants = 0;
    for soap in ["S12", "env", "soap", "s", ""] {
        for eb in ["eb", "ns", "eb3", ""] {
            for on_root in [true, false] {
                let xml = envelope(soap, eb, on_root);
                let parsed = parse(&xml);
                assert_eq!(parsed.messaging(), reference.messaging(), "{xml}");
                assert_eq!(parsed.messaging_wsu_id(), Some("_m"));
                assert_eq!(parsed.body_wsu_id(), Some("_b"));
                variants += 1;
            }
        }
    }
    assert_eq!(variants, 40);
}

#[test]
fn wrong_namespace_is_not_ebms() {
    // Right local names, wrong namespace: there is no eb:Messaging at all.
    let xml =
        envelope("soap", "eb", true).replace(EB_NS, "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704");
    let err = Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap_err();
    let wrong = "{http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704}Messaging";
    assert_eq!(err, EbmsParseError::NotUnderstood(wrong.into()));
    let optional = xml.replace("soap:mustUnderstand=\"1\"", "");
    let err = Envelope::parse(optional.as_bytes(), &ParseLimits::default()).unwrap_err();
    assert_eq!(err, EbmsParseError::MissingMessaging);
}
