//! The outbound business payload an access point builds for a message system: an SDK message v3 inside DIGG's XHE
//! envelope, written to one file while streaming.
//!
//! The envelope is rendered (and checked against every XHE rule) with a placeholder payload and split around it;
//! the SDK message is then streamed between the two halves with [`SdkMessage::write_to`], which base64-encodes each
//! attachment file in chunks. No attachment is ever held whole in memory, and [`LimitedWriter`] stops the write as
//! soon as the envelope outgrows the caller's limit.
//!
//! A message system that built the SDK message itself hands it over as a file: [`wrap_sdk_message_file`] validates
//! it ([`SdkMessage::parse`], errors name the rule) and copies its bytes into the envelope. A whole XHE built by the
//! client is validated by [`validate_client_xhe`].

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use xmldsig::dom::ParseLimits;

use super::message_v3::{
    Attention, ContentFile, DigitalDocument, FileContent, InstanceId, MessageError, MessageHeader, Party, SdkMessage,
    SubOrganization, FUNCTIONAL_ADDRESS_ROOT, MESSAGE_V3_DOCUMENT_TYPE,
};
use super::xhe::{
    BusinessScope, Participant, PayloadContent, Xhe, XheError, XhePayload, DOCUMENT_ID_SCHEME, PROCESS_ID_SCHEME,
};
use super::PARTICIPANT_SCHEME;

/// DOCUMENTID of an SDK message v3 (the SDK P-Mode's action without its `busdox-docid-qns::` scheme).
pub const SDK_MESSAGE_DOCUMENT_ID: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";
/// PROCESSID of SDK messages (DIGG's transport profile: no process).
pub const SDK_PROCESS_ID: &str = "bdx:noprocess";
/// FEDERATIONID written when the caller names none (the value of DIGG's XHE examples).
pub const DEFAULT_FEDERATION_ID: &str = "urn:fdc:digg.se:edelivery:federation:sdk";
/// The XML declaration [`SdkMessage::write_to`] starts with; dropped inside the envelope.
const XML_DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// Stands for the payload while the envelope is rendered; never appears in the output.
const PLACEHOLDER: &str = "<sdkap:payload xmlns:sdkap=\"urn:sdk-ap:outbound:placeholder\"/>";
/// Bytes copied per step from a client-built SDK message into the envelope.
const COPY_CHUNK: usize = 64 << 10;
/// How far into a client-built SDK message its XML declaration may end.
const MAX_PROLOG_BYTES: usize = 4096;

/// A sender or recipient: organisation (participant id such as `0203:2120000829`) and functional address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub participant: String,
    pub functional_address: String,
    /// Label of the functional address (e.g. "Socialtjänsten").
    pub functional_address_label: Option<String>,
    /// Label of the organisation.
    pub label: Option<String>,
}

/// A file of the business message: the business document or an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundFile {
    pub file_name: String,
    pub content_type: String,
    pub path: PathBuf,
}

/// What the message system asks the access point to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub sender: Address,
    pub recipient: Address,
    /// `messageHeader/label` (the subject).
    pub subject: Option<String>,
    pub confidentiality: bool,
    /// A new conversation (the SDK message id) when `None`.
    pub conversation_id: Option<String>,
    pub ref_to_message_id: Option<String>,
    /// References (e.g. case numbers) for the recipient's attention.
    pub references: Vec<InstanceId>,
    /// `documents/documentID` of the one document.
    pub document_id: String,
    pub document_name: Option<String>,
    /// `ContentText` values (short texts beside the files).
    pub texts: Vec<String>,
    /// The business document first, then the attachments.
    pub files: Vec<OutboundFile>,
    /// PROCESSID (default [`SDK_PROCESS_ID`]) and FEDERATIONID (default [`DEFAULT_FEDERATION_ID`]).
    pub process_id: Option<String>,
    pub federation_id: Option<String>,
}

/// What was written: the envelope's addressing, as the AS4 message must repeat it (TF-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub xhe_id: String,
    pub scope: BusinessScope,
    pub from: Participant,
    pub to: Participant,
    /// The SDK message inside, when it is one and readable (not encrypted).
    pub sdk_message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub sender_functional_address: Option<String>,
    /// Bytes written.
    pub bytes: u64,
}

/// Why the outbound payload could not be built or accepted.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Xhe(#[from] XheError),
    #[error("the envelope exceeds {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the XHE payload is not readable as an SDK message v3: {0}")]
    Payload(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl OutboundError {
    /// The rule ids that failed (empty for errors that are not rule violations).
    pub fn rule_ids(&self) -> Vec<&'static str> {
        match self {
            OutboundError::Message(e) => e.rule_ids(),
            OutboundError::Xhe(e) => e.rule_ids(),
            _ => Vec::new(),
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` (the pattern of the SDK message rule `creationDateTime`).
pub fn sdk_timestamp(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
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

impl OutboundMessage {
    /// The SDK message model (files as paths, so [`SdkMessage::write_to`] streams them).
    pub fn sdk_message(&self, message_id: &str, created: &str) -> SdkMessage {
        let functional = |a: &Address| SubOrganization {
            id: InstanceId::new(FUNCTIONAL_ADDRESS_ROOT, a.functional_address.clone()),
            label: a.functional_address_label.clone(),
        };
        SdkMessage {
            header: MessageHeader {
                creation_date_time: created.to_string(),
                message_id: message_id.to_string(),
                conversation_id: self.conversation_id.clone().unwrap_or_else(|| message_id.to_string()),
                ref_to_message_id: self.ref_to_message_id.clone(),
                label: self.subject.clone(),
                confidentiality: self.confidentiality,
                generating_system: None,
                recipient: Party {
                    id: InstanceId::new(PARTICIPANT_SCHEME, self.recipient.participant.clone()),
                    label: self.recipient.label.clone(),
                    attention: Some(Attention {
                        persons: Vec::new(),
                        sub_organization: functional(&self.recipient),
                        references: self
                            .references
                            .iter()
                            .map(|id| super::message_v3::Reference {
                                id: id.clone(),
                                label: None,
                            })
                            .collect(),
                    }),
                },
                sender: Party {
                    id: InstanceId::new(PARTICIPANT_SCHEME, self.sender.participant.clone()),
                    label: self.sender.label.clone(),
                    attention: Some(Attention {
                        persons: Vec::new(),
                        sub_organization: functional(&self.sender),
                        references: Vec::new(),
                    }),
                },
            },
            documents: vec![DigitalDocument {
                document_id: self.document_id.clone(),
                document_name: self.document_name.clone(),
                index: None,
                files: self
                    .files
                    .iter()
                    .map(|f| ContentFile {
                        file_name: f.file_name.clone(),
                        content_type: f.content_type.clone(),
                        content: FileContent::Path(f.path.clone()),
                    })
                    .collect(),
                texts: self.texts.clone(),
            }],
        }
    }

    fn scope(&self) -> BusinessScope {
        sdk_scope(self.process_id.as_deref(), self.federation_id.as_deref())
    }
}

/// The business scope of an SDK message v3 envelope.
pub fn sdk_scope(process_id: Option<&str>, federation_id: Option<&str>) -> BusinessScope {
    BusinessScope {
        document_id: SDK_MESSAGE_DOCUMENT_ID.into(),
        document_id_scheme: DOCUMENT_ID_SCHEME.into(),
        process_id: process_id.unwrap_or(SDK_PROCESS_ID).into(),
        process_id_scheme: PROCESS_ID_SCHEME.into(),
        federation_id: federation_id.unwrap_or(DEFAULT_FEDERATION_ID).into(),
    }
}

/// The envelope around an SDK message payload, rendered and validated, as the text before and after the payload.
fn envelope_halves(xhe_id: &str, scope: &BusinessScope, from: &str, to: &str) -> Result<(String, String), XheError> {
    let skeleton = Xhe {
        id: xhe_id.to_string(),
        creation_date_time: sdk_timestamp(time::OffsetDateTime::now_utc()),
        scope: scope.clone(),
        from: Participant::sdk(from),
        to: Participant::sdk(to),
        payload: XhePayload {
            document_type_code: MESSAGE_V3_DOCUMENT_TYPE.into(),
            content_type_code: "application/xml".into(),
            handling_service_id: None,
            content: PayloadContent::Xml(PLACEHOLDER.into()),
        },
    };
    let rendered = skeleton.render()?;
    let at = rendered.find(PLACEHOLDER).ok_or(XheError::Invalid {
        element: "Payload/PayloadContent",
        reason: "the payload placeholder was not rendered verbatim".into(),
    })?;
    Ok((
        rendered[..at].to_string(),
        rendered[at + PLACEHOLDER.len()..].to_string(),
    ))
}

/// Builds the SDK message for `message` and writes it, inside its XHE envelope, to `out`; at most `limit` bytes.
/// The SDK message header is validated before anything is written.
pub async fn write_sdk_envelope<W: AsyncWrite + Unpin>(
    message: &OutboundMessage,
    out: &mut W,
    limit: u64,
) -> Result<Envelope, OutboundError> {
    let sdk_message_id = uuid::Uuid::new_v4().to_string();
    let model = message.sdk_message(&sdk_message_id, &sdk_timestamp(time::OffsetDateTime::now_utc()));
    validate_without_files(&model)?;
    let xhe_id = uuid::Uuid::new_v4().to_string();
    let scope = message.scope();
    let (head, tail) = envelope_halves(
        &xhe_id,
        &scope,
        &message.sender.participant,
        &message.recipient.participant,
    )?;
    let mut limited = LimitedWriter::new(out, limit);
    limited.write_all(head.as_bytes()).await.map_err(|e| limited.error(e))?;
    {
        let mut inner = StripPrefix::new(&mut limited, XML_DECLARATION);
        model.write_to(&mut inner).await.map_err(|e| match e {
            MessageError::Io(_, io) if is_too_large(&io) => OutboundError::TooLarge { limit },
            other => other.into(),
        })?;
    }
    limited.write_all(tail.as_bytes()).await.map_err(|e| limited.error(e))?;
    limited.flush().await?;
    Ok(Envelope {
        xhe_id,
        scope,
        from: Participant::sdk(message.sender.participant.clone()),
        to: Participant::sdk(message.recipient.participant.clone()),
        conversation_id: Some(model.header.conversation_id.clone()),
        sdk_message_id: Some(sdk_message_id),
        sender_functional_address: Some(message.sender.functional_address.clone()),
        bytes: limited.written,
    })
}

/// Checks every rule of the SDK message with the file contents stood in for, so that nothing is written for a
/// message that would not validate.
fn validate_without_files(model: &SdkMessage) -> Result<(), MessageError> {
    let mut skeleton = model.clone();
    for document in &mut skeleton.documents {
        for file in &mut document.files {
            file.content = FileContent::Bytes(b"probe".to_vec());
        }
    }
    skeleton.render().map(drop)
}

/// Validates the SDK message a client built (the file at `path`, parsed under `limits`) and writes it, inside a new
/// XHE envelope addressed from its sender to its recipient, to `out`; at most `limit` bytes.
pub async fn wrap_sdk_message_file<W: AsyncWrite + Unpin>(
    path: &Path,
    limits: &ParseLimits,
    scope: &BusinessScope,
    out: &mut W,
    limit: u64,
) -> Result<Envelope, OutboundError> {
    let bytes = read_bounded(path, limits.max_bytes).await?;
    let message = SdkMessage::parse(&bytes, limits)?;
    let body_start = prolog_length(&bytes);
    drop(bytes);
    let sender = message.header.sender.id.extension.clone();
    let recipient = message.header.recipient.id.extension.clone();
    let xhe_id = uuid::Uuid::new_v4().to_string();
    let (head, tail) = envelope_halves(&xhe_id, scope, &sender, &recipient)?;
    let mut limited = LimitedWriter::new(out, limit);
    limited.write_all(head.as_bytes()).await.map_err(|e| limited.error(e))?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut skip = body_start as u64;
    let mut buffer = vec![0u8; COPY_CHUNK];
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        let from = usize::try_from(skip.min(n as u64)).unwrap_or(n);
        skip -= from as u64;
        limited
            .write_all(&buffer[from..n])
            .await
            .map_err(|e| limited.error(e))?;
    }
    limited.write_all(tail.as_bytes()).await.map_err(|e| limited.error(e))?;
    limited.flush().await?;
    Ok(Envelope {
        xhe_id,
        scope: scope.clone(),
        from: Participant::sdk(sender),
        to: Participant::sdk(recipient),
        conversation_id: Some(message.header.conversation_id.clone()),
        sender_functional_address: message
            .header
            .sender
            .attention
            .as_ref()
            .map(|a| a.sub_organization.id.extension.clone()),
        sdk_message_id: Some(message.header.message_id),
        bytes: limited.written,
    })
}

/// Validates a whole XHE a client built (the file at `path`, parsed under `limits`): DIGG's XHE rules, and, when the
/// payload is a readable SDK message v3, the SDK message rules too.
pub async fn validate_client_xhe(path: &Path, limits: &ParseLimits) -> Result<Envelope, OutboundError> {
    let bytes = read_bounded(path, limits.max_bytes).await?;
    let size = bytes.len() as u64;
    let xhe = Xhe::parse(&bytes, limits)?;
    drop(bytes);
    let mut envelope = Envelope {
        xhe_id: xhe.id.clone(),
        scope: xhe.scope.clone(),
        from: xhe.from.clone(),
        to: xhe.to.clone(),
        sdk_message_id: None,
        conversation_id: None,
        sender_functional_address: None,
        bytes: size,
    };
    if xhe.payload.document_type_code == MESSAGE_V3_DOCUMENT_TYPE {
        match &xhe.payload.content {
            PayloadContent::Xml(inner) => {
                let message = SdkMessage::parse(inner.as_bytes(), limits)?;
                if message.header.sender.id.extension != xhe.from.id
                    || message.header.recipient.id.extension != xhe.to.id
                {
                    return Err(OutboundError::Payload(format!(
                        "the SDK message is from {} to {}, the XHE from {} to {}",
                        message.header.sender.id.extension,
                        message.header.recipient.id.extension,
                        xhe.from.id,
                        xhe.to.id
                    )));
                }
                envelope.sender_functional_address = message
                    .header
                    .sender
                    .attention
                    .as_ref()
                    .map(|a| a.sub_organization.id.extension.clone());
                envelope.conversation_id = Some(message.header.conversation_id.clone());
                envelope.sdk_message_id = Some(message.header.message_id);
            }
            PayloadContent::Text(_) => {
                return Err(OutboundError::Payload(
                    "the DocumentTypeCode names an SDK message but the payload is text".into(),
                ))
            }
            PayloadContent::Encrypted(_) => {}
        }
    }
    Ok(envelope)
}

/// Reads a file of at most `max` bytes (a client-built document about to be parsed into the DOM).
async fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, OutboundError> {
    let size = tokio::fs::metadata(path).await?.len();
    if size > max as u64 {
        return Err(OutboundError::TooLarge { limit: max as u64 });
    }
    Ok(tokio::fs::read(path).await?)
}

/// Bytes before the root element that must not be copied into the envelope: a UTF-8 byte order mark, an XML
/// declaration, and the white space around them.
fn prolog_length(bytes: &[u8]) -> usize {
    let mut at = 0;
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        at = 3;
    }
    let skip_space = |mut i: usize| {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    at = skip_space(at);
    if bytes[at..].starts_with(b"<?xml") {
        let window = &bytes[at..bytes.len().min(at + MAX_PROLOG_BYTES)];
        if let Some(end) = memchr::memmem::find(window, b"?>") {
            at = skip_space(at + end + 2);
        }
    }
    at
}

fn is_too_large(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>())
}

/// The marker error [`LimitedWriter`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("write limit exceeded")]
struct LimitExceeded;

/// Counts what passes and fails a write that would exceed `limit` bytes.
pub struct LimitedWriter<'a, W> {
    inner: &'a mut W,
    limit: u64,
    written: u64,
}

impl<'a, W: AsyncWrite + Unpin> LimitedWriter<'a, W> {
    pub fn new(inner: &'a mut W, limit: u64) -> Self {
        LimitedWriter {
            inner,
            limit,
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn error(&self, e: std::io::Error) -> OutboundError {
        if is_too_large(&e) {
            OutboundError::TooLarge { limit: self.limit }
        } else {
            OutboundError::Io(e)
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for LimitedWriter<'_, W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.written + buf.len() as u64 > this.limit {
            return Poll::Ready(Err(std::io::Error::other(LimitExceeded)));
        }
        let poll = Pin::new(&mut *this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            this.written += *n as u64;
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Drops an expected prefix of what is written (the SDK message's XML declaration, which must not appear inside
/// the envelope); fails if the output does not start with it.
struct StripPrefix<'a, W> {
    inner: &'a mut W,
    prefix: &'static [u8],
    matched: usize,
}

impl<'a, W> StripPrefix<'a, W> {
    fn new(inner: &'a mut W, prefix: &'static [u8]) -> Self {
        StripPrefix {
            inner,
            prefix,
            matched: 0,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for StripPrefix<'_, W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.matched < this.prefix.len() {
            let n = buf.len().min(this.prefix.len() - this.matched);
            if buf[..n] != this.prefix[this.matched..this.matched + n] {
                return Poll::Ready(Err(std::io::Error::other(
                    "the SDK message does not start with the expected XML declaration",
                )));
            }
            this.matched += n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut *this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(participant: &str, fa: &str) -> Address {
        Address {
            participant: participant.into(),
            functional_address: fa.into(),
            functional_address_label: None,
            label: None,
        }
    }

    fn message(files: Vec<OutboundFile>) -> OutboundMessage {
        OutboundMessage {
            sender: address("0203:a.example.se", "a.funktion"),
            recipient: address("0203:b.example.se", "b.funktion"),
            subject: Some("Ärende <1> & mer".into()),
            confidentiality: true,
            conversation_id: None,
            ref_to_message_id: None,
            references: vec![InstanceId::new("diarie", "2024-17")],
            document_id: "SDK-Meddelande".into(),
            document_name: Some("Brev".into()),
            texts: vec!["Hej".into()],
            files,
            process_id: None,
            federation_id: None,
        }
    }

    fn big_limits() -> ParseLimits {
        ParseLimits {
            max_bytes: 64 << 20,
            max_nodes: usize::MAX,
            ..ParseLimits::default()
        }
    }

    #[tokio::test]
    async fn streamed_envelope_parses_as_xhe_and_sdk_message() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(super::super::message_v3::BASE64_CHUNK * 2 + 5))
            .map(|i| (i * 31 % 256) as u8)
            .collect();
        let path = dir.path().join("doc.pdf");
        std::fs::write(&path, &data).unwrap();
        let outbound = message(vec![OutboundFile {
            file_name: "doc.pdf".into(),
            content_type: "application/pdf".into(),
            path,
        }]);
        let mut out = Vec::new();
        let envelope = write_sdk_envelope(&outbound, &mut out, u64::MAX).await.unwrap();
        assert_eq!(envelope.bytes, out.len() as u64);
        let xhe = Xhe::parse(&out, &big_limits()).unwrap();
        assert_eq!(
            (xhe.from.id.as_str(), xhe.to.id.as_str()),
            ("0203:a.example.se", "0203:b.example.se")
        );
        assert_eq!(xhe.scope.ebms_action(), pmode::builtin::SDK_MESSAGE_ACTION);
        assert_eq!(xhe.scope.process_id, pmode::builtin::SDK_SERVICE);
        let PayloadContent::Xml(inner) = &xhe.payload.content else {
            panic!("payload is not XML")
        };
        let sdk = SdkMessage::parse(inner.as_bytes(), &big_limits()).unwrap();
        assert_eq!(sdk.documents[0].files[0].content, FileContent::Bytes(data));
        assert_eq!(sdk.header.label.as_deref(), Some("Ärende <1> & mer"));
        assert_eq!(Some(sdk.header.message_id), envelope.sdk_message_id);
    }

    #[tokio::test]
    async fn the_limit_stops_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, vec![7u8; 300_000]).unwrap();
        let outbound = message(vec![OutboundFile {
            file_name: "big.bin".into(),
            content_type: "application/octet-stream".into(),
            path,
        }]);
        let mut out = Vec::new();
        let err = write_sdk_envelope(&outbound, &mut out, 100_000).await.unwrap_err();
        assert!(matches!(err, OutboundError::TooLarge { limit: 100_000 }), "{err:?}");
        assert!(out.len() <= 100_000);
    }

    #[tokio::test]
    async fn a_rule_breaking_message_is_refused_before_writing() {
        let mut outbound = message(Vec::new());
        outbound.conversation_id = Some("not-a-uuid".into());
        let mut out = Vec::new();
        let err = write_sdk_envelope(&outbound, &mut out, u64::MAX).await.unwrap_err();
        assert_eq!(err.rule_ids(), vec!["conversationId"]);
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn client_built_message_is_validated_and_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let rendered = super::super::message_v3::tests::sample().render().unwrap();
        let good = dir.path().join("good.xml");
        std::fs::write(&good, format!("\u{feff}{rendered}")).unwrap();
        let scope = sdk_scope(None, None);
        let mut out = Vec::new();
        let envelope = wrap_sdk_message_file(&good, &big_limits(), &scope, &mut out, u64::MAX)
            .await
            .unwrap();
        assert_eq!(envelope.from.id, "0203:a.example.se");
        assert_eq!(envelope.sender_functional_address.as_deref(), Some("a.funktion"));
        let xhe_file = dir.path().join("xhe.xml");
        std::fs::write(&xhe_file, &out).unwrap();
        let checked = validate_client_xhe(&xhe_file, &big_limits()).await.unwrap();
        assert_eq!(checked.sdk_message_id, envelope.sdk_message_id);

        let bad = dir.path().join("bad.xml");
        std::fs::write(
            &bad,
            rendered.replace(
                "7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:messageId>",
                "x</tns:messageId>",
            ),
        )
        .unwrap();
        let err = wrap_sdk_message_file(&bad, &big_limits(), &scope, &mut Vec::new(), u64::MAX)
            .await
            .unwrap_err();
        assert_eq!(err.rule_ids(), vec!["MessageId"]);
    }

    #[tokio::test]
    async fn client_built_xhe_rules_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let xml = crate::sdk::xhe::tests::sample()
            .render()
            .unwrap()
            .replace(super::super::xhe::XHE_CUSTOMIZATION_ID, "urn:other");
        let path = dir.path().join("x.xml");
        std::fs::write(&path, xml).unwrap();
        let err = validate_client_xhe(&path, &big_limits()).await.unwrap_err();
        assert_eq!(err.rule_ids(), vec!["R3-XHE"]);
    }

    #[test]
    fn prolog_is_skipped() {
        assert_eq!(prolog_length(b"<a/>"), 0);
        assert_eq!(prolog_length(b"\xEF\xBB\xBF <?xml version=\"1.0\"?>\n<a/>"), 26);
    }
}
