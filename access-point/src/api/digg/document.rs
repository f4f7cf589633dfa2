//! The JSON:API documents of DIGG's API (`createMessage`, `outputData`, `outputArrayData`) and their mapping onto
//! the SDK message v3 model ([`SdkMessage`]).
//!
//! | DIGG attribute | SDK message v3 |
//! |---|---|
//! | `creationDateTime`, `messageId`, `conversationId`, `refToMessageId`, `confidentiality`, `label` | `messageHeader` elements of the same names |
//! | `generatingSystem {root, extension}` | `messageHeader/generatingSystem` |
//! | `sender` / `recipient` | `sender/senderID` / `recipient/recipientID` extension (root `iso6523-actorid-upis`) |
//! | `senderAttention` / `recipientAttention` | `sender/attention` / `recipient/attention`: `subOrganization` (functional address), `attentionPerson`, `referenceId` |
//! | `digitalDocument[]` | `messageBody/documents`: `documentId`, `documentName`, `index`, `contentTextBody[]` = `ContentText/characterSequence`, `contentFiles[]` = `ContentFiles` (base64) |

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::sdk::message_v3::{
    Attention, ContentFile, DigitalDocument, FileContent, InstanceId, MessageHeader, Party, Person, Reference,
    SdkMessage, SubOrganization, FUNCTIONAL_ADDRESS_ROOT,
};
use crate::sdk::PARTICIPANT_SCHEME;

/// JSON:API resource type of every message.
pub const RESOURCE_TYPE: &str = "messages";
/// `meta.version` (the `versionDef` enum of DIGG's file).
pub const API_VERSION: &str = "sdk api 1.0.0";

/// `createMessage`: the body of `POST /v1/sdk/messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateDocument {
    pub data: CreateData,
}

/// `messageCreateDef`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateData {
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub id: Option<String>,
    pub attributes: MessageAttributes,
}

/// `generatingSystemDef`, also used for persons and references (`root`, `extension`, `label`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(default)]
    pub root: String,
    #[serde(default)]
    pub extension: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `recipientAttentionDef` / `senderAttentionDef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttentionDef {
    pub sub_organization: Identifier,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention_person: Vec<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_id: Vec<Identifier>,
}

/// `contentFileDef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentFileDef {
    pub file_name: String,
    pub content_type: String,
    /// Base64.
    pub content: String,
}

/// `DigitalDocumentDef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigitalDocumentDef {
    pub document_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_text_body: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_files: Vec<ContentFileDef>,
}

/// `messageAttributesDef` (answers) and `messageCreateAttributesDef` (requests: status, ids and time optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_to_message_id: Option<String>,
    pub confidentiality: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generating_system: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_attention: Option<AttentionDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_attention: Option<AttentionDef>,
    pub sender: String,
    pub recipient: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digital_document: Option<Vec<DigitalDocumentDef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<serde_json::Value>,
}

/// Why a create document does not make an SDK message: `(where, what)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub location: String,
    pub message: String,
}

impl MappingError {
    fn new(location: impl Into<String>, message: impl Into<String>) -> MappingError {
        MappingError {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// The current time as the SDK message's `creationDateTime` wants it (`YYYY-MM-DDThh:mm:ss.sssZ`, UTC).
pub fn sdk_timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

fn attention_from(def: &AttentionDef, at: &str) -> Result<Attention, MappingError> {
    let sub = &def.sub_organization;
    if sub.extension.trim().is_empty() {
        return Err(MappingError::new(
            format!("{at}.subOrganization.extension"),
            "the functional address (subOrganization.extension) is required",
        ));
    }
    let root = if sub.root.trim().is_empty() {
        FUNCTIONAL_ADDRESS_ROOT.to_string()
    } else {
        sub.root.clone()
    };
    Ok(Attention {
        persons: def
            .attention_person
            .iter()
            .map(|p| Person {
                id: Some(InstanceId::new(p.root.clone(), p.extension.clone())),
                label: p.label.clone().filter(|l| !l.is_empty()),
            })
            .collect(),
        sub_organization: SubOrganization {
            id: InstanceId::new(root, sub.extension.clone()),
            label: sub.label.clone().filter(|l| !l.is_empty()),
        },
        references: def
            .reference_id
            .iter()
            .map(|r| Reference {
                id: InstanceId::new(r.root.clone(), r.extension.clone()),
                label: r.label.clone().filter(|l| !l.is_empty()),
            })
            .collect(),
    })
}

fn attention_to(attention: &Attention) -> AttentionDef {
    AttentionDef {
        sub_organization: Identifier {
            root: attention.sub_organization.id.root.clone(),
            extension: attention.sub_organization.id.extension.clone(),
            label: attention.sub_organization.label.clone(),
        },
        // personDef / referenceDef require root, extension and label: absent values are written as "".
        attention_person: attention
            .persons
            .iter()
            .map(|p| Identifier {
                root: p.id.as_ref().map(|i| i.root.clone()).unwrap_or_default(),
                extension: p.id.as_ref().map(|i| i.extension.clone()).unwrap_or_default(),
                label: Some(p.label.clone().unwrap_or_default()),
            })
            .collect(),
        reference_id: attention
            .references
            .iter()
            .map(|r| Identifier {
                root: r.id.root.clone(),
                extension: r.id.extension.clone(),
                label: Some(r.label.clone().unwrap_or_default()),
            })
            .collect(),
    }
}

impl CreateData {
    /// The SDK message this create document describes; ids and creation time the client left out are generated
    /// (B1.4.2: "Attributet ska då sättas av API producent"). A `messageStatus` is refused: the client must not set it.
    pub fn to_sdk_message(&self) -> Result<SdkMessage, MappingError> {
        if self.resource_type != RESOURCE_TYPE {
            return Err(MappingError::new(
                "data.type",
                format!("type must be {RESOURCE_TYPE:?}, not {:?}", self.resource_type),
            ));
        }
        let a = &self.attributes;
        if a.message_status.is_some() {
            return Err(MappingError::new(
                "data.attributes.messageStatus",
                "messageStatus is set by the message service, not by the client",
            ));
        }
        for (name, value) in [("sender", &a.sender), ("recipient", &a.recipient), ("label", &a.label)] {
            if value.trim().is_empty() {
                return Err(MappingError::new(
                    format!("data.attributes.{name}"),
                    format!("{name} must not be empty"),
                ));
            }
        }
        let Some(recipient_attention) = &a.recipient_attention else {
            return Err(MappingError::new(
                "data.attributes.recipientAttention",
                "recipientAttention (the recipient's functional address) is required by the SDK message",
            ));
        };
        let message_id = a.message_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let documents = a
            .digital_document
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, d)| document_from(d, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SdkMessage {
            header: MessageHeader {
                creation_date_time: a.creation_date_time.clone().unwrap_or_else(sdk_timestamp_now),
                conversation_id: a.conversation_id.clone().unwrap_or_else(|| message_id.clone()),
                message_id,
                ref_to_message_id: a.ref_to_message_id.clone(),
                label: Some(a.label.clone()),
                confidentiality: a.confidentiality,
                generating_system: a
                    .generating_system
                    .as_ref()
                    .map(|g| InstanceId::new(g.root.clone(), g.extension.clone())),
                recipient: Party {
                    id: InstanceId::new(PARTICIPANT_SCHEME, a.recipient.clone()),
                    label: None,
                    attention: Some(attention_from(
                        recipient_attention,
                        "data.attributes.recipientAttention",
                    )?),
                },
                sender: Party {
                    id: InstanceId::new(PARTICIPANT_SCHEME, a.sender.clone()),
                    label: None,
                    attention: a
                        .sender_attention
                        .as_ref()
                        .map(|s| attention_from(s, "data.attributes.senderAttention"))
                        .transpose()?,
                },
            },
            documents,
        })
    }
}

fn document_from(d: &DigitalDocumentDef, index: usize) -> Result<DigitalDocument, MappingError> {
    let files = d
        .content_files
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.content.trim())
                .map_err(|e| {
                    MappingError::new(
                        format!("data.attributes.digitalDocument[{index}].contentFiles[{j}].content"),
                        format!("content is not base64: {e}"),
                    )
                })?;
            Ok(ContentFile {
                file_name: f.file_name.clone(),
                content_type: f.content_type.clone(),
                content: FileContent::Bytes(bytes),
            })
        })
        .collect::<Result<Vec<_>, MappingError>>()?;
    Ok(DigitalDocument {
        document_id: d.document_id.clone(),
        document_name: d.document_name.clone(),
        index: d.index.clone(),
        files,
        texts: d.content_text_body.clone(),
    })
}

/// The attributes DIGG shows for an SDK message; `with_documents` false leaves `digitalDocument` out (the list
/// operation always does, B1.4.2 rule [1]).
pub fn attributes_of(message: &SdkMessage, status: &str, with_documents: bool) -> MessageAttributes {
    let h = &message.header;
    let engine = base64::engine::general_purpose::STANDARD;
    MessageAttributes {
        message_status: Some(status.to_string()),
        creation_date_time: Some(h.creation_date_time.clone()),
        message_id: Some(h.message_id.clone()),
        conversation_id: Some(h.conversation_id.clone()),
        ref_to_message_id: h.ref_to_message_id.clone(),
        confidentiality: h.confidentiality,
        generating_system: h.generating_system.as_ref().map(|g| Identifier {
            root: g.root.clone(),
            extension: g.extension.clone(),
            label: None,
        }),
        recipient_attention: h.recipient.attention.as_ref().map(attention_to),
        sender_attention: h.sender.attention.as_ref().map(attention_to),
        sender: h.sender.id.extension.clone(),
        recipient: h.recipient.id.extension.clone(),
        label: h.label.clone().unwrap_or_default(),
        digital_document: with_documents.then(|| {
            message
                .documents
                .iter()
                .map(|d| DigitalDocumentDef {
                    document_id: d.document_id.clone(),
                    document_name: d.document_name.clone(),
                    index: d.index.clone(),
                    content_text_body: d.texts.clone(),
                    content_files: d
                        .files
                        .iter()
                        .map(|f| ContentFileDef {
                            file_name: f.file_name.clone(),
                            content_type: f.content_type.clone(),
                            content: match &f.content {
                                FileContent::Bytes(bytes) => engine.encode(bytes),
                                // Parsed messages always hold bytes; a path is only used when building.
                                FileContent::Path(_) => String::new(),
                            },
                        })
                        .collect(),
                })
                .collect()
        }),
        events: None,
    }
}

/// One `messageDef` resource.
pub fn resource(id: &str, attributes: &MessageAttributes) -> serde_json::Value {
    serde_json::json!({
        "type": RESOURCE_TYPE,
        "id": id,
        "attributes": attributes,
    })
}

/// `outputData` / `outputArrayData`: `meta.version`, `links.self` and `data`.
pub fn top_level(self_link: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "meta": { "version": API_VERSION },
        "links": { "self": self_link },
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_json() -> serde_json::Value {
        serde_json::json!({
            "data": {
                "type": "messages",
                "attributes": {
                    "confidentiality": false,
                    "label": "Rubrik",
                    "sender": "0203:a.example.se",
                    "recipient": "0203:b.example.se",
                    "senderAttention": {"subOrganization": {"extension": "sdk:utkorg:0203:a.example.se"}},
                    "recipientAttention": {
                        "subOrganization": {"root": FUNCTIONAL_ADDRESS_ROOT, "extension": "sdk:inkorg:0203:b.example.se", "label": "Inkorg"},
                        "attentionPerson": [{"root": "1.2.752.29.6.2.1", "extension": "SE2321000016-1", "label": "Anna"}]
                    },
                    "digitalDocument": [{
                        "documentId": "d1", "index": "1", "contentTextBody": ["Hej"],
                        "contentFiles": [{"fileName": "a.txt", "contentType": "text/plain", "content": "aGVq"}]
                    }]
                }
            }
        })
    }

    #[test]
    fn create_document_maps_to_a_valid_sdk_message_and_back() {
        let doc: CreateDocument = serde_json::from_value(create_json()).unwrap();
        let message = doc.data.to_sdk_message().unwrap();
        let xml = message.render().unwrap();
        let parsed = SdkMessage::parse(xml.as_bytes(), &xmldsig::dom::ParseLimits::default()).unwrap();
        assert_eq!(parsed.header.conversation_id, parsed.header.message_id);
        let attributes = attributes_of(&parsed, "NEW", true);
        assert_eq!(attributes.sender, "0203:a.example.se");
        assert_eq!(
            attributes
                .recipient_attention
                .as_ref()
                .unwrap()
                .sub_organization
                .extension,
            "sdk:inkorg:0203:b.example.se"
        );
        let files = &attributes.digital_document.as_ref().unwrap()[0].content_files;
        assert_eq!(files[0].content, "aGVq");
        assert!(attributes_of(&parsed, "NEW", false).digital_document.is_none());
    }

    #[test]
    fn refuses_what_the_client_must_not_or_cannot_give() {
        let mut json = create_json();
        json["data"]["attributes"]["messageStatus"] = "NEW".into();
        let doc: CreateDocument = serde_json::from_value(json).unwrap();
        assert_eq!(
            doc.data.to_sdk_message().unwrap_err().location,
            "data.attributes.messageStatus"
        );

        let mut json = create_json();
        json["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0]["content"] = "%%%".into();
        let doc: CreateDocument = serde_json::from_value(json).unwrap();
        assert!(doc
            .data
            .to_sdk_message()
            .unwrap_err()
            .location
            .ends_with("contentFiles[0].content"));

        let mut json = create_json();
        json["data"]["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("recipientAttention");
        let doc: CreateDocument = serde_json::from_value(json).unwrap();
        assert_eq!(
            doc.data.to_sdk_message().unwrap_err().location,
            "data.attributes.recipientAttention"
        );

        let mut json = create_json();
        json["data"]["type"] = "letters".into();
        let doc: CreateDocument = serde_json::from_value(json).unwrap();
        assert_eq!(doc.data.to_sdk_message().unwrap_err().location, "data.type");
    }

    #[test]
    fn timestamps_have_the_sdk_form() {
        let t = sdk_timestamp_now();
        assert_eq!(t.len(), "2024-01-30T17:52:58.123Z".len());
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.');
    }
}
