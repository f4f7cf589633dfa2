//! The SDK message receipt ("Meddelandekvittens" v1.0): a UBL 2.1 ApplicationResponse with customisation
//! `urn:fdc:digg.se:edelivery:messagetype:response:1` and profile `bdx:noprocess`, sent by the receiving
//! organisation (C4) back to the sender (C1). ACCEPTED carries no reasons; REJECTED carries at least one reason
//! line with reason code SV (schema error), BV (business rule error) or SIG (signature error), an XPath location
//! (or `NA`), an optional detail code and a text.
//!
//! [`Kvittens::accepted`] / [`Kvittens::rejected`] build a receipt for a received [`Xhe`], swapping its parties
//! and referring to its Header/ID; [`Kvittens::parse`] reads one and validates it against the rules of DIGG's
//! kvittens schematron (`R1-APP` … `R9-APP`, see [`validate`]); [`Kvittens::refers_to`] links it to the original.

use super::xhe::{Participant, Xhe};
use super::xml::{self, child, child_text, escape_attribute, escape_text, normalize_space};
use super::{join_violations, RuleViolation};
use xmldsig::dom::{Document, DomError, NodeId, ParseLimits};

/// The ApplicationResponse document namespace.
pub const APP_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2";
/// UBL common aggregate components.
pub const CAC_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
/// UBL common basic components.
pub const CBC_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
/// UBL extension components (not allowed, R1-APP).
pub const UBL_EXT_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";
/// DIGG's kvittens customisation id (R3-APP).
pub const KVITTENS_CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:messagetype:response:1";
/// The kvittens profile id (R4-APP).
pub const KVITTENS_PROFILE_ID: &str = "bdx:noprocess";
/// The XHE DocumentTypeCode of a kvittens payload.
pub const KVITTENS_DOCUMENT_TYPE: &str =
    "Q{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse";
/// The location written when no XPath can point at the error (spec §3.1 [g]).
pub const NO_LOCATION: &str = "NA";

/// The receipt's verdict (DocumentResponse/Response/ResponseCode, R5-APP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    Accepted,
    Rejected,
}

impl ResponseCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Accepted => "ACCEPTED",
            ResponseCode::Rejected => "REJECTED",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "ACCEPTED" => Some(ResponseCode::Accepted),
            "REJECTED" => Some(ResponseCode::Rejected),
            _ => None,
        }
    }
}

/// Why a message was rejected (LineResponse/Response/ResponseCode, R6-APP; spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// `SV`: the payload fails its XML schema.
    SchemaError,
    /// `BV`: the payload fails a business rule (e.g. schematron).
    BusinessRuleError,
    /// `SIG`: the message is not correctly signed.
    SignatureError,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::SchemaError => "SV",
            ReasonCode::BusinessRuleError => "BV",
            ReasonCode::SignatureError => "SIG",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "SV" => Some(ReasonCode::SchemaError),
            "BV" => Some(ReasonCode::BusinessRuleError),
            "SIG" => Some(ReasonCode::SignatureError),
            _ => None,
        }
    }
}

/// One reason of a REJECTED receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionReason {
    /// LineReference/LineID: an XPath to the fault, or [`NO_LOCATION`].
    pub location: String,
    pub code: ReasonCode,
    /// Status/StatusReasonCode: a detail code such as the failed rule id.
    pub detail_code: Option<String>,
    /// Status/StatusReason: the text.
    pub text: String,
}

impl RejectionReason {
    /// A reason for a failed rule of one of our validators: SV for schema structure, BV for business rules, the
    /// rule id as detail code.
    pub fn from_violation(violation: &RuleViolation) -> Self {
        RejectionReason {
            location: NO_LOCATION.into(),
            code: if violation.is_schema_error() {
                ReasonCode::SchemaError
            } else {
                ReasonCode::BusinessRuleError
            },
            detail_code: Some(violation.rule.to_string()),
            text: violation.message.clone(),
        }
    }
}

/// A kvittens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kvittens {
    /// cbc:ID, the receipt's own id.
    pub id: String,
    /// cbc:IssueDate (`YYYY-MM-DD`).
    pub issue_date: String,
    /// cbc:IssueTime with zone (`hh:mm:ssZ` or `hh:mm:ss+01:00`).
    pub issue_time: String,
    /// The participant that acknowledges (the original message's recipient).
    pub sender: Participant,
    /// The participant that receives the receipt (the original message's sender).
    pub receiver: Participant,
    pub response: ResponseCode,
    /// DocumentReference/ID: the Header/ID of the XHE acknowledged.
    pub original_message_id: String,
    /// Empty for ACCEPTED, at least one for REJECTED (R7-APP / R8-APP).
    pub reasons: Vec<RejectionReason>,
}

/// Why a kvittens could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvittensError {
    #[error("the kvittens is not well-formed XML: {0}")]
    Xml(#[from] DomError),
    #[error("the root element is {0}, not ApplicationResponse")]
    NotApplicationResponse(String),
    #[error("the kvittens breaks DIGG's rules: {}", join_violations(.0))]
    Rules(Vec<RuleViolation>),
    #[error("the kvittens lacks {0}")]
    Missing(&'static str),
}

impl KvittensError {
    /// The rule ids that failed (empty for errors that are not rule violations).
    pub fn rule_ids(&self) -> Vec<&'static str> {
        match self {
            KvittensError::Rules(v) => v.iter().map(|r| r.rule).collect(),
            _ => Vec::new(),
        }
    }
}

impl Kvittens {
    /// An ACCEPTED receipt for `original`, issued at `issued` (UTC).
    pub fn accepted(id: impl Into<String>, original: &Xhe, issued: time::OffsetDateTime) -> Kvittens {
        Kvittens::for_original(id.into(), original, issued, ResponseCode::Accepted, Vec::new())
    }

    /// A REJECTED receipt for `original` with its reasons (at least one is required when rendering).
    pub fn rejected(
        id: impl Into<String>,
        original: &Xhe,
        issued: time::OffsetDateTime,
        reasons: Vec<RejectionReason>,
    ) -> Kvittens {
        Kvittens::for_original(id.into(), original, issued, ResponseCode::Rejected, reasons)
    }

    fn for_original(
        id: String,
        original: &Xhe,
        issued: time::OffsetDateTime,
        response: ResponseCode,
        reasons: Vec<RejectionReason>,
    ) -> Kvittens {
        let utc = issued.to_offset(time::UtcOffset::UTC);
        Kvittens {
            id,
            issue_date: format!("{:04}-{:02}-{:02}", utc.year(), u8::from(utc.month()), utc.day()),
            issue_time: format!("{:02}:{:02}:{:02}Z", utc.hour(), utc.minute(), utc.second()),
            sender: Participant::sdk(original.to.id.clone()),
            receiver: Participant::sdk(original.from.id.clone()),
            response,
            original_message_id: original.id.clone(),
            reasons,
        }
    }

    /// True when this receipt acknowledges `original`: it refers to its Header/ID and comes from its recipient
    /// to its sender.
    pub fn refers_to(&self, original: &Xhe) -> bool {
        self.original_message_id == original.id
            && self.sender.id == original.to.id
            && self.receiver.id == original.from.id
    }

    /// Renders the receipt; fails when it would break a rule (e.g. REJECTED without reasons).
    pub fn render(&self) -> Result<String, KvittensError> {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<ApplicationResponse xmlns=\"{APP_NS}\" xmlns:cac=\"{CAC_NS}\" xmlns:cbc=\"{CBC_NS}\">\n"
        ));
        out.push_str(&format!(
            "  <cbc:CustomizationID>{KVITTENS_CUSTOMIZATION_ID}</cbc:CustomizationID>\n"
        ));
        out.push_str(&format!("  <cbc:ProfileID>{KVITTENS_PROFILE_ID}</cbc:ProfileID>\n"));
        out.push_str(&format!("  <cbc:ID>{}</cbc:ID>\n", escape_text(&self.id)));
        out.push_str(&format!(
            "  <cbc:IssueDate>{}</cbc:IssueDate>\n",
            escape_text(&self.issue_date)
        ));
        out.push_str(&format!(
            "  <cbc:IssueTime>{}</cbc:IssueTime>\n",
            escape_text(&self.issue_time)
        ));
        for (element, party) in [("SenderParty", &self.sender), ("ReceiverParty", &self.receiver)] {
            out.push_str(&format!(
                "  <cac:{element}><cbc:EndpointID schemeID=\"{}\">{}</cbc:EndpointID></cac:{element}>\n",
                escape_attribute(&party.scheme),
                escape_text(&party.id)
            ));
        }
        out.push_str("  <cac:DocumentResponse>\n");
        out.push_str(&format!(
            "    <cac:Response><cbc:ResponseCode>{}</cbc:ResponseCode></cac:Response>\n",
            self.response.as_str()
        ));
        out.push_str(&format!(
            "    <cac:DocumentReference><cbc:ID>{}</cbc:ID></cac:DocumentReference>\n",
            escape_text(&self.original_message_id)
        ));
        for reason in &self.reasons {
            out.push_str("    <cac:LineResponse>\n");
            out.push_str(&format!(
                "      <cac:LineReference><cbc:LineID>{}</cbc:LineID></cac:LineReference>\n",
                escape_text(&reason.location)
            ));
            out.push_str(&format!(
                "      <cac:Response><cbc:ResponseCode>{}</cbc:ResponseCode><cac:Status>",
                reason.code.as_str()
            ));
            if let Some(detail) = &reason.detail_code {
                out.push_str(&format!(
                    "<cbc:StatusReasonCode>{}</cbc:StatusReasonCode>",
                    escape_text(detail)
                ));
            }
            out.push_str(&format!(
                "<cbc:StatusReason>{}</cbc:StatusReason></cac:Status></cac:Response>\n",
                escape_text(&reason.text)
            ));
            out.push_str("    </cac:LineResponse>\n");
        }
        out.push_str("  </cac:DocumentResponse>\n</ApplicationResponse>\n");
        let doc = Document::parse_str(&out)?;
        let violations = validate(&doc);
        if !violations.is_empty() {
            return Err(KvittensError::Rules(violations));
        }
        Ok(out)
    }

    /// Parses and validates a receipt under `limits`.
    pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Kvittens, KvittensError> {
        let doc = xml::parse_document(bytes, limits)?;
        Kvittens::from_document(&doc)
    }

    /// Reads and validates a receipt from a parsed document.
    pub fn from_document(doc: &Document) -> Result<Kvittens, KvittensError> {
        let root = doc.root();
        if !doc.is(root, APP_NS, "ApplicationResponse") {
            return Err(KvittensError::NotApplicationResponse(xml::qualified_name(doc, root)));
        }
        let violations = validate(doc);
        if !violations.is_empty() {
            return Err(KvittensError::Rules(violations));
        }
        let required = |parent: NodeId, local: &str, what: &'static str| {
            child_text(doc, parent, CBC_NS, local)
                .filter(|v| !v.is_empty())
                .ok_or(KvittensError::Missing(what))
        };
        let party = |element: &str, what: &'static str| -> Result<Participant, KvittensError> {
            let endpoint = xml::select(doc, root, &[(CAC_NS, element), (CBC_NS, "EndpointID")])
                .into_iter()
                .next()
                .ok_or(KvittensError::Missing(what))?;
            Ok(Participant {
                scheme: doc
                    .attribute(endpoint, None, "schemeID")
                    .map(normalize_space)
                    .unwrap_or_default(),
                id: normalize_space(&doc.text_content(endpoint)),
            })
        };
        let document_response =
            child(doc, root, CAC_NS, "DocumentResponse").ok_or(KvittensError::Missing("DocumentResponse"))?;
        let response_node = child(doc, document_response, CAC_NS, "Response")
            .ok_or(KvittensError::Missing("DocumentResponse/Response"))?;
        let response = ResponseCode::parse(&required(response_node, "ResponseCode", "Response/ResponseCode")?)
            .ok_or(KvittensError::Missing("Response/ResponseCode"))?;
        let reference = child(doc, document_response, CAC_NS, "DocumentReference")
            .ok_or(KvittensError::Missing("DocumentReference"))?;
        let mut reasons = Vec::new();
        for line in xml::children(doc, document_response, CAC_NS, "LineResponse") {
            let location = xml::select(doc, line, &[(CAC_NS, "LineReference"), (CBC_NS, "LineID")])
                .first()
                .map(|&n| normalize_space(&doc.text_content(n)))
                .ok_or(KvittensError::Missing("LineReference/LineID"))?;
            let line_response =
                child(doc, line, CAC_NS, "Response").ok_or(KvittensError::Missing("LineResponse/Response"))?;
            let code = ReasonCode::parse(&required(
                line_response,
                "ResponseCode",
                "LineResponse/Response/ResponseCode",
            )?)
            .ok_or(KvittensError::Missing("LineResponse/Response/ResponseCode"))?;
            let status = child(doc, line_response, CAC_NS, "Status").ok_or(KvittensError::Missing("Status"))?;
            reasons.push(RejectionReason {
                location,
                code,
                detail_code: child_text(doc, status, CBC_NS, "StatusReasonCode"),
                text: required(status, "StatusReason", "Status/StatusReason")?,
            });
        }
        Ok(Kvittens {
            id: required(root, "ID", "ID")?,
            issue_date: required(root, "IssueDate", "IssueDate")?,
            issue_time: required(root, "IssueTime", "IssueTime")?,
            sender: party("SenderParty", "SenderParty/EndpointID")?,
            receiver: party("ReceiverParty", "ReceiverParty/EndpointID")?,
            response,
            original_message_id: required(reference, "ID", "DocumentReference/ID")?,
            reasons,
        })
    }
}

/// The elements (and element attributes, after `[@`) DIGG's profile forbids (R1-APP), relative to the root.
const R1_FORBIDDEN: &[&str] = &[
    "cac:DocumentResponse/cac:DocumentReference/cac:Attachment",
    "cac:DocumentResponse/cac:DocumentReference/cac:IssuerParty",
    "cac:DocumentResponse/cac:DocumentReference/cac:ResultOfVerification",
    "cac:DocumentResponse/cac:DocumentReference/cac:ValidityPeriod",
    "cac:DocumentResponse/cac:DocumentReference/cbc:CopyIndicator",
    "cac:DocumentResponse/cac:DocumentReference/cbc:DocumentDescription",
    "cac:DocumentResponse/cac:DocumentReference/cbc:DocumentStatusCode",
    "cac:DocumentResponse/cac:DocumentReference/cbc:DocumentType",
    "cac:DocumentResponse/cac:DocumentReference/cbc:DocumentTypeCode",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeAgencyID]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeAgencyName]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeDataURI]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeID]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeName]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeURI]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:ID[@schemeVersionID]",
    "cac:DocumentResponse/cac:DocumentReference/cbc:IssueDate",
    "cac:DocumentResponse/cac:DocumentReference/cbc:IssueTime",
    "cac:DocumentResponse/cac:DocumentReference/cbc:LanguageID",
    "cac:DocumentResponse/cac:DocumentReference/cbc:LocaleCode",
    "cac:DocumentResponse/cac:DocumentReference/cbc:UUID",
    "cac:DocumentResponse/cac:DocumentReference/cbc:VersionID",
    "cac:DocumentResponse/cac:DocumentReference/cbc:XPath",
    "cac:DocumentResponse/cac:IssuerParty",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cac:DocumentReference",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeAgencyID]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeAgencyName]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeDataURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeID]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeName]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineID[@schemeVersionID]",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:LineStatusCode",
    "cac:DocumentResponse/cac:LineResponse/cac:LineReference/cbc:UUID",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cac:Condition",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:ConditionCode",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:Description",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:IndicationIndicator",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:Percent",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:ReferenceDate",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:ReferenceTime",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:ReliabilityPercent",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:SequenceID",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@languageID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listAgencyID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listAgencyName]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listName]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listSchemeURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@listVersionID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReasonCode[@name]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReason[@languageID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:StatusReason[@languageLocaleID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cac:Status/cbc:Text",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:Description",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:EffectiveDate",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:EffectiveTime",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ReferenceID",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@languageID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listAgencyID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listAgencyName]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listName]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listSchemeURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listURI]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@listVersionID]",
    "cac:DocumentResponse/cac:LineResponse/cac:Response/cbc:ResponseCode[@name]",
    "cac:DocumentResponse/cac:RecipientParty",
    "cac:DocumentResponse/cac:Response/cac:Status",
    "cac:DocumentResponse/cac:Response/cbc:Description",
    "cac:DocumentResponse/cac:Response/cbc:EffectiveDate",
    "cac:DocumentResponse/cac:Response/cbc:EffectiveTime",
    "cac:DocumentResponse/cac:Response/cbc:ReferenceID",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@languageID]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listAgencyID]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listAgencyName]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listID]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listName]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listSchemeURI]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listURI]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@listVersionID]",
    "cac:DocumentResponse/cac:Response/cbc:ResponseCode[@name]",
    "cac:ReceiverParty/cac:AgentParty",
    "cac:ReceiverParty/cac:Contact",
    "cac:ReceiverParty/cac:FinancialAccount",
    "cac:ReceiverParty/cac:Language",
    "cac:ReceiverParty/cac:PartyIdentification",
    "cac:ReceiverParty/cac:PartyLegalEntity",
    "cac:ReceiverParty/cac:PartyName",
    "cac:ReceiverParty/cac:PartyTaxScheme",
    "cac:ReceiverParty/cac:Person",
    "cac:ReceiverParty/cac:PhysicalLocation",
    "cac:ReceiverParty/cac:PostalAddress",
    "cac:ReceiverParty/cac:PowerOfAttorney",
    "cac:ReceiverParty/cac:ServiceProviderParty",
    "cac:ReceiverParty/cbc:EndpointID[@schemeAgencyID]",
    "cac:ReceiverParty/cbc:EndpointID[@schemeAgencyName]",
    "cac:ReceiverParty/cbc:EndpointID[@schemeDataURI]",
    "cac:ReceiverParty/cbc:EndpointID[@schemeName]",
    "cac:ReceiverParty/cbc:EndpointID[@schemeURI]",
    "cac:ReceiverParty/cbc:EndpointID[@schemeVersionID]",
    "cac:ReceiverParty/cbc:IndustryClassificationCode",
    "cac:ReceiverParty/cbc:LogoReferenceID",
    "cac:ReceiverParty/cbc:MarkAttentionIndicator",
    "cac:ReceiverParty/cbc:MarkCareIndicator",
    "cac:ReceiverParty/cbc:WebsiteURI",
    "cac:SenderParty/cac:AgentParty",
    "cac:SenderParty/cac:Contact",
    "cac:SenderParty/cac:FinancialAccount",
    "cac:SenderParty/cac:Language",
    "cac:SenderParty/cac:PartyIdentification",
    "cac:SenderParty/cac:PartyLegalEntity",
    "cac:SenderParty/cac:PartyName",
    "cac:SenderParty/cac:PartyTaxScheme",
    "cac:SenderParty/cac:Person",
    "cac:SenderParty/cac:PhysicalLocation",
    "cac:SenderParty/cac:PostalAddress",
    "cac:SenderParty/cac:PowerOfAttorney",
    "cac:SenderParty/cac:ServiceProviderParty",
    "cac:SenderParty/cbc:EndpointID[@schemeAgencyID]",
    "cac:SenderParty/cbc:EndpointID[@schemeAgencyName]",
    "cac:SenderParty/cbc:EndpointID[@schemeDataURI]",
    "cac:SenderParty/cbc:EndpointID[@schemeName]",
    "cac:SenderParty/cbc:EndpointID[@schemeURI]",
    "cac:SenderParty/cbc:EndpointID[@schemeVersionID]",
    "cac:SenderParty/cbc:IndustryClassificationCode",
    "cac:SenderParty/cbc:LogoReferenceID",
    "cac:SenderParty/cbc:MarkAttentionIndicator",
    "cac:SenderParty/cbc:MarkCareIndicator",
    "cac:SenderParty/cbc:WebsiteURI",
    "cac:Signature",
    "cbc:CustomizationID[@schemeAgencyID]",
    "cbc:CustomizationID[@schemeAgencyName]",
    "cbc:CustomizationID[@schemeDataURI]",
    "cbc:CustomizationID[@schemeID]",
    "cbc:CustomizationID[@schemeName]",
    "cbc:CustomizationID[@schemeURI]",
    "cbc:CustomizationID[@schemeVersionID]",
    "cbc:ID[@schemeAgencyID]",
    "cbc:ID[@schemeAgencyName]",
    "cbc:ID[@schemeDataURI]",
    "cbc:ID[@schemeID]",
    "cbc:ID[@schemeName]",
    "cbc:ID[@schemeURI]",
    "cbc:ID[@schemeVersionID]",
    "cbc:Note",
    "cbc:ProfileExecutionID",
    "cbc:ProfileID[@schemeAgencyID]",
    "cbc:ProfileID[@schemeAgencyName]",
    "cbc:ProfileID[@schemeDataURI]",
    "cbc:ProfileID[@schemeID]",
    "cbc:ProfileID[@schemeName]",
    "cbc:ProfileID[@schemeURI]",
    "cbc:ProfileID[@schemeVersionID]",
    "cbc:ResponseDate",
    "cbc:ResponseTime",
    "cbc:UBLVersionID",
    "cbc:UUID",
    "cbc:VersionID",
    "ext:UBLExtensions",
];

/// Runs every rule of DIGG's kvittens schematron and returns all violations (empty: valid).
pub fn validate(doc: &Document) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let root = doc.root();
    if !doc.is(root, APP_NS, "ApplicationResponse") {
        return out;
    }
    r1_forbidden(doc, root, &mut out);
    r9_cardinality(doc, root, &mut out);
    r2_no_empty_elements(doc, root, &mut out);
    r3_to_r8_codes(doc, root, &mut out);
    out
}

fn namespace_of(prefix: &str) -> &'static str {
    match prefix {
        "cac" => CAC_NS,
        "cbc" => CBC_NS,
        "ext" => UBL_EXT_NS,
        _ => APP_NS,
    }
}

/// R1-APP: only the profile's elements and attributes.
fn r1_forbidden(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for path in R1_FORBIDDEN {
        let (elements, attribute) = match path.split_once("[@") {
            Some((elements, attr)) => (elements, Some(attr.trim_end_matches(']'))),
            None => (*path, None),
        };
        let steps: Vec<(&str, &str)> = elements
            .split('/')
            .map(|step| {
                let (prefix, local) = step.split_once(':').unwrap_or(("", step));
                (namespace_of(prefix), local)
            })
            .collect();
        for node in xml::select(doc, root, &steps) {
            let hit = match attribute {
                Some(attr) => doc.attribute(node, None, attr).is_some(),
                None => true,
            };
            if hit {
                out.push(RuleViolation::new(
                    "R1-APP",
                    format!("{path} is not used by DIGG's kvittens profile"),
                ));
            }
        }
    }
}

/// R9-APP: the profile's cardinalities.
fn r9_cardinality(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let mut require = |ok: bool, message: &str| {
        if !ok {
            out.push(RuleViolation::new("R9-APP", message.to_string()));
        }
    };
    require(
        child(doc, root, CBC_NS, "CustomizationID").is_some(),
        "CustomizationID is mandatory",
    );
    require(
        child(doc, root, CBC_NS, "ProfileID").is_some(),
        "ProfileID is mandatory",
    );
    require(
        child(doc, root, CBC_NS, "IssueTime").is_some(),
        "IssueTime is mandatory",
    );
    let document_responses = xml::children(doc, root, CAC_NS, "DocumentResponse");
    require(document_responses.len() == 1, "DocumentResponse must occur once");
    for dr in &document_responses {
        require(
            xml::children(doc, *dr, CAC_NS, "DocumentReference").len() == 1,
            "DocumentResponse/DocumentReference must occur once",
        );
        for line in xml::children(doc, *dr, CAC_NS, "LineResponse") {
            let responses = xml::children(doc, line, CAC_NS, "Response");
            require(responses.len() == 1, "LineResponse/Response must occur once");
            for response in responses {
                require(
                    xml::children(doc, response, CBC_NS, "ResponseCode").len() == 1,
                    "LineResponse/Response/ResponseCode must occur once",
                );
                let statuses = xml::children(doc, response, CAC_NS, "Status");
                require(statuses.len() == 1, "LineResponse/Response/Status must occur once");
                for status in statuses {
                    require(
                        xml::children(doc, status, CBC_NS, "StatusReason").len() == 1,
                        "Status/StatusReason must occur once",
                    );
                }
            }
        }
        for response in xml::children(doc, *dr, CAC_NS, "Response") {
            require(
                xml::children(doc, response, CBC_NS, "ResponseCode").len() == 1,
                "DocumentResponse/Response/ResponseCode must occur once",
            );
        }
    }
    for party in ["ReceiverParty", "SenderParty"] {
        for node in xml::children(doc, root, CAC_NS, party) {
            let endpoints = xml::children(doc, node, CBC_NS, "EndpointID");
            require(endpoints.len() == 1, &format!("{party}/EndpointID must occur once"));
            require(
                endpoints
                    .first()
                    .is_some_and(|&e| doc.attribute(e, None, "schemeID").is_some()),
                &format!("{party}/EndpointID/@schemeID is mandatory"),
            );
        }
    }
}

/// R2-APP: no empty leaf element (XML Encryption and XML-DSig excepted).
fn r2_no_empty_elements(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for node in doc.descendants_or_self(root) {
        let Some((ns, _)) = xml::element_name(doc, node) else {
            continue;
        };
        if ns == Some(super::xhe::XENC_NS) || ns == Some(super::xhe::DSIG_NS) {
            continue;
        }
        if doc.child_elements(node).next().is_none() && normalize_space(&doc.text_content(node)).is_empty() {
            out.push(RuleViolation::new(
                "R2-APP",
                format!("{} is empty", xml::path_of(doc, node)),
            ));
        }
    }
}

/// R3-APP … R8-APP: fixed values, code lists, and reasons present exactly for REJECTED.
fn r3_to_r8_codes(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let customization = child_text(doc, root, CBC_NS, "CustomizationID").unwrap_or_default();
    if customization != KVITTENS_CUSTOMIZATION_ID {
        out.push(RuleViolation::new(
            "R3-APP",
            format!("CustomizationID is {customization:?}, must be {KVITTENS_CUSTOMIZATION_ID:?}"),
        ));
    }
    let profile = child_text(doc, root, CBC_NS, "ProfileID").unwrap_or_default();
    if profile != KVITTENS_PROFILE_ID {
        out.push(RuleViolation::new(
            "R4-APP",
            format!("ProfileID is {profile:?}, must be {KVITTENS_PROFILE_ID:?}"),
        ));
    }
    let any_line = doc
        .descendants_or_self(root)
        .into_iter()
        .any(|n| doc.is(n, CAC_NS, "LineResponse"));
    for code in xml::select(
        doc,
        root,
        &[
            (CAC_NS, "DocumentResponse"),
            (CAC_NS, "Response"),
            (CBC_NS, "ResponseCode"),
        ],
    ) {
        // The R7/R8 contexts compare the string value itself; R5 compares the normalised one.
        let raw = doc.text_content(code);
        let value = normalize_space(&raw);
        if ResponseCode::parse(&value).is_none() {
            out.push(RuleViolation::new(
                "R5-APP",
                format!("response code {value:?} is not ACCEPTED or REJECTED"),
            ));
        }
        if raw == "ACCEPTED" && any_line {
            out.push(RuleViolation::new(
                "R7-APP",
                "an ACCEPTED kvittens must not carry reason codes",
            ));
        }
        if raw == "REJECTED" && !any_line {
            out.push(RuleViolation::new(
                "R8-APP",
                "a REJECTED kvittens must carry at least one reason code",
            ));
        }
    }
    for code in xml::select(
        doc,
        root,
        &[
            (CAC_NS, "DocumentResponse"),
            (CAC_NS, "LineResponse"),
            (CAC_NS, "Response"),
            (CBC_NS, "ResponseCode"),
        ],
    ) {
        let value = normalize_space(&doc.text_content(code));
        if ReasonCode::parse(&value).is_none() {
            out.push(RuleViolation::new(
                "R6-APP",
                format!("reason code {value:?} is not SV, BV or SIG"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;

    fn issued() -> time::OffsetDateTime {
        time::macros::datetime!(2024-03-24 17:22:10 +01:00)
    }

    fn rejected() -> Kvittens {
        Kvittens::rejected(
            "KVT-1",
            &sample(),
            issued(),
            vec![RejectionReason {
                location: "/messagePayload/message".into(),
                code: ReasonCode::BusinessRuleError,
                detail_code: Some("R3".into()),
                text: "fel & fel".into(),
            }],
        )
    }

    fn rules_of(xml: &str) -> Vec<&'static str> {
        validate(&Document::parse_str(xml).unwrap())
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn accepted_round_trip_and_link() {
        let original = sample();
        let k = Kvittens::accepted("KVT-1", &original, issued());
        assert_eq!(k.issue_date, "2024-03-24");
        assert_eq!(k.issue_time, "16:22:10Z");
        let parsed = Kvittens::parse(k.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap();
        assert_eq!(parsed, k);
        assert!(parsed.refers_to(&original));
        let mut other = original.clone();
        other.id = "another".into();
        assert!(!parsed.refers_to(&other));
    }

    #[test]
    fn rejected_round_trip() {
        let k = rejected();
        assert_eq!(
            Kvittens::parse(k.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap(),
            k
        );
    }

    #[test]
    fn r8_rejected_without_reason_is_refused() {
        let mut k = rejected();
        k.reasons.clear();
        assert_eq!(k.render().unwrap_err().rule_ids(), vec!["R8-APP"]);
    }

    #[test]
    fn r7_accepted_with_reason_is_refused() {
        let mut k = rejected();
        k.response = ResponseCode::Accepted;
        assert_eq!(k.render().unwrap_err().rule_ids(), vec!["R7-APP"]);
    }

    #[test]
    fn r1_forbidden_element_and_attribute() {
        let xml = rejected().render().unwrap();
        let with_note = xml.replace("<cbc:IssueDate>", "<cbc:Note>n</cbc:Note><cbc:IssueDate>");
        assert_eq!(rules_of(&with_note), vec!["R1-APP"]);
        let with_attr = xml.replace("<cbc:ID>KVT-1", "<cbc:ID schemeID=\"x\">KVT-1");
        assert_eq!(rules_of(&with_attr), vec!["R1-APP"]);
    }

    #[test]
    fn r2_empty_element() {
        let xml = rejected().render().unwrap().replace(
            "<cbc:StatusReasonCode>R3</cbc:StatusReasonCode>",
            "<cbc:StatusReasonCode/>",
        );
        assert_eq!(rules_of(&xml), vec!["R2-APP"]);
    }

    #[test]
    fn r3_r4_fixed_values() {
        let xml = rejected().render().unwrap();
        assert_eq!(
            rules_of(&xml.replace(KVITTENS_CUSTOMIZATION_ID, "urn:x")),
            vec!["R3-APP"]
        );
        assert_eq!(rules_of(&xml.replace("bdx:noprocess", "other")), vec!["R4-APP"]);
    }

    #[test]
    fn r5_r6_code_lists() {
        let xml = rejected().render().unwrap();
        let bad_verdict = xml.replace(">REJECTED<", ">MAYBE<");
        assert_eq!(rules_of(&bad_verdict), vec!["R5-APP"]);
        let bad_reason = xml.replace(">BV<", ">XX<");
        assert_eq!(rules_of(&bad_reason), vec!["R6-APP"]);
    }

    #[test]
    fn r9_cardinalities() {
        let xml = rejected().render().unwrap();
        assert_eq!(
            rules_of(&xml.replace("<cbc:IssueTime>16:22:10Z</cbc:IssueTime>", "")),
            vec!["R9-APP"]
        );
        assert_eq!(
            rules_of(&xml.replace("<cbc:StatusReason>fel &amp; fel</cbc:StatusReason>", "")),
            vec!["R9-APP"]
        );
        assert_eq!(
            rules_of(&xml.replace(" schemeID=\"iso6523-actorid-upis\"", "")),
            vec!["R9-APP", "R9-APP"]
        );
    }

    #[test]
    fn reason_from_violation() {
        let schema = RejectionReason::from_violation(&RuleViolation::new(crate::sdk::XSD_RULE, "x"));
        assert_eq!(schema.code, ReasonCode::SchemaError);
        let rule = RejectionReason::from_violation(&RuleViolation::new("R3-XHE", "x"));
        assert_eq!(rule.code, ReasonCode::BusinessRuleError);
        assert_eq!(rule.detail_code.as_deref(), Some("R3-XHE"));
    }
}
