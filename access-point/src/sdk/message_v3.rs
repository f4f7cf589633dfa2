//! The SDK message v3.1 (`urn:riv:infrastructure:messaging:MessageWithAttachments:3`, B1.3.3 "Innehållsspecifikation
//! meddelande" 1.5.2): `messagePayload/message` with a header (ids, label, confidentiality, sender and recipient
//! with their functional addresses) and a body of documents carrying text and base64 files.
//!
//! - [`SdkMessage::parse`] reads it from the shared DOM, checks the XSD's structure (element order, cardinality,
//!   `xs:dateTime`, `xs:boolean`, the 256-character labels; violations carry rule id [`XSD_RULE`]) and every rule of
//!   `MessageConstraints.xml` ([`super::message_rules`]), then builds the typed model.
//! - [`SdkMessage::render`] writes it in memory; [`SdkMessage::write_to`] streams it to any `AsyncWrite`, reading
//!   each attachment given as a file path in [`BASE64_CHUNK`]-byte chunks and base64-encoding it on the way, so a
//!   large attachment is never held whole in memory.
//!
//! Limit: parsing goes through the DOM, so a received SDK message is bounded by the caller's
//! [`ParseLimits::max_bytes`]; very large files should travel as a separate AS4 part (`cid:attachment`).

use super::message_rules;
use super::xhe::{is_xs_date_time, parse_xs_boolean};
use super::xml::{self, child, escape_text};
use super::{join_violations, RuleViolation, XSD_RULE};
use base64::Engine;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use xmldsig::dom::{Document, DomError, NodeId, ParseLimits};

/// The SDK message v3 namespace.
pub const MESSAGE_V3_NS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";
/// The XHE DocumentTypeCode of an SDK message v3 payload.
pub const MESSAGE_V3_DOCUMENT_TYPE: &str = "Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload";
/// The root of functional addresses (subOrganization/organizationId/root, rule `subOrgRoot`).
pub const FUNCTIONAL_ADDRESS_ROOT: &str = "urn:riv:infrastructure:messaging:functionalAddress";
/// Bytes read per step when streaming an attachment; a multiple of 3 so chunks encode without padding.
pub const BASE64_CHUNK: usize = 48 * 1024;
/// Longest label the XSD allows (sender, recipient, person, sub-organisation and reference labels).
pub const MAX_LABEL_CHARS: usize = 256;

/// An instance identifier (`root` = code system, `extension` = value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId {
    pub root: String,
    pub extension: String,
}

impl InstanceId {
    pub fn new(root: impl Into<String>, extension: impl Into<String>) -> Self {
        InstanceId {
            root: root.into(),
            extension: extension.into(),
        }
    }
}

/// A person an item is addressed to or sent by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: Option<InstanceId>,
    pub label: Option<String>,
}

/// A functional address (sub-organisation) with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOrganization {
    pub id: InstanceId,
    pub label: Option<String>,
}

/// A reference (e.g. a case number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub id: InstanceId,
    pub label: Option<String>,
}

/// Whom inside the organisation a message concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub persons: Vec<Person>,
    pub sub_organization: SubOrganization,
    pub references: Vec<Reference>,
}

/// The sending or receiving organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// senderID / recipientID: `iso6523-actorid-upis` + participant id.
    pub id: InstanceId,
    pub label: Option<String>,
    /// Mandatory for the recipient, optional for the sender.
    pub attention: Option<Attention>,
}

/// The message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub creation_date_time: String,
    pub message_id: String,
    pub conversation_id: String,
    pub ref_to_message_id: Option<String>,
    pub label: Option<String>,
    pub confidentiality: bool,
    pub generating_system: Option<InstanceId>,
    pub recipient: Party,
    pub sender: Party,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// In memory (parsed messages, small files).
    Bytes(Vec<u8>),
    /// A file streamed by [`SdkMessage::write_to`].
    Path(PathBuf),
}

/// A file of a document (`ContentFiles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFile {
    pub file_name: String,
    pub content_type: String,
    pub content: FileContent,
}

/// One document of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalDocument {
    pub document_id: String,
    pub document_name: Option<String>,
    pub index: Option<String>,
    pub files: Vec<ContentFile>,
    /// `ContentText/characterSequence` values.
    pub texts: Vec<String>,
}

/// An SDK message v3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkMessage {
    pub header: MessageHeader,
    pub documents: Vec<DigitalDocument>,
}

/// Why an SDK message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the SDK message is not well-formed XML: {0}")]
    Xml(#[from] DomError),
    #[error("the root element is {0}, not messagePayload")]
    NotSdkMessage(String),
    #[error("the SDK message is invalid: {}", join_violations(.0))]
    Rules(Vec<RuleViolation>),
    #[error("attachment {file_name:?}: content is not base64")]
    Base64 { file_name: String },
    #[error("attachment {0:?}: I/O error: {1}")]
    Io(String, #[source] std::io::Error),
}

impl MessageError {
    /// The rule ids that failed (empty for errors that are not rule violations).
    pub fn rule_ids(&self) -> Vec<&'static str> {
        match self {
            MessageError::Rules(v) => v.iter().map(|r| r.rule).collect(),
            _ => Vec::new(),
        }
    }
}

const NS: &str = MESSAGE_V3_NS;

impl SdkMessage {
    /// Parses and validates an SDK message under `limits`.
    pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<SdkMessage, MessageError> {
        let doc = xml::parse_document(bytes, limits)?;
        SdkMessage::from_document(&doc)
    }

    /// Reads and validates an SDK message from a parsed document.
    pub fn from_document(doc: &Document) -> Result<SdkMessage, MessageError> {
        let root = doc.root();
        if !doc.is(root, NS, "messagePayload") {
            return Err(MessageError::NotSdkMessage(xml::qualified_name(doc, root)));
        }
        let mut violations = Vec::new();
        check_structure(doc, root, &mut violations);
        violations.extend(message_rules::validate(doc));
        if !violations.is_empty() {
            return Err(MessageError::Rules(violations));
        }
        extract(doc, root)
    }

    /// Renders the message in memory (files given as paths are read whole; use [`SdkMessage::write_to`] for large
    /// files). Fails when the result would not validate.
    pub fn render(&self) -> Result<String, MessageError> {
        let mut out = String::new();
        for segment in self.segments() {
            match segment {
                Segment::Markup(text) => out.push_str(&text),
                Segment::File(file) => {
                    let engine = base64::engine::general_purpose::STANDARD;
                    match &file.content {
                        FileContent::Bytes(bytes) => out.push_str(&engine.encode(bytes)),
                        FileContent::Path(path) => {
                            let bytes = std::fs::read(path).map_err(|e| MessageError::Io(file.file_name.clone(), e))?;
                            out.push_str(&engine.encode(bytes));
                        }
                    }
                }
            }
        }
        SdkMessage::parse(out.as_bytes(), &unbounded())?;
        Ok(out)
    }

    /// Streams the message to `out`, base64-encoding file attachments in [`BASE64_CHUNK`] steps. The header and
    /// the text parts are validated before anything is written; attachment bytes are not held whole in memory.
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<(), MessageError> {
        let mut skeleton = self.clone();
        for document in &mut skeleton.documents {
            for file in &mut document.files {
                file.content = FileContent::Bytes(b"probe".to_vec());
            }
        }
        skeleton.render()?;
        let io = |e: std::io::Error| MessageError::Io(String::new(), e);
        for segment in self.segments() {
            match segment {
                Segment::Markup(text) => out.write_all(text.as_bytes()).await.map_err(io)?,
                Segment::File(file) => write_base64(file, out).await?,
            }
        }
        out.flush().await.map_err(io)
    }

    /// The document as markup with the attachment contents left as holes, in order.
    fn segments(&self) -> Vec<Segment<'_>> {
        let mut segments = Vec::new();
        let mut head = String::with_capacity(2048);
        head.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        head.push_str(&format!(
            "<tns:messagePayload xmlns:tns=\"{NS}\"><tns:message><tns:messageHeader>"
        ));
        let h = &self.header;
        element(&mut head, "creationDateTime", &h.creation_date_time);
        element(&mut head, "messageId", &h.message_id);
        element(&mut head, "conversationId", &h.conversation_id);
        optional(&mut head, "refToMessageId", &h.ref_to_message_id);
        optional(&mut head, "label", &h.label);
        element(
            &mut head,
            "confidentiality",
            if h.confidentiality { "true" } else { "false" },
        );
        if let Some(system) = &h.generating_system {
            instance_id(&mut head, "generatingSystem", system);
        }
        party(&mut head, "recipient", "recipientID", &h.recipient);
        party(&mut head, "sender", "senderID", &h.sender);
        head.push_str("</tns:messageHeader><tns:messageBody>");
        let mut markup = head;
        for document in &self.documents {
            markup.push_str("<tns:documents>");
            element(&mut markup, "documentID", &document.document_id);
            optional(&mut markup, "documentName", &document.document_name);
            optional(&mut markup, "index", &document.index);
            for file in &document.files {
                markup.push_str("<tns:ContentFiles>");
                element(&mut markup, "fileName", &file.file_name);
                element(&mut markup, "contentType", &file.content_type);
                markup.push_str("<tns:content>");
                segments.push(Segment::Markup(std::mem::take(&mut markup)));
                segments.push(Segment::File(file));
                markup.push_str("</tns:content></tns:ContentFiles>");
            }
            for text in &document.texts {
                markup.push_str("<tns:ContentText>");
                element(&mut markup, "characterSequence", text);
                markup.push_str("</tns:ContentText>");
            }
            markup.push_str("</tns:documents>");
        }
        markup.push_str("</tns:messageBody></tns:message></tns:messagePayload>\n");
        segments.push(Segment::Markup(markup));
        segments
    }
}

/// A piece of the rendered message: markup, or the place of one attachment's base64 content.
enum Segment<'a> {
    Markup(String),
    File(&'a ContentFile),
}

/// Limits for re-reading what we rendered ourselves (our own output, not outside input).
fn unbounded() -> ParseLimits {
    ParseLimits {
        max_bytes: usize::MAX,
        max_nodes: usize::MAX,
        ..ParseLimits::default()
    }
}

async fn write_base64<W: AsyncWrite + Unpin>(file: &ContentFile, out: &mut W) -> Result<(), MessageError> {
    let io = |e: std::io::Error| MessageError::Io(file.file_name.clone(), e);
    let engine = base64::engine::general_purpose::STANDARD;
    match &file.content {
        FileContent::Bytes(bytes) => out.write_all(engine.encode(bytes).as_bytes()).await.map_err(io),
        FileContent::Path(path) => {
            let mut source = tokio::fs::File::open(path).await.map_err(io)?;
            let mut buffer = vec![0u8; BASE64_CHUNK];
            loop {
                // Fill the whole chunk (short reads happen) so only the last chunk carries padding.
                let mut filled = 0;
                while filled < buffer.len() {
                    let n = source.read(&mut buffer[filled..]).await.map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    return Ok(());
                }
                out.write_all(engine.encode(&buffer[..filled]).as_bytes())
                    .await
                    .map_err(io)?;
                if filled < buffer.len() {
                    return Ok(());
                }
            }
        }
    }
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<tns:{name}>{}</tns:{name}>", escape_text(value)));
}

fn optional(out: &mut String, name: &str, value: &Option<String>) {
    if let Some(v) = value {
        element(out, name, v);
    }
}

fn instance_id(out: &mut String, name: &str, id: &InstanceId) {
    out.push_str(&format!("<tns:{name}>"));
    element(out, "root", &id.root);
    element(out, "extension", &id.extension);
    out.push_str(&format!("</tns:{name}>"));
}

fn party(out: &mut String, name: &str, id_name: &str, party: &Party) {
    out.push_str(&format!("<tns:{name}>"));
    instance_id(out, id_name, &party.id);
    optional(out, "label", &party.label);
    if let Some(attention) = &party.attention {
        out.push_str("<tns:attention>");
        for person in &attention.persons {
            out.push_str("<tns:person>");
            if let Some(id) = &person.id {
                instance_id(out, "personId", id);
            }
            optional(out, "label", &person.label);
            out.push_str("</tns:person>");
        }
        out.push_str("<tns:subOrganization>");
        instance_id(out, "organizationId", &attention.sub_organization.id);
        optional(out, "label", &attention.sub_organization.label);
        out.push_str("</tns:subOrganization>");
        for reference in &attention.references {
            out.push_str("<tns:reference>");
            instance_id(out, "referenceId", &reference.id);
            optional(out, "label", &reference.label);
            out.push_str("</tns:reference>");
        }
        out.push_str("</tns:attention>");
    }
    out.push_str(&format!("</tns:{name}>"));
}

// ---- XSD structure -------------------------------------------------------------------------------------------

/// What the XSD says a text element holds.
#[derive(Clone, Copy)]
enum Content {
    Text,
    Label,
    DateTime,
    Boolean,
    Complex(&'static [Particle], bool),
}

/// One element of an `xs:sequence`: name, minOccurs, maxOccurs (`None` = unbounded), content.
type Particle = (&'static str, u32, Option<u32>, Content);

const II: &[Particle] = &[
    ("root", 1, Some(1), Content::Text),
    ("extension", 1, Some(1), Content::Text),
];
const PERSON: &[Particle] = &[
    ("personId", 0, Some(1), Content::Complex(II, false)),
    ("label", 0, Some(1), Content::Label),
];
const SUB_ORG: &[Particle] = &[
    ("organizationId", 1, Some(1), Content::Complex(II, false)),
    ("label", 0, Some(1), Content::Label),
];
const REFERENCE: &[Particle] = &[
    ("referenceId", 1, Some(1), Content::Complex(II, false)),
    ("label", 0, Some(1), Content::Label),
];
const ATTENTION: &[Particle] = &[
    ("person", 0, None, Content::Complex(PERSON, true)),
    ("subOrganization", 1, Some(1), Content::Complex(SUB_ORG, true)),
    ("reference", 0, None, Content::Complex(REFERENCE, true)),
];
const RECIPIENT: &[Particle] = &[
    ("recipientID", 1, Some(1), Content::Complex(II, false)),
    ("label", 0, Some(1), Content::Label),
    ("attention", 1, Some(1), Content::Complex(ATTENTION, true)),
];
const SENDER: &[Particle] = &[
    ("senderID", 1, Some(1), Content::Complex(II, false)),
    ("label", 0, Some(1), Content::Label),
    ("attention", 0, Some(1), Content::Complex(ATTENTION, true)),
];
const HEADER: &[Particle] = &[
    ("creationDateTime", 1, Some(1), Content::DateTime),
    ("messageId", 1, Some(1), Content::Text),
    ("conversationId", 1, Some(1), Content::Text),
    ("refToMessageId", 0, Some(1), Content::Text),
    ("label", 0, Some(1), Content::Text),
    ("confidentiality", 1, Some(1), Content::Boolean),
    ("generatingSystem", 0, Some(1), Content::Complex(II, false)),
    ("recipient", 1, Some(1), Content::Complex(RECIPIENT, true)),
    ("sender", 1, Some(1), Content::Complex(SENDER, true)),
];
const FILES: &[Particle] = &[
    ("fileName", 1, Some(1), Content::Text),
    ("contentType", 1, Some(1), Content::Text),
    ("content", 1, Some(1), Content::Text),
];
const TEXT: &[Particle] = &[("characterSequence", 1, Some(1), Content::Text)];
const DOCUMENT: &[Particle] = &[
    ("documentID", 1, Some(1), Content::Text),
    ("documentName", 0, Some(1), Content::Text),
    ("index", 0, Some(1), Content::Text),
    ("ContentFiles", 0, None, Content::Complex(FILES, true)),
    ("ContentText", 0, None, Content::Complex(TEXT, true)),
];
const BODY: &[Particle] = &[("documents", 1, None, Content::Complex(DOCUMENT, true))];
const MESSAGE: &[Particle] = &[
    ("messageHeader", 1, Some(1), Content::Complex(HEADER, true)),
    ("messageBody", 1, Some(1), Content::Complex(BODY, true)),
];
const PAYLOAD: &[Particle] = &[("message", 1, Some(1), Content::Complex(MESSAGE, false))];

/// Checks the XSD's content model from the root: sequence order, cardinalities, trailing `xs:any ##other`, and the
/// simple types used.
fn check_structure(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    check_sequence(doc, root, PAYLOAD, false, out);
}

fn check_sequence(doc: &Document, node: NodeId, particles: &[Particle], any_other: bool, out: &mut Vec<RuleViolation>) {
    let children: Vec<NodeId> = doc.child_elements(node).collect();
    let mut position = 0;
    for &(name, min, max, content) in particles {
        let mut count = 0u32;
        while let Some(&c) = children.get(position) {
            if !doc.is(c, NS, name) {
                break;
            }
            count += 1;
            position += 1;
            if max.is_some_and(|m| count > m) {
                out.push(xsd(format!(
                    "{} occurs more than {} time(s)",
                    xml::path_of(doc, c),
                    max.unwrap_or(0)
                )));
            }
            check_content(doc, c, content, out);
        }
        if count < min {
            out.push(xsd(format!("{} lacks {name}", xml::path_of(doc, node))));
        }
    }
    for &c in &children[position..] {
        let foreign = xml::element_name(doc, c)
            .and_then(|(ns, _)| ns)
            .is_some_and(|ns| ns != NS);
        if !(any_other && foreign) {
            out.push(xsd(format!("{} is not allowed here", xml::path_of(doc, c))));
        }
    }
}

fn check_content(doc: &Document, node: NodeId, content: Content, out: &mut Vec<RuleViolation>) {
    let simple = |out: &mut Vec<RuleViolation>| {
        if doc.child_elements(node).next().is_some() {
            out.push(xsd(format!("{} must hold text only", xml::path_of(doc, node))));
        }
    };
    match content {
        Content::Text => simple(out),
        Content::Label => {
            simple(out);
            let length = doc.text_content(node).chars().count();
            if length > MAX_LABEL_CHARS {
                out.push(xsd(format!(
                    "{} is {length} characters, at most {MAX_LABEL_CHARS}",
                    xml::path_of(doc, node)
                )));
            }
        }
        Content::DateTime => {
            simple(out);
            let value = doc.text_content(node);
            if !is_xs_date_time(value.trim()) {
                out.push(xsd(format!(
                    "{} {value:?} is not an xs:dateTime",
                    xml::path_of(doc, node)
                )));
            }
        }
        Content::Boolean => {
            simple(out);
            let value = doc.text_content(node);
            if parse_xs_boolean(&value).is_none() {
                out.push(xsd(format!(
                    "{} {value:?} is not an xs:boolean",
                    xml::path_of(doc, node)
                )));
            }
        }
        Content::Complex(particles, any_other) => check_sequence(doc, node, particles, any_other, out),
    }
}

fn xsd(message: String) -> RuleViolation {
    RuleViolation::new(XSD_RULE, message)
}

// ---- model extraction (structure already checked) ----------------------------------------------------------

fn text(doc: &Document, parent: NodeId, name: &str) -> String {
    child(doc, parent, NS, name)
        .map(|n| doc.text_content(n))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn opt_text(doc: &Document, parent: NodeId, name: &str) -> Option<String> {
    child(doc, parent, NS, name).map(|n| doc.text_content(n).trim().to_string())
}

fn read_ii(doc: &Document, node: NodeId) -> InstanceId {
    InstanceId::new(text(doc, node, "root"), text(doc, node, "extension"))
}

fn read_attention(doc: &Document, node: NodeId) -> Attention {
    let sub = child(doc, node, NS, "subOrganization").expect("checked by the XSD structure");
    Attention {
        persons: xml::children(doc, node, NS, "person")
            .into_iter()
            .map(|p| Person {
                id: child(doc, p, NS, "personId").map(|i| read_ii(doc, i)),
                label: opt_text(doc, p, "label"),
            })
            .collect(),
        sub_organization: SubOrganization {
            id: read_ii(doc, child(doc, sub, NS, "organizationId").expect("checked")),
            label: opt_text(doc, sub, "label"),
        },
        references: xml::children(doc, node, NS, "reference")
            .into_iter()
            .map(|r| Reference {
                id: read_ii(doc, child(doc, r, NS, "referenceId").expect("checked")),
                label: opt_text(doc, r, "label"),
            })
            .collect(),
    }
}

fn read_party(doc: &Document, node: NodeId, id_name: &str) -> Party {
    Party {
        id: read_ii(doc, child(doc, node, NS, id_name).expect("checked")),
        label: opt_text(doc, node, "label"),
        attention: child(doc, node, NS, "attention").map(|a| read_attention(doc, a)),
    }
}

fn extract(doc: &Document, root: NodeId) -> Result<SdkMessage, MessageError> {
    let message = child(doc, root, NS, "message").expect("checked");
    let header = child(doc, message, NS, "messageHeader").expect("checked");
    let body = child(doc, message, NS, "messageBody").expect("checked");
    let header = MessageHeader {
        creation_date_time: text(doc, header, "creationDateTime"),
        message_id: text(doc, header, "messageId"),
        conversation_id: text(doc, header, "conversationId"),
        ref_to_message_id: opt_text(doc, header, "refToMessageId"),
        label: opt_text(doc, header, "label"),
        confidentiality: parse_xs_boolean(&text(doc, header, "confidentiality")).unwrap_or(false),
        generating_system: child(doc, header, NS, "generatingSystem").map(|g| read_ii(doc, g)),
        recipient: read_party(
            doc,
            child(doc, header, NS, "recipient").expect("checked"),
            "recipientID",
        ),
        sender: read_party(doc, child(doc, header, NS, "sender").expect("checked"), "senderID"),
    };
    let mut documents = Vec::new();
    for d in xml::children(doc, body, NS, "documents") {
        let mut files = Vec::new();
        for f in xml::children(doc, d, NS, "ContentFiles") {
            let file_name = text(doc, f, "fileName");
            let encoded: String = child(doc, f, NS, "content")
                .map(|c| doc.text_content(c))
                .unwrap_or_default()
                .split_ascii_whitespace()
                .collect();
            let bytes =
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| MessageError::Base64 {
                        file_name: file_name.clone(),
                    })?;
            files.push(ContentFile {
                file_name,
                content_type: text(doc, f, "contentType"),
                content: FileContent::Bytes(bytes),
            });
        }
        documents.push(DigitalDocument {
            document_id: text(doc, d, "documentID"),
            document_name: opt_text(doc, d, "documentName"),
            index: opt_text(doc, d, "index"),
            files,
            texts: xml::children(doc, d, NS, "ContentText")
                .into_iter()
                .map(|t| text(doc, t, "characterSequence"))
                .collect(),
        });
    }
    Ok(SdkMessage { header, documents })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> SdkMessage {
        let functional = |ext: &str| SubOrganization {
            id: InstanceId::new(FUNCTIONAL_ADDRESS_ROOT, ext),
            label: Some("Funktion".into()),
        };
        SdkMessage {
            header: MessageHeader {
                creation_date_time: "2022-10-13T18:10:39.843Z".into(),
                message_id: "7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(),
                conversation_id: "7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(),
                ref_to_message_id: None,
                label: Some("Rubrik & <mer>".into()),
                confidentiality: false,
                generating_system: Some(InstanceId::new("un-encoded", "sdk-ap")),
                recipient: Party {
                    id: InstanceId::new("iso6523-actorid-upis", "0203:b.example.se"),
                    label: None,
                    attention: Some(Attention {
                        persons: vec![],
                        sub_organization: functional("b.funktion"),
                        references: vec![Reference {
                            id: InstanceId::new("diarie", "2024-1"),
                            label: None,
                        }],
                    }),
                },
                sender: Party {
                    id: InstanceId::new("iso6523-actorid-upis", "0203:a.example.se"),
                    label: Some("Myndighet A".into()),
                    attention: Some(Attention {
                        persons: vec![Person {
                            id: None,
                            label: Some("Pelle".into()),
                        }],
                        sub_organization: functional("a.funktion"),
                        references: vec![],
                    }),
                },
            },
            documents: vec![DigitalDocument {
                document_id: "SDK-Meddelande".into(),
                document_name: Some("Brev".into()),
                index: Some("1".into()),
                files: vec![ContentFile {
                    file_name: "a.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: FileContent::Bytes(vec![0, 1, 2, 250, 251, 252]),
                }],
                texts: vec!["Hej".into()],
            }],
        }
    }

    fn rules_of(xml: &str) -> Vec<&'static str> {
        match SdkMessage::parse(xml.as_bytes(), &ParseLimits::default()) {
            Ok(_) => vec![],
            Err(e) => e.rule_ids(),
        }
    }

    #[test]
    fn round_trips() {
        let message = sample();
        let xml = message.render().unwrap();
        assert_eq!(
            SdkMessage::parse(xml.as_bytes(), &ParseLimits::default()).unwrap(),
            message
        );
    }

    #[tokio::test]
    async fn streams_file_attachments_in_chunks() {
        let dir = std::env::temp_dir().join(format!("sdk-msg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.bin");
        let data: Vec<u8> = (0..(BASE64_CHUNK * 3 + 17)).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut message = sample();
        message.documents[0].files[0].content = FileContent::Path(path);
        let mut out = Vec::new();
        message.write_to(&mut out).await.unwrap();
        let parsed = SdkMessage::parse(&out, &ParseLimits::default()).unwrap();
        assert_eq!(parsed.documents[0].files[0].content, FileContent::Bytes(data));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn write_to_refuses_invalid_header_before_writing() {
        let mut message = sample();
        message.header.message_id = "not-a-uuid".into();
        let mut out = Vec::new();
        let err = message.write_to(&mut out).await.unwrap_err();
        assert_eq!(err.rule_ids(), vec!["MessageId"]);
        assert!(out.is_empty());
    }

    #[test]
    fn xsd_order_cardinality_and_types() {
        let xml = sample().render().unwrap();
        // Order: messageId before creationDateTime.
        let swapped = xml.replace(
            "<tns:creationDateTime>2022-10-13T18:10:39.843Z</tns:creationDateTime><tns:messageId>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:messageId>",
            "<tns:messageId>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:messageId><tns:creationDateTime>2022-10-13T18:10:39.843Z</tns:creationDateTime>",
        );
        assert!(rules_of(&swapped).contains(&XSD_RULE));
        // Missing mandatory confidentiality.
        assert_eq!(
            rules_of(&xml.replace("<tns:confidentiality>false</tns:confidentiality>", "")),
            vec![XSD_RULE]
        );
        // Not a boolean.
        assert_eq!(
            rules_of(&xml.replace(">false</tns:confidentiality>", ">nej</tns:confidentiality>")),
            vec![XSD_RULE]
        );
        // Unknown element in the namespace; a foreign one at the end of an open sequence is allowed.
        assert_eq!(
            rules_of(&xml.replace("</tns:messageBody>", "<tns:extra>x</tns:extra></tns:messageBody>")),
            vec![XSD_RULE]
        );
        assert!(rules_of(&xml.replace(
            "</tns:messageBody>",
            "<o:extra xmlns:o=\"urn:o\">x</o:extra></tns:messageBody>"
        ))
        .is_empty());
        // A label over 256 characters.
        let long = "x".repeat(257);
        assert_eq!(
            rules_of(&xml.replace(
                "<tns:label>Myndighet A</tns:label>",
                &format!("<tns:label>{long}</tns:label>")
            )),
            vec![XSD_RULE]
        );
    }

    #[test]
    fn bad_base64_is_a_typed_error() {
        let xml = sample().render().unwrap().replace("AAEC+vv8", "A*==");
        assert!(matches!(
            SdkMessage::parse(xml.as_bytes(), &ParseLimits::default()),
            Err(MessageError::Base64 { .. })
        ));
    }
}
