//! Rendering a [`Messaging`] as a complete SOAP 1.2 envelope, and building Receipt and Error signals.
//!
//! The output uses the prefixes `env` (SOAP 1.2), `eb`, `wsse` and `wsu`, all declared on `env:Envelope`;
//! `ebbp`, `ds` and `ec` are declared where receipts use them. `eb:Messaging` carries `env:mustUnderstand="true"`
//! (AS4) and a `wsu:Id`, as does `env:Body`, so the WS-Security layer can sign both. That layer passes its
//! `wsse:Security` element to [`EnvelopeBuilder::render`], which puts it first in `env:Header`.

use base64::Engine;

use super::error::EbmsError;
use super::ids::{MessageId, MessageIdGenerator, Timestamp, WsuId};
use super::model::*;
use super::ns;

/// Renders one envelope. Holds a validated [`Messaging`], so rendering cannot fail and always yields XML that
/// [`crate::ebms::Envelope::parse`] reads back to an equal model.
#[derive(Debug, Clone)]
pub struct EnvelopeBuilder {
    messaging: Messaging,
    messaging_wsu_id: WsuId,
    body_wsu_id: WsuId,
    body_content: Option<String>,
}

impl EnvelopeBuilder {
    /// Checks that every value of `messaging` can be written and read back unchanged (no characters XML cannot
    /// carry, identifiers non-empty without surrounding whitespace), and generates fresh `wsu:Id`s.
    pub fn new(messaging: Messaging) -> Result<EnvelopeBuilder, ModelError> {
        validate_messaging(&messaging)?;
        Ok(EnvelopeBuilder {
            messaging,
            messaging_wsu_id: WsuId::generate("ebms"),
            body_wsu_id: WsuId::generate("body"),
            body_content: None,
        })
    }

    pub fn with_messaging_wsu_id(mut self, id: WsuId) -> Self {
        self.messaging_wsu_id = id;
        self
    }

    pub fn with_body_wsu_id(mut self, id: WsuId) -> Self {
        self.body_wsu_id = id;
        self
    }

    /// Puts an XML fragment in the Body verbatim. The caller vouches that it is well-formed (it is usually an
    /// `xenc:EncryptedData` produced by WS-Security, or nothing: AS4 payloads travel as attachments).
    pub fn with_body_content(mut self, xml_fragment: String) -> Self {
        self.body_content = Some(xml_fragment);
        self
    }

    pub fn messaging(&self) -> &Messaging {
        &self.messaging
    }

    /// The `wsu:Id` of `eb:Messaging` (a signature reference is `#` followed by it).
    pub fn messaging_wsu_id(&self) -> &WsuId {
        &self.messaging_wsu_id
    }

    pub fn body_wsu_id(&self) -> &WsuId {
        &self.body_wsu_id
    }

    /// The whole envelope. `security_header`, when given, is a complete `wsse:Security` element written verbatim as
    /// the first child of `env:Header`; it may use the `wsse` and `wsu` prefixes declared on the Envelope and must
    /// declare any others it uses.
    pub fn render(&self, security_header: Option<&str>) -> String {
        let mut w = Writer::default();
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        w.open(
            "env:Envelope",
            &[
                ("xmlns:env", Some(ns::SOAP12)),
                ("xmlns:eb", Some(ns::EB)),
                ("xmlns:wsse", Some(ns::WSSE)),
                ("xmlns:wsu", Some(ns::WSU)),
            ],
        );
        w.open("env:Header", &[]);
        if let Some(security) = security_header {
            w.raw(security);
        }
        w.open(
            "eb:Messaging",
            &[
                ("env:mustUnderstand", Some("true")),
                ("wsu:Id", Some(self.messaging_wsu_id.as_str())),
            ],
        );
        write_messaging_content(&mut w, &self.messaging);
        w.close("eb:Messaging");
        w.close("env:Header");
        w.open("env:Body", &[("wsu:Id", Some(self.body_wsu_id.as_str()))]);
        if let Some(content) = &self.body_content {
            w.raw(content);
        }
        w.close("env:Body");
        w.close("env:Envelope");
        w.out
    }
}

/// A receipt for the UserMessage `ref_to`, carrying the non-repudiation information WS-Security supplies.
pub fn receipt_signal(
    ids: &MessageIdGenerator,
    ref_to: &MessageId,
    non_repudiation: NonRepudiationInformation,
) -> SignalMessage {
    SignalMessage::receipt(
        MessageInfo::new(ids.generate(), Timestamp::now()),
        ref_to.clone(),
        Receipt::NonRepudiation(non_repudiation),
    )
}

/// A reception-awareness receipt holding a copy of the received UserMessage header (no non-repudiation).
pub fn receipt_copy_signal(ids: &MessageIdGenerator, received: &UserMessage) -> SignalMessage {
    SignalMessage::receipt(
        MessageInfo::new(ids.generate(), Timestamp::now()),
        received.message_info.message_id.clone(),
        Receipt::UserMessageCopy(Box::new(received.clone())),
    )
}

/// An Error signal reporting `errors`. The signal's RefToMessageId is `ref_to`, or else the first error's
/// `refToMessageInError` when that is a valid message id.
pub fn error_signal(
    ids: &MessageIdGenerator,
    ref_to: Option<&MessageId>,
    errors: &NonEmpty<EbmsError>,
) -> SignalMessage {
    let ref_to = ref_to.cloned().or_else(|| {
        errors
            .first()
            .ref_to_message_in_error
            .as_deref()
            .and_then(|r| MessageId::parse(r).ok())
    });
    let signal_errors = NonEmpty::from_vec(errors.iter().map(SignalError::from).collect()).expect("non-empty input");
    SignalMessage::errors(
        MessageInfo::new(ids.generate(), Timestamp::now()),
        ref_to,
        signal_errors,
    )
}

/// Escapes character data. `\r` becomes a character reference, or a reader would turn it into `\n`.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value for double quotes. Tab, line feed and carriage return become character references,
/// or attribute-value normalisation would turn them into spaces.
pub fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(key);
                self.out.push_str("=\"");
                self.out.push_str(&escape_attribute(value));
                self.out.push('"');
            }
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>");
    }

    fn text_element(&mut self, name: &str, attrs: &[(&str, Option<&str>)], text: &str) {
        self.open(name, attrs);
        self.out.push_str(&escape_text(text));
        self.close(name);
    }
}

fn write_messaging_content(w: &mut Writer, messaging: &Messaging) {
    // The ebMS3 schema puts SignalMessages before the UserMessage.
    for signal in messaging.signal_messages() {
        write_signal(w, signal);
    }
    if let Some(user) = messaging.user_message() {
        write_user_message(w, user);
    }
}

fn write_message_info(w: &mut Writer, info: &MessageInfo) {
    w.open("eb:MessageInfo", &[]);
    w.text_element("eb:Timestamp", &[], &info.timestamp.to_xsd());
    w.text_element("eb:MessageId", &[], info.message_id.as_str());
    if let Some(r) = &info.ref_to_message_id {
        w.text_element("eb:RefToMessageId", &[], r.as_str());
    }
    w.close("eb:MessageInfo");
}

fn write_user_message(w: &mut Writer, user: &UserMessage) {
    w.open("eb:UserMessage", &[("mpc", user.mpc.as_deref())]);
    write_message_info(w, &user.message_info);
    w.open("eb:PartyInfo", &[]);
    write_party(w, "eb:From", &user.party_info.from);
    write_party(w, "eb:To", &user.party_info.to);
    w.close("eb:PartyInfo");
    let collab = &user.collaboration_info;
    w.open("eb:CollaborationInfo", &[]);
    if let Some(a) = &collab.agreement_ref {
        w.text_element(
            "eb:AgreementRef",
            &[("type", a.agreement_type.as_deref()), ("pmode", a.pmode.as_deref())],
            &a.value,
        );
    }
    w.text_element(
        "eb:Service",
        &[("type", collab.service.service_type())],
        collab.service.value(),
    );
    w.text_element("eb:Action", &[], &collab.action);
    w.text_element("eb:ConversationId", &[], &collab.conversation_id);
    w.close("eb:CollaborationInfo");
    if !user.message_properties.is_empty() {
        write_properties(w, "eb:MessageProperties", &user.message_properties);
    }
    if !user.payload_info.is_empty() {
        w.open("eb:PayloadInfo", &[]);
        for part in &user.payload_info {
            write_part_info(w, part);
        }
        w.close("eb:PayloadInfo");
    }
    w.close("eb:UserMessage");
}

fn write_party(w: &mut Writer, name: &str, party: &Party) {
    w.open(name, &[]);
    for id in party.party_ids.iter() {
        w.text_element("eb:PartyId", &[("type", id.party_type())], id.value());
    }
    w.text_element("eb:Role", &[], &party.role);
    w.close(name);
}

fn write_properties(w: &mut Writer, name: &str, properties: &[Property]) {
    w.open(name, &[]);
    for p in properties {
        w.text_element(
            "eb:Property",
            &[("name", Some(&p.name)), ("type", p.property_type.as_deref())],
            &p.value,
        );
    }
    w.close(name);
}

fn write_description(w: &mut Writer, d: &Description) {
    w.text_element("eb:Description", &[("xml:lang", Some(&d.lang))], &d.text);
}

fn write_part_info(w: &mut Writer, part: &PartInfo) {
    let href = part.part_ref.href();
    w.open("eb:PartInfo", &[("href", href.as_deref())]);
    if let Some(s) = &part.schema {
        w.empty(
            "eb:Schema",
            &[
                ("location", Some(&s.location)),
                ("version", s.version.as_deref()),
                ("namespace", s.namespace.as_deref()),
            ],
        );
    }
    if let Some(d) = &part.description {
        write_description(w, d);
    }
    if !part.part_properties.is_empty() {
        write_properties(w, "eb:PartProperties", &part.part_properties);
    }
    w.close("eb:PartInfo");
}

fn write_signal(w: &mut Writer, signal: &SignalMessage) {
    w.open("eb:SignalMessage", &[]);
    write_message_info(w, &signal.message_info);
    match &signal.signal {
        Signal::PullRequest(p) => w.empty("eb:PullRequest", &[("mpc", p.mpc.as_deref())]),
        Signal::Receipt(r) => {
            w.open("eb:Receipt", &[]);
            match r {
                Receipt::NonRepudiation(nri) => write_non_repudiation(w, nri),
                Receipt::UserMessageCopy(user) => write_user_message(w, user),
            }
            w.close("eb:Receipt");
        }
        Signal::Errors(errors) => {
            for e in errors.iter() {
                write_error(w, e);
            }
        }
    }
    w.close("eb:SignalMessage");
}

fn write_non_repudiation(w: &mut Writer, nri: &NonRepudiationInformation) {
    w.open(
        "ebbp:NonRepudiationInformation",
        &[("xmlns:ebbp", Some(ns::EBBP)), ("xmlns:ds", Some(ns::DS))],
    );
    for part in nri.parts.iter() {
        w.open("ebbp:MessagePartNRInformation", &[]);
        match part {
            MessagePartNRInformation::Reference(r) => {
                w.open("ds:Reference", &[("URI", r.uri.as_deref())]);
                if !r.transforms.is_empty() {
                    w.open("ds:Transforms", &[]);
                    for t in &r.transforms {
                        match &t.inclusive_namespaces {
                            None => w.empty("ds:Transform", &[("Algorithm", Some(&t.algorithm))]),
                            Some(prefixes) => {
                                w.open("ds:Transform", &[("Algorithm", Some(&t.algorithm))]);
                                let list = prefixes.join(" ");
                                w.empty(
                                    "ec:InclusiveNamespaces",
                                    &[("xmlns:ec", Some(ns::EXC_C14N)), ("PrefixList", Some(&list))],
                                );
                                w.close("ds:Transform");
                            }
                        }
                    }
                    w.close("ds:Transforms");
                }
                w.empty("ds:DigestMethod", &[("Algorithm", Some(&r.digest_method))]);
                let digest = base64::engine::general_purpose::STANDARD.encode(&r.digest_value);
                w.text_element("ds:DigestValue", &[], &digest);
                w.close("ds:Reference");
            }
            MessagePartNRInformation::MessagePartIdentifier(id) => {
                w.text_element("ebbp:MessagePartIdentifier", &[], id);
            }
        }
        w.close("ebbp:MessagePartNRInformation");
    }
    w.close("ebbp:NonRepudiationInformation");
}

fn write_error(w: &mut Writer, e: &SignalError) {
    let attrs = [
        ("category", e.category.as_deref()),
        ("errorCode", Some(e.error_code.as_str())),
        ("origin", e.origin.as_deref()),
        ("refToMessageInError", e.ref_to_message_in_error.as_deref()),
        ("severity", Some(e.severity.as_str())),
        ("shortDescription", e.short_description.as_deref()),
    ];
    if e.description.is_none() && e.error_detail.is_none() {
        w.empty("eb:Error", &attrs);
        return;
    }
    w.open("eb:Error", &attrs);
    if let Some(d) = &e.description {
        write_description(w, d);
    }
    if let Some(detail) = &e.error_detail {
        w.text_element("eb:ErrorDetail", &[], detail);
    }
    w.close("eb:Error");
}

// ---- validation: everything rendered must read back equal ----

fn xml_text(field: &'static str, s: &str) -> Result<(), ModelError> {
    match s.chars().find(|c| {
        !matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    }) {
        Some(c) => Err(ModelError::NotXmlChar { field, code: c as u32 }),
        None => Ok(()),
    }
}

fn token(field: &'static str, s: &str) -> Result<(), ModelError> {
    xml_text(field, s)?;
    check_token(field, s)
}

fn opt_text(field: &'static str, s: &Option<String>) -> Result<(), ModelError> {
    s.as_deref().map_or(Ok(()), |v| xml_text(field, v))
}

fn validate_messaging(m: &Messaging) -> Result<(), ModelError> {
    if let Some(u) = m.user_message() {
        validate_user_message(u)?;
    }
    for s in m.signal_messages() {
        match &s.signal {
            Signal::PullRequest(p) => opt_text("PullRequest mpc", &p.mpc)?,
            Signal::Receipt(r) => {
                if s.message_info.ref_to_message_id.is_none() {
                    return Err(ModelError::Empty("RefToMessageId of a Receipt signal"));
                }
                match r {
                    Receipt::UserMessageCopy(u) => validate_user_message(u)?,
                    Receipt::NonRepudiation(nri) => validate_nri(nri)?,
                }
            }
            Signal::Errors(errors) => {
                for e in errors.iter() {
                    xml_text("errorCode", e.error_code.as_str())?;
                    opt_text("category", &e.category)?;
                    opt_text("shortDescription", &e.short_description)?;
                    opt_text("refToMessageInError", &e.ref_to_message_in_error)?;
                    opt_text("origin", &e.origin)?;
                    opt_text("ErrorDetail", &e.error_detail)?;
                    if let Some(d) = &e.description {
                        validate_description(d)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn validate_nri(nri: &NonRepudiationInformation) -> Result<(), ModelError> {
    for part in nri.parts.iter() {
        match part {
            MessagePartNRInformation::MessagePartIdentifier(id) => token("MessagePartIdentifier", id)?,
            MessagePartNRInformation::Reference(r) => {
                opt_text("Reference URI", &r.uri)?;
                xml_text("DigestMethod", &r.digest_method)?;
                if r.digest_value.is_empty() {
                    return Err(ModelError::Empty("DigestValue"));
                }
                for t in &r.transforms {
                    xml_text("Transform Algorithm", &t.algorithm)?;
                    for prefix in t.inclusive_namespaces.iter().flatten() {
                        token("InclusiveNamespaces prefix", prefix)?;
                        if prefix.contains(super::parse::is_xml_space) {
                            return Err(ModelError::SurroundingWhitespace {
                                field: "InclusiveNamespaces prefix",
                                value: prefix.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn validate_description(d: &Description) -> Result<(), ModelError> {
    xml_text("Description xml:lang", &d.lang)?;
    xml_text("Description", &d.text)
}

fn validate_properties(field: &'static str, props: &[Property]) -> Result<(), ModelError> {
    for p in props {
        xml_text(field, &p.name)?;
        opt_text(field, &p.property_type)?;
        xml_text(field, &p.value)?;
    }
    Ok(())
}

fn validate_user_message(u: &UserMessage) -> Result<(), ModelError> {
    opt_text("UserMessage mpc", &u.mpc)?;
    for party in [&u.party_info.from, &u.party_info.to] {
        for id in party.party_ids.iter() {
            xml_text("PartyId", id.value())?;
            id.party_type().map_or(Ok(()), |t| xml_text("PartyId type", t))?;
        }
        token("Role", &party.role)?;
    }
    let c = &u.collaboration_info;
    if let Some(a) = &c.agreement_ref {
        token("AgreementRef", &a.value)?;
        opt_text("AgreementRef type", &a.agreement_type)?;
        opt_text("AgreementRef pmode", &a.pmode)?;
    }
    xml_text("Service", c.service.value())?;
    c.service
        .service_type()
        .map_or(Ok(()), |t| xml_text("Service type", t))?;
    token("Action", &c.action)?;
    token("ConversationId", &c.conversation_id)?;
    validate_properties("MessageProperties", &u.message_properties)?;
    for part in &u.payload_info {
        match &part.part_ref {
            PartRef::Cid(id) | PartRef::BodyElement(id) => {
                if id.is_empty() {
                    return Err(ModelError::Empty("PartInfo href"));
                }
                xml_text("PartInfo href", id)?;
            }
            PartRef::Body => {}
        }
        if let Some(s) = &part.schema {
            xml_text("Schema location", &s.location)?;
            opt_text("Schema version", &s.version)?;
            opt_text("Schema namespace", &s.namespace)?;
        }
        if let Some(d) = &part.description {
            validate_description(d)?;
        }
        validate_properties("PartProperties", &part.part_properties)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_whitespace() {
        assert_eq!(escape_text("a<b>&c\r\n\"'"), "a&lt;b&gt;&amp;c&#xD;\n\"'");
        assert_eq!(
            escape_attribute("a<b>&\"'\t\n\r"),
            "a&lt;b&gt;&amp;&quot;'&#x9;&#xA;&#xD;"
        );
        let hostile = "x\"/><eb:Messaging>]]>&amp;";
        let xml = format!("<a v=\"{}\">{}</a>", escape_attribute(hostile), escape_text(hostile));
        let doc = xmldsig::dom::Document::parse_str(&xml).unwrap();
        assert_eq!(doc.attribute(doc.root(), None, "v"), Some(hostile));
        assert_eq!(doc.text_content(doc.root()), hostile);
        assert_eq!(doc.child_elements(doc.root()).count(), 0);
    }

    #[test]
    fn builder_refuses_values_xml_cannot_carry() {
        let mut user = crate::ebms::test_support::sample_user_message(0);
        user.message_properties.push(Property::new("p", "bad\u{1}"));
        assert!(matches!(
            EnvelopeBuilder::new(Messaging::user(user)),
            Err(ModelError::NotXmlChar { .. })
        ));
        let mut user = crate::ebms::test_support::sample_user_message(0);
        user.collaboration_info.action = " padded".into();
        assert!(matches!(
            EnvelopeBuilder::new(Messaging::user(user)),
            Err(ModelError::SurroundingWhitespace { .. })
        ));
    }
}
