//! The XHE 1.0 envelope as DIGG's envelope profile ("Kuverteringsprofil XHE", `urn:fdc:digg.se:edelivery:xhe:1`)
//! uses it: a header (id, creation time), the five business scope criteria (DOCUMENTID, DOCUMENTID_SCHEME,
//! PROCESSID, PROCESSID_SCHEME, FEDERATIONID), one FromParty and one ToParty identified by participant id, and
//! exactly one payload.
//!
//! [`Xhe::render`] writes the envelope; [`Xhe::parse`] reads it from the shared DOM, refusing it with
//! [`XheError::Rules`] when any rule of DIGG's schematron ([`super::xhe_rules`]) fails, and with a typed error when
//! a required element is missing.

use super::xml::{self, child, child_text, escape_attribute, escape_text, normalize_space};
use super::{join_violations, xhe_rules, RuleViolation, PARTICIPANT_SCHEME};
use xmldsig::c14n::{canonicalize_to_vec, C14nMode, NodeSet};
use xmldsig::dom::{Document, DomError, NodeId, ParseLimits};

/// `x:` — the XHE document namespace.
pub const XHE_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope";
/// `xha:` — XHE aggregate components.
pub const XHA_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";
/// `xhb:` — XHE basic components.
pub const XHB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents";
/// `ext:` — XHE extension components (not allowed by DIGG's profile, R1-XHE).
pub const XHE_EXT_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExtensionComponents";
/// XML Encryption.
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Signature.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The only XHE version DIGG allows (R9-XHE).
pub const XHE_VERSION: &str = "1.0";
/// DIGG's XHE customisation id (R3-XHE).
pub const XHE_CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:xhe:1";
/// Document id scheme of the SDK document types.
pub const DOCUMENT_ID_SCHEME: &str = "busdox-docid-qns";
/// Process id scheme of the SDK.
pub const PROCESS_ID_SCHEME: &str = "urn:fdc:digg.se:edelivery:process";

/// The five business scope criteria DIGG's profile requires (R4-XHE … R8-XHE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessScope {
    /// DOCUMENTID, e.g. `urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc`.
    pub document_id: String,
    /// DOCUMENTID_SCHEME, normally [`DOCUMENT_ID_SCHEME`].
    pub document_id_scheme: String,
    /// PROCESSID, e.g. `bdx:noprocess`.
    pub process_id: String,
    /// PROCESSID_SCHEME, normally [`PROCESS_ID_SCHEME`].
    pub process_id_scheme: String,
    /// FEDERATIONID, e.g. `urn:fdc:digg.se:edelivery:federation:test`.
    pub federation_id: String,
}

impl BusinessScope {
    /// The ebMS Action the transport profile derives from the document id: `{scheme}::{document id}`.
    pub fn ebms_action(&self) -> String {
        format!("{}::{}", self.document_id_scheme, self.document_id)
    }
}

/// A party identified by participant id (`0203:example.se`) and its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub scheme: String,
    pub id: String,
}

impl Participant {
    /// A participant in the SDK scheme `iso6523-actorid-upis`.
    pub fn sdk(id: impl Into<String>) -> Self {
        Participant {
            scheme: PARTICIPANT_SCHEME.into(),
            id: id.into(),
        }
    }
}

/// The content of the one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadContent {
    /// One XML element, held in its exclusive canonical form (a self-contained, well-formed fragment).
    Xml(String),
    /// Text content, e.g. base64 of a non-XML payload (DIGG's `XHE-NonXML-tm-base.xml`).
    Text(String),
    /// An `xenc:EncryptedData` element (InstanceEncryptionIndicator `true`), canonical form.
    Encrypted(String),
}

/// The single XHE payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XhePayload {
    /// DocumentTypeCode, e.g. `Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload`.
    pub document_type_code: String,
    /// ContentTypeCode (a MIME type), e.g. `application/xml`.
    pub content_type_code: String,
    /// Optional HandlingServiceID.
    pub handling_service_id: Option<String>,
    pub content: PayloadContent,
}

impl XhePayload {
    /// InstanceEncryptionIndicator as it must be written for this content (R12-XHE / R13-XHE).
    pub fn is_encrypted(&self) -> bool {
        matches!(self.content, PayloadContent::Encrypted(_))
    }
}

/// An XHE envelope in DIGG's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xhe {
    /// Header/ID (the id a kvittens refers to).
    pub id: String,
    /// Header/CreationDateTime as written (xs:dateTime).
    pub creation_date_time: String,
    pub scope: BusinessScope,
    /// Header/FromParty (C1's organisation): must equal the AS4 `originalSender`.
    pub from: Participant,
    /// Header/ToParty (C4's organisation): must equal the AS4 `finalRecipient`.
    pub to: Participant,
    pub payload: XhePayload,
}

/// Why an XHE envelope could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XheError {
    #[error("the XHE is not well-formed XML: {0}")]
    Xml(#[from] DomError),
    #[error("the root element is {0}, not x:XHE")]
    NotXhe(String),
    #[error("the XHE breaks DIGG's business rules: {}", join_violations(.0))]
    Rules(Vec<RuleViolation>),
    #[error("the XHE lacks {0}")]
    Missing(&'static str),
    #[error("the XHE element {element} has an invalid value: {reason}")]
    Invalid { element: &'static str, reason: String },
}

impl XheError {
    /// The rule ids that failed (empty for errors that are not rule violations).
    pub fn rule_ids(&self) -> Vec<&'static str> {
        match self {
            XheError::Rules(v) => v.iter().map(|r| r.rule).collect(),
            _ => Vec::new(),
        }
    }
}

impl Xhe {
    /// Parses and validates an XHE envelope under `limits`: well-formedness, root element, every DIGG rule, then
    /// the required structure.
    pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Xhe, XheError> {
        let doc = xml::parse_document(bytes, limits)?;
        Xhe::from_document(&doc)
    }

    /// Reads and validates the envelope from an already parsed document.
    pub fn from_document(doc: &Document) -> Result<Xhe, XheError> {
        let root = doc.root();
        if !doc.is(root, XHE_NS, "XHE") {
            return Err(XheError::NotXhe(xml::qualified_name(doc, root)));
        }
        let violations = xhe_rules::validate(doc);
        if !violations.is_empty() {
            return Err(XheError::Rules(violations));
        }
        Xhe::extract(doc, root)
    }

    fn extract(doc: &Document, root: NodeId) -> Result<Xhe, XheError> {
        if child(doc, root, XHB_NS, "XHEVersionID").is_none() {
            return Err(XheError::Missing("XHEVersionID"));
        }
        let header = child(doc, root, XHA_NS, "Header").ok_or(XheError::Missing("Header"))?;
        let id = non_empty(child_text(doc, header, XHB_NS, "ID"), "Header/ID")?;
        let creation_date_time = non_empty(
            child_text(doc, header, XHB_NS, "CreationDateTime"),
            "Header/CreationDateTime",
        )?;
        if !is_xs_date_time(&creation_date_time) {
            return Err(XheError::Invalid {
                element: "Header/CreationDateTime",
                reason: format!("{creation_date_time:?} is not an xs:dateTime"),
            });
        }
        let scope = read_scope(doc, header)?;
        let from = read_party(doc, header, "FromParty")?;
        let to = read_party(doc, header, "ToParty")?;
        let payload_node = xml::select(doc, root, &[(XHA_NS, "Payloads"), (XHA_NS, "Payload")])
            .into_iter()
            .next()
            .ok_or(XheError::Missing("Payloads/Payload"))?;
        let payload = read_payload(doc, payload_node)?;
        Ok(Xhe {
            id,
            creation_date_time,
            scope,
            from,
            to,
            payload,
        })
    }

    /// Renders the envelope (UTF-8, with an XML declaration). Fails when the model cannot be written as a valid
    /// DIGG XHE: an XML payload that is not one well-formed element, or any rule of DIGG's schematron.
    pub fn render(&self) -> Result<String, XheError> {
        let payload_xml = match &self.payload.content {
            PayloadContent::Xml(fragment) | PayloadContent::Encrypted(fragment) => {
                check_fragment(fragment)?;
                fragment.clone()
            }
            PayloadContent::Text(text) => escape_text(text),
        };
        let mut out = String::with_capacity(2048 + payload_xml.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<x:XHE xmlns:x=\"{XHE_NS}\" xmlns:xha=\"{XHA_NS}\" xmlns:xhb=\"{XHB_NS}\">\n"
        ));
        out.push_str(&format!("  <xhb:XHEVersionID>{XHE_VERSION}</xhb:XHEVersionID>\n"));
        out.push_str(&format!(
            "  <xhb:CustomizationID>{XHE_CUSTOMIZATION_ID}</xhb:CustomizationID>\n"
        ));
        out.push_str("  <xha:Header>\n");
        out.push_str(&format!("    <xhb:ID>{}</xhb:ID>\n", escape_text(&self.id)));
        out.push_str(&format!(
            "    <xhb:CreationDateTime>{}</xhb:CreationDateTime>\n",
            escape_text(&self.creation_date_time)
        ));
        out.push_str("    <xha:BusinessScope>\n");
        for (code, value) in [
            ("DOCUMENTID", &self.scope.document_id),
            ("DOCUMENTID_SCHEME", &self.scope.document_id_scheme),
            ("PROCESSID", &self.scope.process_id),
            ("PROCESSID_SCHEME", &self.scope.process_id_scheme),
            ("FEDERATIONID", &self.scope.federation_id),
        ] {
            out.push_str(&format!(
                "      <xha:BusinessScopeCriterion><xhb:BusinessScopeCriterionTypeCode>{code}</xhb:BusinessScopeCriterionTypeCode><xhb:BusinessScopeCriterionValue>{}</xhb:BusinessScopeCriterionValue></xha:BusinessScopeCriterion>\n",
                escape_text(value)
            ));
        }
        out.push_str("    </xha:BusinessScope>\n");
        for (element, party) in [("FromParty", &self.from), ("ToParty", &self.to)] {
            out.push_str(&format!(
                "    <xha:{element}><xha:PartyIdentification><xhb:ID schemeID=\"{}\">{}</xhb:ID></xha:PartyIdentification></xha:{element}>\n",
                escape_attribute(&party.scheme),
                escape_text(&party.id)
            ));
        }
        out.push_str("  </xha:Header>\n  <xha:Payloads>\n    <xha:Payload>\n");
        out.push_str(&format!(
            "      <xhb:DocumentTypeCode>{}</xhb:DocumentTypeCode>\n",
            escape_text(&self.payload.document_type_code)
        ));
        out.push_str(&format!(
            "      <xhb:ContentTypeCode>{}</xhb:ContentTypeCode>\n",
            escape_text(&self.payload.content_type_code)
        ));
        if let Some(handling) = &self.payload.handling_service_id {
            out.push_str(&format!(
                "      <xhb:HandlingServiceID>{}</xhb:HandlingServiceID>\n",
                escape_text(handling)
            ));
        }
        out.push_str(&format!(
            "      <xhb:InstanceEncryptionIndicator>{}</xhb:InstanceEncryptionIndicator>\n",
            self.payload.is_encrypted()
        ));
        out.push_str("      <xha:PayloadContent>");
        out.push_str(&payload_xml);
        out.push_str("</xha:PayloadContent>\n    </xha:Payload>\n  </xha:Payloads>\n</x:XHE>\n");
        let doc = Document::parse_str(&out)?;
        let violations = xhe_rules::validate(&doc);
        if !violations.is_empty() {
            return Err(XheError::Rules(violations));
        }
        Ok(out)
    }
}

fn non_empty(value: Option<String>, element: &'static str) -> Result<String, XheError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(XheError::Missing(element)),
    }
}

fn read_scope(doc: &Document, header: NodeId) -> Result<BusinessScope, XheError> {
    let criteria = xml::select(
        doc,
        header,
        &[(XHA_NS, "BusinessScope"), (XHA_NS, "BusinessScopeCriterion")],
    );
    let find = |code: &str, element: &'static str| -> Result<String, XheError> {
        criteria
            .iter()
            .find(|&&c| child_text(doc, c, XHB_NS, "BusinessScopeCriterionTypeCode").as_deref() == Some(code))
            .and_then(|&c| child_text(doc, c, XHB_NS, "BusinessScopeCriterionValue"))
            .filter(|v| !v.is_empty())
            .ok_or(XheError::Missing(element))
    };
    Ok(BusinessScope {
        document_id: find("DOCUMENTID", "BusinessScopeCriterion DOCUMENTID")?,
        document_id_scheme: find("DOCUMENTID_SCHEME", "BusinessScopeCriterion DOCUMENTID_SCHEME")?,
        process_id: find("PROCESSID", "BusinessScopeCriterion PROCESSID")?,
        process_id_scheme: find("PROCESSID_SCHEME", "BusinessScopeCriterion PROCESSID_SCHEME")?,
        federation_id: find("FEDERATIONID", "BusinessScopeCriterion FEDERATIONID")?,
    })
}

fn read_party(doc: &Document, header: NodeId, element: &'static str) -> Result<Participant, XheError> {
    let ids = xml::select(
        doc,
        header,
        &[(XHA_NS, element), (XHA_NS, "PartyIdentification"), (XHB_NS, "ID")],
    );
    let id_node = *ids.first().ok_or(XheError::Missing(element))?;
    let id = normalize_space(&doc.text_content(id_node));
    if id.is_empty() {
        return Err(XheError::Missing(element));
    }
    let scheme = doc
        .attribute(id_node, None, "schemeID")
        .map(normalize_space)
        .unwrap_or_default();
    Ok(Participant { scheme, id })
}

fn read_payload(doc: &Document, payload: NodeId) -> Result<XhePayload, XheError> {
    let document_type_code = non_empty(
        child_text(doc, payload, XHB_NS, "DocumentTypeCode"),
        "Payload/DocumentTypeCode",
    )?;
    let content_type_code = non_empty(
        child_text(doc, payload, XHB_NS, "ContentTypeCode"),
        "Payload/ContentTypeCode",
    )?;
    let handling_service_id = child_text(doc, payload, XHB_NS, "HandlingServiceID");
    let indicator = child_text(doc, payload, XHB_NS, "InstanceEncryptionIndicator");
    let encrypted = match indicator.as_deref() {
        None => false,
        Some(v) => parse_xs_boolean(v).ok_or_else(|| XheError::Invalid {
            element: "Payload/InstanceEncryptionIndicator",
            reason: format!("{v:?} is not an xs:boolean"),
        })?,
    };
    let content_node =
        child(doc, payload, XHA_NS, "PayloadContent").ok_or(XheError::Missing("Payload/PayloadContent"))?;
    let elements: Vec<NodeId> = doc.child_elements(content_node).collect();
    let content = match elements.as_slice() {
        [] => PayloadContent::Text(doc.text_content(content_node).trim().to_string()),
        [only] => {
            let canonical = canonicalize_to_vec(doc, &NodeSet::subtree(*only), &C14nMode::exclusive());
            let text = String::from_utf8(canonical).map_err(|_| XheError::Invalid {
                element: "Payload/PayloadContent",
                reason: "canonical form is not UTF-8".into(),
            })?;
            if encrypted {
                PayloadContent::Encrypted(text)
            } else {
                PayloadContent::Xml(text)
            }
        }
        _ => {
            return Err(XheError::Invalid {
                element: "Payload/PayloadContent",
                reason: "holds more than one element".into(),
            })
        }
    };
    Ok(XhePayload {
        document_type_code,
        content_type_code,
        handling_service_id,
        content,
    })
}

/// Checks that an XML payload is one well-formed element without a DTD, as the envelope will embed it.
fn check_fragment(fragment: &str) -> Result<(), XheError> {
    if fragment.trim_start().starts_with("<?xml") {
        return Err(XheError::Invalid {
            element: "Payload/PayloadContent",
            reason: "an embedded payload must not carry an XML declaration".into(),
        });
    }
    Document::parse_str(fragment)?;
    Ok(())
}

/// `xs:boolean` lexical space.
pub(crate) fn parse_xs_boolean(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `xs:dateTime` lexical form: `YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?`.
pub(crate) fn is_xs_date_time(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 19 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if b[10] != b'T' || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' || !digits(17..19) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    let hour = (b[11] - b'0') * 10 + (b[12] - b'0');
    let minute = (b[14] - b'0') * 10 + (b[15] - b'0');
    let second = (b[17] - b'0') * 10 + (b[18] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 24 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = &value[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return false;
        }
        rest = &fraction[len..];
    }
    match rest {
        "" | "Z" => true,
        zone => {
            let z = zone.as_bytes();
            z.len() == 6
                && (z[0] == b'+' || z[0] == b'-')
                && z[1..3].iter().all(u8::is_ascii_digit)
                && z[3] == b':'
                && z[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid SDK-shaped envelope around a small XML payload.
    pub(crate) fn sample() -> Xhe {
        Xhe {
            id: "862693f7-53d4-4d96-b35c-470055710092".into(),
            creation_date_time: "2024-01-30T17:52:58.1Z".into(),
            scope: BusinessScope {
                document_id:
                    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
                        .into(),
                document_id_scheme: DOCUMENT_ID_SCHEME.into(),
                process_id: "bdx:noprocess".into(),
                process_id_scheme: PROCESS_ID_SCHEME.into(),
                federation_id: "urn:fdc:digg.se:edelivery:federation:test".into(),
            },
            from: Participant::sdk("0203:a.example.se"),
            to: Participant::sdk("0203:b.example.se"),
            payload: XhePayload {
                document_type_code: "Q{urn:example}doc".into(),
                content_type_code: "application/xml".into(),
                handling_service_id: Some("ABC".into()),
                content: PayloadContent::Xml("<e:doc xmlns:e=\"urn:example\">hej &amp; hå</e:doc>".into()),
            },
        }
    }

    #[test]
    fn round_trips() {
        let xhe = sample();
        let xml = xhe.render().unwrap();
        assert_eq!(Xhe::parse(xml.as_bytes(), &ParseLimits::default()).unwrap(), xhe);
    }

    #[test]
    fn round_trips_text_payload() {
        let mut xhe = sample();
        xhe.payload.content = PayloadContent::Text("VU5CK1VOT0E6".into());
        xhe.payload.handling_service_id = None;
        let xml = xhe.render().unwrap();
        assert_eq!(Xhe::parse(xml.as_bytes(), &ParseLimits::default()).unwrap(), xhe);
    }

    #[test]
    fn render_refuses_rule_breaking_model() {
        let mut xhe = sample();
        xhe.from.scheme = "other".into();
        assert_eq!(xhe.render().unwrap_err().rule_ids(), vec!["R10-XHE"]);
    }

    #[test]
    fn render_refuses_malformed_payload() {
        let mut xhe = sample();
        xhe.payload.content = PayloadContent::Xml("<a><b></a>".into());
        assert!(matches!(xhe.render(), Err(XheError::Xml(_))));
        xhe.payload.content = PayloadContent::Xml("<?xml version=\"1.0\"?><a/>".into());
        assert!(matches!(xhe.render(), Err(XheError::Invalid { .. })));
    }

    #[test]
    fn refuses_other_root() {
        assert!(matches!(
            Xhe::parse(b"<a/>", &ParseLimits::default()),
            Err(XheError::NotXhe(_))
        ));
    }

    #[test]
    fn refuses_bad_creation_time() {
        let xml = sample()
            .render()
            .unwrap()
            .replace("2024-01-30T17:52:58.1Z", "30 jan 2024");
        assert!(matches!(
            Xhe::parse(xml.as_bytes(), &ParseLimits::default()),
            Err(XheError::Invalid {
                element: "Header/CreationDateTime",
                ..
            })
        ));
    }

    #[test]
    fn date_time_lexical_form() {
        assert!(is_xs_date_time("2019-08-22T07:27:15.433Z"));
        assert!(is_xs_date_time("2019-08-22T07:27:15+02:00"));
        assert!(is_xs_date_time("2019-08-22T07:27:15"));
        assert!(!is_xs_date_time("3 Sept. 2019"));
        assert!(!is_xs_date_time("2019-13-22T07:27:15Z"));
        assert!(!is_xs_date_time("2019-08-22T07:27:15."));
    }

    #[test]
    fn action_from_scope() {
        assert_eq!(
            sample().scope.ebms_action(),
            "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
        );
    }
}
