//! OASIS SMP 1.0 (namespace `http://docs.oasis-open.org/bdxr/ns/SMP/2016/05`) documents read from the shared
//! hardened DOM: the service group and the signed service metadata. Parsing is structural only; the signature,
//! identity and date checks live in [`super::verify`] and [`super::select`].

use super::certpub::{parse_certpub_extensions, CertPub};
use crate::ids::{ParticipantId, DOCUMENT_SCHEME};
use time::OffsetDateTime;
use xmldsig::dom::{Document, NodeId, ParseLimits};

/// The OASIS SMP 1.0 namespace.
pub const SMP_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05";
/// WS-Addressing, used by Peppol-style `EndpointReference/Address`.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// The XML-DSig namespace.
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Size limits for SMP answers. A named setting of the SMP client.
pub fn smp_parse_limits(max_bytes: usize) -> ParseLimits {
    ParseLimits {
        max_bytes,
        max_depth: 32,
        max_nodes: 50_000,
        max_attributes: 64,
    }
}

/// A structural problem in an SMP document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlProblem(pub String);

impl std::fmt::Display for XmlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn problem(text: impl Into<String>) -> XmlProblem {
    XmlProblem(text.into())
}

/// A parsed service group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceGroup {
    pub participant: ParticipantId,
    /// The `href` of each `ServiceMetadataReference`.
    pub references: Vec<String>,
}

/// One endpoint of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub transport_profile: String,
    pub address: String,
    pub require_business_level_signature: bool,
    pub activation: Option<OffsetDateTime>,
    pub expiration: Option<OffsetDateTime>,
    /// The AP certificate, DER.
    pub certificate_der: Vec<u8>,
    pub description: Option<String>,
    pub technical_contact: Option<String>,
}

/// One process with its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub process_id: String,
    pub process_scheme: Option<String>,
    pub endpoints: Vec<Endpoint>,
}

/// The content of a `SignedServiceMetadata/ServiceMetadata/ServiceInformation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInformation {
    pub participant: ParticipantId,
    pub document_scheme: String,
    pub document_id: String,
    pub processes: Vec<Process>,
    pub certpub: CertPub,
}

/// Parses XML bytes with the SMP limits.
pub fn parse_document(xml: &[u8], limits: &ParseLimits) -> Result<Document, XmlProblem> {
    Document::parse(xml, limits).map_err(|e| problem(e.to_string()))
}

fn child(doc: &Document, parent: NodeId, local: &str) -> Result<NodeId, XmlProblem> {
    doc.first_child(parent, SMP_NS, local)
        .ok_or_else(|| problem(format!("missing element {local}")))
}

fn only_child(doc: &Document, parent: NodeId, local: &str) -> Result<NodeId, XmlProblem> {
    let mut it = doc.children_named(parent, SMP_NS, local);
    let first = it.next().ok_or_else(|| problem(format!("missing element {local}")))?;
    if it.next().is_some() {
        return Err(problem(format!("element {local} appears more than once")));
    }
    Ok(first)
}

fn text(doc: &Document, id: NodeId) -> String {
    doc.text_content(id).trim().to_string()
}

fn participant_of(doc: &Document, parent: NodeId) -> Result<ParticipantId, XmlProblem> {
    let id = only_child(doc, parent, "ParticipantIdentifier")?;
    let scheme = doc
        .attribute(id, None, "scheme")
        .ok_or_else(|| problem("ParticipantIdentifier has no scheme"))?;
    ParticipantId::from_parts(scheme, &text(doc, id)).map_err(|e| problem(format!("ParticipantIdentifier: {e}")))
}

/// Parses a `ServiceGroup`.
pub fn parse_service_group(doc: &Document) -> Result<ServiceGroup, XmlProblem> {
    let root = doc.root();
    if !doc.is(root, SMP_NS, "ServiceGroup") {
        return Err(problem("the root element is not an SMP 1.0 ServiceGroup"));
    }
    let participant = participant_of(doc, root)?;
    let collection = child(doc, root, "ServiceMetadataReferenceCollection")?;
    let references = doc
        .children_named(collection, SMP_NS, "ServiceMetadataReference")
        .map(|r| {
            doc.attribute(r, None, "href")
                .map(str::to_string)
                .ok_or_else(|| problem("ServiceMetadataReference has no href"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceGroup {
        participant,
        references,
    })
}

/// The `ServiceInformation` element of a `SignedServiceMetadata` document (the root must be that element and its
/// `ServiceMetadata` must not be a `Redirect`, which SDK's SMP does not use).
pub fn service_information_node(doc: &Document) -> Result<NodeId, XmlProblem> {
    let root = doc.root();
    if !doc.is(root, SMP_NS, "SignedServiceMetadata") {
        return Err(problem("the root element is not an SMP 1.0 SignedServiceMetadata"));
    }
    let metadata = only_child(doc, root, "ServiceMetadata")?;
    if doc.first_child(metadata, SMP_NS, "Redirect").is_some() {
        return Err(problem("SMP Redirect is not supported in SDK"));
    }
    only_child(doc, metadata, "ServiceInformation")
}

/// Parses the `ServiceInformation` of a `SignedServiceMetadata` document.
pub fn parse_service_information(doc: &Document) -> Result<ServiceInformation, XmlProblem> {
    let info = service_information_node(doc)?;
    let participant = participant_of(doc, info)?;
    let document = only_child(doc, info, "DocumentIdentifier")?;
    let document_scheme = doc
        .attribute(document, None, "scheme")
        .unwrap_or(DOCUMENT_SCHEME)
        .to_string();
    let document_id = text(doc, document);
    let process_list = only_child(doc, info, "ProcessList")?;
    let mut processes = Vec::new();
    for p in doc.children_named(process_list, SMP_NS, "Process") {
        let pid = only_child(doc, p, "ProcessIdentifier")?;
        let list = only_child(doc, p, "ServiceEndpointList")?;
        let endpoints = doc
            .children_named(list, SMP_NS, "Endpoint")
            .map(|e| parse_endpoint(doc, e))
            .collect::<Result<Vec<_>, _>>()?;
        processes.push(Process {
            process_id: text(doc, pid),
            process_scheme: doc.attribute(pid, None, "scheme").map(str::to_string),
            endpoints,
        });
    }
    let certpub = parse_certpub_extensions(doc, info).map_err(|e| problem(format!("CertPub: {e}")))?;
    Ok(ServiceInformation {
        participant,
        document_scheme,
        document_id,
        processes,
        certpub,
    })
}

fn optional_text(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    doc.first_child(parent, SMP_NS, local)
        .map(|n| text(doc, n))
        .filter(|t| !t.is_empty())
}

fn parse_endpoint(doc: &Document, e: NodeId) -> Result<Endpoint, XmlProblem> {
    let transport_profile = doc
        .attribute(e, None, "transportProfile")
        .ok_or_else(|| problem("Endpoint has no transportProfile"))?
        .trim()
        .to_string();
    // OASIS SMP 1.0 writes EndpointURI; Peppol-style SMPs write EndpointReference/wsa:Address.
    let address = match doc.first_child(e, SMP_NS, "EndpointURI") {
        Some(u) => text(doc, u),
        None => {
            let reference = doc
                .first_child(e, SMP_NS, "EndpointReference")
                .ok_or_else(|| problem("Endpoint has neither EndpointURI nor EndpointReference"))?;
            let address = doc
                .first_child(reference, WSA_NS, "Address")
                .ok_or_else(|| problem("EndpointReference has no Address"))?;
            text(doc, address)
        }
    };
    let lower = address.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || address.parse::<http::Uri>().is_err() {
        return Err(problem(format!("endpoint address {address:?} is not an http(s) URL")));
    }
    let require_business_level_signature = match optional_text(doc, e, "RequireBusinessLevelSignature").as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(problem(format!(
                "RequireBusinessLevelSignature {other:?} is not a boolean"
            )))
        }
    };
    let activation = optional_text(doc, e, "ServiceActivationDate")
        .map(|t| parse_xs_datetime(&t))
        .transpose()?;
    let expiration = optional_text(doc, e, "ServiceExpirationDate")
        .map(|t| parse_xs_datetime(&t))
        .transpose()?;
    let certificate = only_child(doc, e, "Certificate")?;
    let certificate_der = decode_certificate_text(&doc.text_content(certificate)).map_err(problem)?;
    Ok(Endpoint {
        transport_profile,
        address,
        require_business_level_signature,
        activation,
        expiration,
        certificate_der,
        description: optional_text(doc, e, "ServiceDescription"),
        technical_contact: optional_text(doc, e, "TechnicalContactUrl"),
    })
}

/// Decodes a certificate written as base64 DER, optionally inside PEM armour (CertPub says "PEM-format
/// (BASE64-kodat)"), ignoring whitespace.
pub fn decode_certificate_text(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return Err("empty certificate".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("certificate is not base64: {e}"))
}

/// Parses an `xs:dateTime`; a value without a time zone is taken as UTC. A bare `xs:date` is accepted as midnight UTC.
pub fn parse_xs_datetime(text: &str) -> Result<OffsetDateTime, XmlProblem> {
    use time::format_description::well_known::Rfc3339;
    let t = text.trim();
    if let Ok(v) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(v);
    }
    let with_zone = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        format!("{t}Z")
    };
    OffsetDateTime::parse(&with_zone, &Rfc3339).map_err(|_| problem(format!("{t:?} is not an xs:dateTime")))
}
