//! Reading an incoming SOAP 1.2 envelope into a [`ParsedEnvelope`]: the hardened DOM, the node ids of the parts the
//! WS-Security layer must verify, and the [`Messaging`] model read from exactly those nodes.
//!
//! Signature-wrapping defence: the envelope must have exactly one `Header` then exactly one `Body`; `eb:Messaging`
//! must appear exactly once and only as a direct child of the Header; `wsu:Id` values must be unique; at most one
//! `wsse:Security` header may target this node. Element matching is by namespace and local name only, so any
//! prefixes (or default namespaces) read the same.

use base64::Engine;
use xmldsig::dom::{Document, Node, NodeId, ParseLimits};

use super::error::{EbmsParseError, Severity};
use super::ids::{is_absolute_uri, MessageId, Timestamp};
use super::model::*;
use super::ns;

type Result<T> = std::result::Result<T, EbmsParseError>;

/// Entry point for reading SOAP envelopes.
pub struct Envelope;

impl Envelope {
    /// Parses and checks `xml` (the SOAP part of the message) under `limits`, with strict (RFC 2822) message ids.
    pub fn parse(xml: &[u8], limits: &ParseLimits) -> Result<ParsedEnvelope> {
        Envelope::parse_with(xml, limits, &ParseOptions::default())
    }

    /// [`Envelope::parse`] with explicit options.
    pub fn parse_with(xml: &[u8], limits: &ParseLimits, options: &ParseOptions) -> Result<ParsedEnvelope> {
        let document = Document::parse(xml, limits)?;
        ParsedEnvelope::from_document(document, options)
    }
}

/// How received MessageId and RefToMessageId values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageIdPolicy {
    /// RFC 2822 `id-left@id-right`, as ebMS3 §5.2.2.1 requires ([`MessageId::parse`]).
    #[default]
    Rfc2822,
    /// Also accept other printable-ASCII ids such as bare UUIDs ([`MessageId::parse_lenient`]); some Domibus
    /// deployments forward the id their back end supplies unchanged.
    Lenient,
}

/// Options of [`Envelope::parse_with`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub message_id_policy: MessageIdPolicy,
}

/// A checked envelope: the DOM, the nodes of its parts, and the ebMS header read from them.
#[derive(Debug, Clone)]
pub struct ParsedEnvelope {
    document: Document,
    envelope: NodeId,
    header: NodeId,
    body: NodeId,
    messaging_node: NodeId,
    security: Option<NodeId>,
    messaging_must_understand: bool,
    messaging: Messaging,
}

impl ParsedEnvelope {
    /// Checks the structure of an already parsed document and reads its `eb:Messaging`.
    pub fn from_document(document: Document, options: &ParseOptions) -> Result<ParsedEnvelope> {
        let envelope = document.root();
        let root = document.element(envelope).expect("the root is an element");
        match root.namespace.as_deref() {
            Some(ns::SOAP12) if root.name.local == "Envelope" => {}
            Some(ns::SOAP11) if root.name.local == "Envelope" => return Err(EbmsParseError::Soap11),
            _ => {
                return Err(EbmsParseError::NotSoapEnvelope {
                    found: describe(&document, envelope),
                })
            }
        }
        // SOAP 1.2 Part 1 §5: a SOAP message carries no processing instructions.
        if document
            .all_nodes()
            .any(|n| matches!(document.node(n), Node::ProcessingInstruction { .. }))
        {
            return Err(EbmsParseError::EnvelopeStructure(
                "processing instructions are not allowed".into(),
            ));
        }
        let (header, body) = envelope_parts(&document, envelope)?;
        let (messaging_node, security) = header_blocks(&document, header)?;
        check_unique_wsu_ids(&document)?;
        let messaging_must_understand = match document.attribute(messaging_node, Some(ns::SOAP12), "mustUnderstand") {
            None => false,
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                return Err(EbmsParseError::InvalidValue {
                    location: "eb:Messaging/@mustUnderstand",
                    reason: format!("{other:?} is not an xsd:boolean"),
                })
            }
        };
        let messaging = Reader {
            doc: &document,
            options,
        }
        .messaging(messaging_node)?;
        Ok(ParsedEnvelope {
            document,
            envelope,
            header,
            body,
            messaging_node,
            security,
            messaging_must_understand,
            messaging,
        })
    }

    /// The ebMS header model.
    pub fn messaging(&self) -> &Messaging {
        &self.messaging
    }

    /// The DOM the model was read from; the WS-Security layer verifies signatures over its nodes.
    pub fn document(&self) -> &Document {
        &self.document
    }

    pub fn envelope_node(&self) -> NodeId {
        self.envelope
    }

    pub fn header_node(&self) -> NodeId {
        self.header
    }

    pub fn body_node(&self) -> NodeId {
        self.body
    }

    /// The single `eb:Messaging` element, direct child of the Header.
    pub fn messaging_node(&self) -> NodeId {
        self.messaging_node
    }

    /// The `wsse:Security` header targeted at this node (no role, `ultimateReceiver` or `next`), if any.
    pub fn security_node(&self) -> Option<NodeId> {
        self.security
    }

    /// Whether `eb:Messaging` carried `mustUnderstand="true"` (AS4 requires it; the P-Mode check decides).
    pub fn messaging_must_understand(&self) -> bool {
        self.messaging_must_understand
    }

    pub fn messaging_wsu_id(&self) -> Option<&str> {
        self.document.attribute(self.messaging_node, Some(ns::WSU), "Id")
    }

    pub fn body_wsu_id(&self) -> Option<&str> {
        self.document.attribute(self.body, Some(ns::WSU), "Id")
    }

    pub fn security_wsu_id(&self) -> Option<&str> {
        self.document.attribute(self.security?, Some(ns::WSU), "Id")
    }

    /// The element carrying this `wsu:Id` (unique: duplicates were refused by the parser).
    pub fn find_by_wsu_id(&self, id: &str) -> Option<NodeId> {
        self.document
            .all_nodes()
            .find(|n| self.document.attribute(*n, Some(ns::WSU), "Id") == Some(id))
    }

    /// The parts, for callers that need to own them.
    pub fn into_parts(self) -> (Document, Messaging) {
        (self.document, self.messaging)
    }
}

/// XML whitespace (S production).
pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn describe(doc: &Document, id: NodeId) -> String {
    match doc.element(id) {
        Some(e) => match &e.namespace {
            Some(uri) => format!("{{{uri}}}{}", e.name.local),
            None => e.name.local.clone(),
        },
        None => "text".to_string(),
    }
}

fn is_blank_text(doc: &Document, id: NodeId) -> bool {
    match doc.node(id) {
        Node::Text { text, .. } => text.chars().all(is_xml_space),
        _ => true,
    }
}

/// Exactly one Header, then exactly one Body, nothing else but comments and whitespace.
fn envelope_parts(doc: &Document, envelope: NodeId) -> Result<(NodeId, NodeId)> {
    let mut headers = Vec::new();
    let mut bodies = Vec::new();
    for &child in doc.children(envelope) {
        if doc.element(child).is_none() {
            if !is_blank_text(doc, child) {
                return Err(EbmsParseError::EnvelopeStructure(
                    "text directly inside Envelope".into(),
                ));
            }
            continue;
        }
        if doc.is(child, ns::SOAP12, "Header") {
            headers.push(child);
        } else if doc.is(child, ns::SOAP12, "Body") {
            bodies.push(child);
        } else {
            return Err(EbmsParseError::EnvelopeStructure(format!(
                "unexpected element {} inside Envelope",
                describe(doc, child)
            )));
        }
    }
    let header = match headers.as_slice() {
        [] => return Err(EbmsParseError::MissingHeader),
        [h] => *h,
        _ => return Err(EbmsParseError::DuplicateHeader),
    };
    let body = match bodies.as_slice() {
        [] => return Err(EbmsParseError::MissingBody),
        [b] => *b,
        _ => return Err(EbmsParseError::DuplicateBody),
    };
    if body < header {
        return Err(EbmsParseError::EnvelopeStructure("Header comes after Body".into()));
    }
    Ok((header, body))
}

/// Whether a header block targets this node (SOAP 1.2 role absent, ultimateReceiver or next).
fn targets_us(doc: &Document, block: NodeId) -> bool {
    match doc.attribute(block, Some(ns::SOAP12), "role") {
        None => true,
        Some(role) => {
            let role = role.trim_matches(is_xml_space);
            role.is_empty() || role == ns::SOAP12_ROLE_ULTIMATE_RECEIVER || role == ns::SOAP12_ROLE_NEXT
        }
    }
}

/// Finds the single eb:Messaging and the Security header for us; refuses decoys and unknown mandatory headers.
fn header_blocks(doc: &Document, header: NodeId) -> Result<(NodeId, Option<NodeId>)> {
    // A Messaging element anywhere but directly under the Header is a wrapping decoy.
    for node in doc.all_nodes() {
        if doc.is(node, ns::EB, "Messaging") {
            let parent = doc.parent(node).expect("elements have parents");
            if parent != header {
                return Err(EbmsParseError::MisplacedMessaging {
                    parent: describe(doc, parent),
                });
            }
        }
    }
    let mut messaging = Vec::new();
    let mut security = Vec::new();
    for &child in doc.children(header) {
        let Some(element) = doc.element(child) else {
            if !is_blank_text(doc, child) {
                return Err(EbmsParseError::EnvelopeStructure("text directly inside Header".into()));
            }
            continue;
        };
        if element.namespace.is_none() {
            return Err(EbmsParseError::EnvelopeStructure(format!(
                "header block {} has no namespace",
                element.name.local
            )));
        }
        if doc.is(child, ns::EB, "Messaging") {
            messaging.push(child);
        } else if doc.is(child, ns::WSSE, "Security") {
            if targets_us(doc, child) {
                security.push(child);
            }
        } else if targets_us(doc, child)
            && matches!(
                doc.attribute(child, Some(ns::SOAP12), "mustUnderstand"),
                Some("true" | "1")
            )
        {
            return Err(EbmsParseError::NotUnderstood(describe(doc, child)));
        }
    }
    let messaging = match messaging.as_slice() {
        [] => return Err(EbmsParseError::MissingMessaging),
        [m] => *m,
        _ => return Err(EbmsParseError::DuplicateMessaging),
    };
    let security = match security.as_slice() {
        [] => None,
        [s] => Some(*s),
        _ => return Err(EbmsParseError::DuplicateSecurityHeader),
    };
    Ok((messaging, security))
}

/// Identifier attributes a signature reference (`URI="#x"`) may resolve to: `wsu:Id`, the unqualified `Id`/`ID` of
/// XML-DSig and XML-Enc elements, and `xml:id`. One value on two elements (even across these kinds) could make a
/// reference resolve to a decoy, so every value must be unique in the document.
fn check_unique_wsu_ids(doc: &Document) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for node in doc.all_nodes() {
        let Some(element) = doc.element(node) else { continue };
        for attribute in &element.attributes {
            let is_id = match attribute.namespace.as_deref() {
                Some(ns::WSU) => attribute.name.local == "Id",
                Some(ns::XML) => attribute.name.local == "id",
                None => matches!(attribute.name.local.as_str(), "Id" | "ID"),
                Some(_) => false,
            };
            if is_id && !seen.insert(attribute.value.as_str()) {
                return Err(EbmsParseError::DuplicateWsuId(attribute.value.clone()));
            }
        }
    }
    Ok(())
}

/// Reads the model from the DOM.
struct Reader<'d> {
    doc: &'d Document,
    options: &'d ParseOptions,
}

/// The children of one element, sorted by the names allowed there.
struct Kids {
    within: &'static str,
    found: Vec<(&'static str, NodeId)>,
}

impl Kids {
    fn all(&self, name: &'static str) -> impl Iterator<Item = NodeId> + '_ {
        self.found.iter().filter(move |(n, _)| *n == name).map(|(_, id)| *id)
    }

    fn optional(&self, name: &'static str) -> Result<Option<NodeId>> {
        let mut it = self.all(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(EbmsParseError::Duplicate {
                element: name,
                within: self.within,
            });
        }
        Ok(first)
    }

    fn required(&self, name: &'static str) -> Result<NodeId> {
        self.optional(name)?.ok_or(EbmsParseError::Missing {
            element: name,
            within: self.within,
        })
    }

    fn one_or_more(&self, name: &'static str) -> Result<Vec<NodeId>> {
        let all: Vec<NodeId> = self.all(name).collect();
        if all.is_empty() {
            return Err(EbmsParseError::Missing {
                element: name,
                within: self.within,
            });
        }
        Ok(all)
    }
}

impl<'d> Reader<'d> {
    /// Sorts the element children of `el`. `allowed` pairs a (namespace, local name) with the name used in errors.
    /// Elements of other namespaces than ebMS are skipped when `foreign_allowed` (the schema's `##other`).
    fn kids(
        &self,
        el: NodeId,
        within: &'static str,
        allowed: &[(&str, &str, &'static str)],
        foreign_allowed: bool,
    ) -> Result<Kids> {
        let mut found = Vec::new();
        for &child in self.doc.children(el) {
            let Some(element) = self.doc.element(child) else {
                if !is_blank_text(self.doc, child) {
                    return Err(EbmsParseError::Unexpected {
                        found: "text".into(),
                        within,
                    });
                }
                continue;
            };
            let namespace = element.namespace.as_deref();
            match allowed
                .iter()
                .find(|(uri, local, _)| namespace == Some(*uri) && element.name.local == *local)
            {
                Some((_, _, name)) => found.push((*name, child)),
                None if foreign_allowed && namespace != Some(ns::EB) => {}
                None => {
                    return Err(EbmsParseError::Unexpected {
                        found: describe(self.doc, child),
                        within,
                    })
                }
            }
        }
        Ok(Kids { within, found })
    }

    /// The text of an element that must hold text only.
    fn text(&self, el: NodeId, location: &'static str) -> Result<String> {
        if self.doc.child_elements(el).next().is_some() {
            return Err(EbmsParseError::Unexpected {
                found: "an element".into(),
                within: location,
            });
        }
        Ok(self.doc.text_content(el))
    }

    /// A trimmed, non-empty identifier-like value.
    fn token(&self, el: NodeId, location: &'static str) -> Result<String> {
        let text = self.text(el, location)?;
        let trimmed = text.trim_matches(is_xml_space);
        if trimmed.is_empty() {
            return Err(EbmsParseError::InvalidValue {
                location,
                reason: "the value is empty".into(),
            });
        }
        Ok(trimmed.to_string())
    }

    fn attr(&self, el: NodeId, local: &str) -> Option<String> {
        self.doc.attribute(el, None, local).map(str::to_string)
    }

    fn required_attr(&self, el: NodeId, local: &'static str, within: &'static str) -> Result<String> {
        self.attr(el, local)
            .ok_or(EbmsParseError::Missing { element: local, within })
    }

    fn messaging(&self, el: NodeId) -> Result<Messaging> {
        let kids = self.kids(
            el,
            "eb:Messaging",
            &[
                (ns::EB, "UserMessage", "eb:UserMessage"),
                (ns::EB, "SignalMessage", "eb:SignalMessage"),
            ],
            true,
        )?;
        let users: Vec<NodeId> = kids.all("eb:UserMessage").collect();
        if users.len() > 1 {
            return Err(EbmsParseError::NotSupported(
                "more than one eb:UserMessage in eb:Messaging".into(),
            ));
        }
        let user_message = users.first().map(|u| self.user_message(*u)).transpose()?;
        let signals = kids
            .all("eb:SignalMessage")
            .map(|s| self.signal_message(s))
            .collect::<Result<Vec<_>>>()?;
        Messaging::new(user_message, signals).map_err(|_| EbmsParseError::Missing {
            element: "eb:UserMessage or eb:SignalMessage",
            within: "eb:Messaging",
        })
    }

    fn user_message(&self, el: NodeId) -> Result<UserMessage> {
        const WITHIN: &str = "eb:UserMessage";
        let kids = self.kids(
            el,
            WITHIN,
            &[
                (ns::EB, "MessageInfo", "eb:MessageInfo"),
                (ns::EB, "PartyInfo", "eb:PartyInfo"),
                (ns::EB, "CollaborationInfo", "eb:CollaborationInfo"),
                (ns::EB, "MessageProperties", "eb:MessageProperties"),
                (ns::EB, "PayloadInfo", "eb:PayloadInfo"),
            ],
            false,
        )?;
        let message_info = self.message_info(kids.required("eb:MessageInfo")?)?;
        let party_info = self.party_info(kids.required("eb:PartyInfo")?)?;
        let collaboration_info = self.collaboration_info(kids.required("eb:CollaborationInfo")?)?;
        let message_properties = match kids.optional("eb:MessageProperties")? {
            Some(props) => self.properties(props, "eb:MessageProperties")?,
            None => Vec::new(),
        };
        let payload_info = match kids.optional("eb:PayloadInfo")? {
            Some(payload) => {
                let kids = self.kids(payload, "eb:PayloadInfo", &[(ns::EB, "PartInfo", "eb:PartInfo")], false)?;
                kids.one_or_more("eb:PartInfo")?
                    .into_iter()
                    .map(|p| self.part_info(p))
                    .collect::<Result<_>>()?
            }
            None => Vec::new(),
        };
        Ok(UserMessage {
            mpc: self.attr(el, "mpc"),
            message_info,
            party_info,
            collaboration_info,
            message_properties,
            payload_info,
        })
    }

    fn message_info(&self, el: NodeId) -> Result<MessageInfo> {
        let kids = self.kids(
            el,
            "eb:MessageInfo",
            &[
                (ns::EB, "Timestamp", "eb:Timestamp"),
                (ns::EB, "MessageId", "eb:MessageId"),
                (ns::EB, "RefToMessageId", "eb:RefToMessageId"),
            ],
            false,
        )?;
        let timestamp_text = self.token(kids.required("eb:Timestamp")?, "eb:Timestamp")?;
        let timestamp = Timestamp::parse(&timestamp_text).map_err(|e| EbmsParseError::InvalidValue {
            location: "eb:Timestamp",
            reason: e.to_string(),
        })?;
        let message_id = self.message_id(kids.required("eb:MessageId")?, "eb:MessageId")?;
        let ref_to_message_id = kids
            .optional("eb:RefToMessageId")?
            .map(|r| self.message_id(r, "eb:RefToMessageId"))
            .transpose()?;
        Ok(MessageInfo {
            timestamp,
            message_id,
            ref_to_message_id,
        })
    }

    fn message_id(&self, el: NodeId, location: &'static str) -> Result<MessageId> {
        let text = self.token(el, location)?;
        let parsed = match self.options.message_id_policy {
            MessageIdPolicy::Rfc2822 => MessageId::parse(&text),
            MessageIdPolicy::Lenient => MessageId::parse_lenient(&text),
        };
        parsed.map_err(|e| EbmsParseError::InvalidValue {
            location,
            reason: e.to_string(),
        })
    }

    fn party_info(&self, el: NodeId) -> Result<PartyInfo> {
        let kids = self.kids(
            el,
            "eb:PartyInfo",
            &[(ns::EB, "From", "eb:From"), (ns::EB, "To", "eb:To")],
            false,
        )?;
        Ok(PartyInfo {
            from: self.party(kids.required("eb:From")?, "eb:From")?,
            to: self.party(kids.required("eb:To")?, "eb:To")?,
        })
    }

    fn party(&self, el: NodeId, within: &'static str) -> Result<Party> {
        let kids = self.kids(
            el,
            within,
            &[(ns::EB, "PartyId", "eb:PartyId"), (ns::EB, "Role", "eb:Role")],
            false,
        )?;
        let ids = kids
            .one_or_more("eb:PartyId")?
            .into_iter()
            .map(|p| {
                let value = self.token(p, "eb:PartyId")?;
                let party_type = self.attr(p, "type");
                if party_type.is_none() && !is_absolute_uri(&value) {
                    return Err(EbmsParseError::InconsistentValue {
                        location: "eb:PartyId",
                        reason: format!("{value:?} has no type attribute and is not a URI"),
                    });
                }
                PartyId::new(value, party_type).map_err(|e| EbmsParseError::InvalidValue {
                    location: "eb:PartyId",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let role = self.token(kids.required("eb:Role")?, "eb:Role")?;
        let party_ids = NonEmpty::from_vec(ids).expect("one_or_more returned at least one");
        Ok(Party { party_ids, role })
    }

    fn collaboration_info(&self, el: NodeId) -> Result<CollaborationInfo> {
        let kids = self.kids(
            el,
            "eb:CollaborationInfo",
            &[
                (ns::EB, "AgreementRef", "eb:AgreementRef"),
                (ns::EB, "Service", "eb:Service"),
                (ns::EB, "Action", "eb:Action"),
                (ns::EB, "ConversationId", "eb:ConversationId"),
            ],
            false,
        )?;
        let agreement_ref = kids
            .optional("eb:AgreementRef")?
            .map(|a| {
                Ok::<_, EbmsParseError>(AgreementRef {
                    value: self.token(a, "eb:AgreementRef")?,
                    agreement_type: self.attr(a, "type"),
                    pmode: self.attr(a, "pmode"),
                })
            })
            .transpose()?;
        let service_el = kids.required("eb:Service")?;
        let service_value = self.token(service_el, "eb:Service")?;
        let service_type = self.attr(service_el, "type");
        if service_type.is_none() && !is_absolute_uri(&service_value) {
            return Err(EbmsParseError::InconsistentValue {
                location: "eb:Service",
                reason: format!("{service_value:?} has no type attribute and is not a URI"),
            });
        }
        let service = Service::new(service_value, service_type).map_err(|e| EbmsParseError::InvalidValue {
            location: "eb:Service",
            reason: e.to_string(),
        })?;
        Ok(CollaborationInfo {
            agreement_ref,
            service,
            action: self.token(kids.required("eb:Action")?, "eb:Action")?,
            conversation_id: self.token(kids.required("eb:ConversationId")?, "eb:ConversationId")?,
        })
    }

    fn properties(&self, el: NodeId, within: &'static str) -> Result<Vec<Property>> {
        let kids = self.kids(el, within, &[(ns::EB, "Property", "eb:Property")], false)?;
        kids.one_or_more("eb:Property")?
            .into_iter()
            .map(|p| {
                Ok(Property {
                    name: self.required_attr(p, "name", "eb:Property")?,
                    property_type: self.attr(p, "type"),
                    value: self.text(p, "eb:Property")?,
                })
            })
            .collect()
    }

    fn part_info(&self, el: NodeId) -> Result<PartInfo> {
        let part_ref = match self.doc.attribute(el, None, "href") {
            None => PartRef::Body,
            Some(href) => {
                if let Some(cid) = href.strip_prefix("cid:") {
                    if cid.is_empty() {
                        return Err(EbmsParseError::InvalidValue {
                            location: "eb:PartInfo/@href",
                            reason: "empty content id".into(),
                        });
                    }
                    PartRef::Cid(cid.to_string())
                } else if let Some(id) = href.strip_prefix('#') {
                    if id.is_empty() {
                        return Err(EbmsParseError::InvalidValue {
                            location: "eb:PartInfo/@href",
                            reason: "empty fragment".into(),
                        });
                    }
                    PartRef::BodyElement(id.to_string())
                } else {
                    return Err(EbmsParseError::ExternalPayload(href.to_string()));
                }
            }
        };
        let kids = self.kids(
            el,
            "eb:PartInfo",
            &[
                (ns::EB, "Schema", "eb:Schema"),
                (ns::EB, "Description", "eb:Description"),
                (ns::EB, "PartProperties", "eb:PartProperties"),
            ],
            false,
        )?;
        let schema = kids
            .optional("eb:Schema")?
            .map(|s| {
                Ok::<_, EbmsParseError>(Schema {
                    location: self.required_attr(s, "location", "eb:Schema")?,
                    version: self.attr(s, "version"),
                    namespace: self.attr(s, "namespace"),
                })
            })
            .transpose()?;
        let description = kids
            .optional("eb:Description")?
            .map(|d| self.description(d))
            .transpose()?;
        let part_properties = match kids.optional("eb:PartProperties")? {
            Some(p) => self.properties(p, "eb:PartProperties")?,
            None => Vec::new(),
        };
        Ok(PartInfo {
            part_ref,
            schema,
            description,
            part_properties,
        })
    }

    fn description(&self, el: NodeId) -> Result<Description> {
        let lang = self
            .doc
            .attribute(el, Some(ns::XML), "lang")
            .ok_or(EbmsParseError::Missing {
                element: "xml:lang",
                within: "eb:Description",
            })?;
        Ok(Description {
            lang: lang.to_string(),
            text: self.text(el, "eb:Description")?,
        })
    }

    fn signal_message(&self, el: NodeId) -> Result<SignalMessage> {
        const WITHIN: &str = "eb:SignalMessage";
        let kids = self.kids(
            el,
            WITHIN,
            &[
                (ns::EB, "MessageInfo", "eb:MessageInfo"),
                (ns::EB, "PullRequest", "eb:PullRequest"),
                (ns::EB, "Receipt", "eb:Receipt"),
                (ns::EB, "Error", "eb:Error"),
            ],
            true,
        )?;
        let message_info = self.message_info(kids.required("eb:MessageInfo")?)?;
        let pull = kids.optional("eb:PullRequest")?;
        let receipt = kids.optional("eb:Receipt")?;
        let errors: Vec<NodeId> = kids.all("eb:Error").collect();
        let kinds = usize::from(pull.is_some()) + usize::from(receipt.is_some()) + usize::from(!errors.is_empty());
        if kinds > 1 {
            return Err(EbmsParseError::InvalidValue {
                location: WITHIN,
                reason: "holds more than one kind of signal".into(),
            });
        }
        let signal = if let Some(p) = pull {
            Signal::PullRequest(PullRequest {
                mpc: self.attr(p, "mpc"),
            })
        } else if let Some(r) = receipt {
            if message_info.ref_to_message_id.is_none() {
                return Err(EbmsParseError::Missing {
                    element: "eb:RefToMessageId",
                    within: "a Receipt signal",
                });
            }
            Signal::Receipt(self.receipt(r)?)
        } else if let Some(errors) = NonEmpty::from_vec(errors) {
            let parsed = errors
                .into_vec()
                .into_iter()
                .map(|e| self.error(e))
                .collect::<Result<Vec<_>>>()?;
            Signal::Errors(NonEmpty::from_vec(parsed).expect("non-empty input"))
        } else {
            return Err(EbmsParseError::Missing {
                element: "eb:PullRequest, eb:Receipt or eb:Error",
                within: WITHIN,
            });
        };
        Ok(SignalMessage { message_info, signal })
    }

    fn receipt(&self, el: NodeId) -> Result<Receipt> {
        let children: Vec<NodeId> = self.doc.child_elements(el).collect();
        if self.doc.children(el).iter().any(|c| !is_blank_text(self.doc, *c)) {
            return Err(EbmsParseError::Unexpected {
                found: "text".into(),
                within: "eb:Receipt",
            });
        }
        let [content] = children.as_slice() else {
            return Err(EbmsParseError::InvalidValue {
                location: "eb:Receipt",
                reason: format!("must hold exactly one element, found {}", children.len()),
            });
        };
        if self.doc.is(*content, ns::EBBP, "NonRepudiationInformation") {
            Ok(Receipt::NonRepudiation(self.non_repudiation(*content)?))
        } else if self.doc.is(*content, ns::EB, "UserMessage") {
            Ok(Receipt::UserMessageCopy(Box::new(self.user_message(*content)?)))
        } else {
            Err(EbmsParseError::UnrecognizedValue {
                location: "eb:Receipt",
                reason: format!("unknown receipt content {}", describe(self.doc, *content)),
            })
        }
    }

    fn non_repudiation(&self, el: NodeId) -> Result<NonRepudiationInformation> {
        const WITHIN: &str = "ebbp:NonRepudiationInformation";
        let kids = self.kids(
            el,
            WITHIN,
            &[(ns::EBBP, "MessagePartNRInformation", "ebbp:MessagePartNRInformation")],
            false,
        )?;
        let parts = kids
            .one_or_more("ebbp:MessagePartNRInformation")?
            .into_iter()
            .map(|p| {
                let kids = self.kids(
                    p,
                    "ebbp:MessagePartNRInformation",
                    &[
                        (ns::DS, "Reference", "ds:Reference"),
                        (ns::EBBP, "MessagePartIdentifier", "ebbp:MessagePartIdentifier"),
                    ],
                    false,
                )?;
                match (
                    kids.optional("ds:Reference")?,
                    kids.optional("ebbp:MessagePartIdentifier")?,
                ) {
                    (Some(r), None) => Ok(MessagePartNRInformation::Reference(self.reference(r)?)),
                    (None, Some(i)) => Ok(MessagePartNRInformation::MessagePartIdentifier(
                        self.token(i, "ebbp:MessagePartIdentifier")?,
                    )),
                    _ => Err(EbmsParseError::InvalidValue {
                        location: "ebbp:MessagePartNRInformation",
                        reason: "must hold one ds:Reference or one ebbp:MessagePartIdentifier".into(),
                    }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NonRepudiationInformation {
            parts: NonEmpty::from_vec(parts).expect("one_or_more"),
        })
    }

    fn reference(&self, el: NodeId) -> Result<Reference> {
        let kids = self.kids(
            el,
            "ds:Reference",
            &[
                (ns::DS, "Transforms", "ds:Transforms"),
                (ns::DS, "DigestMethod", "ds:DigestMethod"),
                (ns::DS, "DigestValue", "ds:DigestValue"),
            ],
            false,
        )?;
        let transforms = match kids.optional("ds:Transforms")? {
            None => Vec::new(),
            Some(t) => {
                let kids = self.kids(t, "ds:Transforms", &[(ns::DS, "Transform", "ds:Transform")], false)?;
                kids.one_or_more("ds:Transform")?
                    .into_iter()
                    .map(|tr| {
                        let algorithm = self.required_attr(tr, "Algorithm", "ds:Transform")?;
                        let inclusive_namespaces =
                            self.doc
                                .first_child(tr, ns::EXC_C14N, "InclusiveNamespaces")
                                .map(|inc| {
                                    self.doc
                                        .attribute(inc, None, "PrefixList")
                                        .unwrap_or("")
                                        .split(is_xml_space)
                                        .filter(|p| !p.is_empty())
                                        .map(str::to_string)
                                        .collect()
                                });
                        Ok(Transform {
                            algorithm,
                            inclusive_namespaces,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let digest_method = self.required_attr(kids.required("ds:DigestMethod")?, "Algorithm", "ds:DigestMethod")?;
        let digest_text = self.text(kids.required("ds:DigestValue")?, "ds:DigestValue")?;
        let compact: String = digest_text.chars().filter(|c| !is_xml_space(*c)).collect();
        let digest_value = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| EbmsParseError::InvalidValue {
                location: "ds:DigestValue",
                reason: e.to_string(),
            })?;
        if digest_value.is_empty() {
            return Err(EbmsParseError::InvalidValue {
                location: "ds:DigestValue",
                reason: "empty digest".into(),
            });
        }
        Ok(Reference {
            uri: self.attr(el, "URI"),
            transforms,
            digest_method,
            digest_value,
        })
    }

    fn error(&self, el: NodeId) -> Result<SignalError> {
        const WITHIN: &str = "eb:Error";
        let kids = self.kids(
            el,
            WITHIN,
            &[
                (ns::EB, "Description", "eb:Description"),
                (ns::EB, "ErrorDetail", "eb:ErrorDetail"),
            ],
            false,
        )?;
        let code = self.required_attr(el, "errorCode", WITHIN)?;
        let severity_text = self.required_attr(el, "severity", WITHIN)?;
        let severity = Severity::parse(&severity_text).ok_or_else(|| EbmsParseError::InvalidValue {
            location: "eb:Error/@severity",
            reason: format!("{severity_text:?} is neither failure nor warning"),
        })?;
        Ok(SignalError {
            error_code: SignalErrorCode::parse(&code),
            severity,
            category: self.attr(el, "category"),
            short_description: self.attr(el, "shortDescription"),
            ref_to_message_in_error: self.attr(el, "refToMessageInError"),
            origin: self.attr(el, "origin"),
            description: kids
                .optional("eb:Description")?
                .map(|d| self.description(d))
                .transpose()?,
            error_detail: kids
                .optional("eb:ErrorDetail")?
                .map(|d| self.text(d, "eb:ErrorDetail"))
                .transpose()?,
        })
    }
}
