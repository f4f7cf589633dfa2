//! The ebMS3 header model: [`Messaging`] holding at most one [`UserMessage`] and any number of [`SignalMessage`]s.
//! Types keep invalid headers out: a Messaging has at least one message unit, a party at least one PartyId, a
//! receipt signal refers to a message, an Error signal has at least one error.

use super::error::{Category, EbmsError, Severity};
use super::ids::{MessageId, Timestamp};
use super::ns;
use crate::ebms::ErrorCode;

/// A non-empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty<T> {
    first: T,
    rest: Vec<T>,
}

impl<T> NonEmpty<T> {
    pub fn new(first: T) -> Self {
        NonEmpty {
            first,
            rest: Vec::new(),
        }
    }

    /// `None` when `items` is empty.
    pub fn from_vec(mut items: Vec<T>) -> Option<Self> {
        if items.is_empty() {
            return None;
        }
        let first = items.remove(0);
        Some(NonEmpty { first, rest: items })
    }

    pub fn push(&mut self, item: T) {
        self.rest.push(item);
    }

    pub fn first(&self) -> &T {
        &self.first
    }

    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    pub fn into_vec(self) -> Vec<T> {
        let mut v = Vec::with_capacity(1 + self.rest.len());
        v.push(self.first);
        v.extend(self.rest);
        v
    }
}

/// Why a model value was refused by a constructor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("eb:Messaging must hold at least one message unit")]
    NoMessageUnit,
    #[error("a PartyId without type must be a URI, got {0:?}")]
    PartyIdNotUri(String),
    #[error("a Service without type must be a URI, got {0:?}")]
    ServiceNotUri(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{field} must not start or end with whitespace: {value:?}")]
    SurroundingWhitespace { field: &'static str, value: String },
    #[error("{field} holds a character that XML cannot carry (U+{code:04X})")]
    NotXmlChar { field: &'static str, code: u32 },
}

/// The `eb:Messaging` header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messaging {
    user_message: Option<UserMessage>,
    signal_messages: Vec<SignalMessage>,
}

impl Messaging {
    /// A header with one UserMessage.
    pub fn user(user_message: UserMessage) -> Messaging {
        Messaging {
            user_message: Some(user_message),
            signal_messages: Vec::new(),
        }
    }

    /// A header with one SignalMessage.
    pub fn signal(signal: SignalMessage) -> Messaging {
        Messaging {
            user_message: None,
            signal_messages: vec![signal],
        }
    }

    /// Any combination with at least one message unit.
    pub fn new(
        user_message: Option<UserMessage>,
        signal_messages: Vec<SignalMessage>,
    ) -> Result<Messaging, ModelError> {
        if user_message.is_none() && signal_messages.is_empty() {
            return Err(ModelError::NoMessageUnit);
        }
        Ok(Messaging {
            user_message,
            signal_messages,
        })
    }

    /// Adds a signal (e.g. a receipt bundled with a pulled UserMessage).
    pub fn with_signal(mut self, signal: SignalMessage) -> Messaging {
        self.signal_messages.push(signal);
        self
    }

    pub fn user_message(&self) -> Option<&UserMessage> {
        self.user_message.as_ref()
    }

    pub fn signal_messages(&self) -> &[SignalMessage] {
        &self.signal_messages
    }

    pub fn into_parts(self) -> (Option<UserMessage>, Vec<SignalMessage>) {
        (self.user_message, self.signal_messages)
    }
}

/// `eb:MessageInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub timestamp: Timestamp,
    pub message_id: MessageId,
    pub ref_to_message_id: Option<MessageId>,
}

impl MessageInfo {
    pub fn new(message_id: MessageId, timestamp: Timestamp) -> MessageInfo {
        MessageInfo {
            timestamp,
            message_id,
            ref_to_message_id: None,
        }
    }

    pub fn replying_to(mut self, ref_to: MessageId) -> MessageInfo {
        self.ref_to_message_id = Some(ref_to);
        self
    }
}

/// `eb:UserMessage`. Every required part of the header is a required field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    /// The `mpc` attribute as written; `None` means the default MPC (see [`UserMessage::effective_mpc`]).
    pub mpc: Option<String>,
    pub message_info: MessageInfo,
    pub party_info: PartyInfo,
    pub collaboration_info: CollaborationInfo,
    /// `eb:MessageProperties/eb:Property`; empty means the element is absent (the schema forbids it empty).
    pub message_properties: Vec<Property>,
    /// `eb:PayloadInfo/eb:PartInfo`; empty means the element is absent.
    pub payload_info: Vec<PartInfo>,
}

impl UserMessage {
    /// The MPC this message is in: the attribute, or the ebMS default MPC.
    pub fn effective_mpc(&self) -> &str {
        self.mpc.as_deref().unwrap_or(ns::DEFAULT_MPC)
    }

    /// The first message property with this name.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.message_properties.iter().find(|p| p.name == name)
    }

    /// Whether this is a message to the ebMS test service (and action), which is acknowledged but not delivered.
    pub fn is_test_message(&self) -> bool {
        self.collaboration_info.service.is_test_service()
    }

    /// Checks the AS4 profile constraints that ebMS3 itself leaves open: exactly one PartyId for each party.
    pub fn check_as4_profile(&self) -> Result<(), EbmsError> {
        for (side, party) in [("From", &self.party_info.from), ("To", &self.party_info.to)] {
            if party.party_ids.len() != 1 {
                return Err(EbmsError::new(
                    ErrorCode::ValueInconsistent,
                    format!(
                        "AS4 requires exactly one PartyId in {side}, found {}",
                        party.party_ids.len()
                    ),
                )
                .with_ref_to_message(self.message_info.message_id.as_str()));
            }
        }
        Ok(())
    }
}

/// `eb:PartyInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyInfo {
    pub from: Party,
    pub to: Party,
}

/// `eb:From` / `eb:To`: one or more PartyIds and a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub party_ids: NonEmpty<PartyId>,
    pub role: String,
}

impl Party {
    pub fn new(party_id: PartyId, role: impl Into<String>) -> Party {
        Party {
            party_ids: NonEmpty::new(party_id),
            role: role.into(),
        }
    }

    /// The PartyId when there is exactly one (the AS4 profile case).
    pub fn single_party_id(&self) -> Option<&PartyId> {
        (self.party_ids.len() == 1).then(|| self.party_ids.first())
    }
}

/// `eb:PartyId` with its optional `type`. Without a type, the value must be a URI (ebMS3 §5.2.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartyId {
    value: String,
    party_type: Option<String>,
}

impl PartyId {
    pub fn new(value: impl Into<String>, party_type: Option<String>) -> Result<PartyId, ModelError> {
        let value = value.into();
        check_token("PartyId", &value)?;
        if party_type.is_none() && !super::ids::is_absolute_uri(&value) {
            return Err(ModelError::PartyIdNotUri(value));
        }
        Ok(PartyId { value, party_type })
    }

    /// A PartyId with a type (the usual case, e.g. the SDK AP party type).
    pub fn typed(value: impl Into<String>, party_type: impl Into<String>) -> Result<PartyId, ModelError> {
        PartyId::new(value, Some(party_type.into()))
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn party_type(&self) -> Option<&str> {
        self.party_type.as_deref()
    }
}

/// `eb:CollaborationInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollaborationInfo {
    pub agreement_ref: Option<AgreementRef>,
    pub service: Service,
    pub action: String,
    pub conversation_id: String,
}

/// `eb:AgreementRef` with optional `type` and `pmode` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRef {
    pub value: String,
    pub agreement_type: Option<String>,
    pub pmode: Option<String>,
}

/// `eb:Service` with optional `type`. Without a type the value must be a URI (ebMS3 §5.2.2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    value: String,
    service_type: Option<String>,
}

impl Service {
    pub fn new(value: impl Into<String>, service_type: Option<String>) -> Result<Service, ModelError> {
        let value = value.into();
        check_token("Service", &value)?;
        if service_type.is_none() && !super::ids::is_absolute_uri(&value) {
            return Err(ModelError::ServiceNotUri(value));
        }
        Ok(Service { value, service_type })
    }

    /// The ebMS test service.
    pub fn test() -> Service {
        Service {
            value: ns::TEST_SERVICE.to_string(),
            service_type: None,
        }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn service_type(&self) -> Option<&str> {
        self.service_type.as_deref()
    }

    /// Whether this is the ebMS3 test service (`…/200704/service`, no type).
    pub fn is_test_service(&self) -> bool {
        is_test_service(&self.value, self.service_type.as_deref())
    }
}

/// Whether a service value and type name the ebMS3 test service.
pub fn is_test_service(value: &str, service_type: Option<&str>) -> bool {
    service_type.is_none() && value == ns::TEST_SERVICE
}

/// A name/value property (`eb:Property`), used in MessageProperties and PartProperties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub property_type: Option<String>,
    pub value: String,
}

impl Property {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Property {
        Property {
            name: name.into(),
            property_type: None,
            value: value.into(),
        }
    }

    pub fn typed(name: impl Into<String>, property_type: impl Into<String>, value: impl Into<String>) -> Property {
        Property {
            name: name.into(),
            property_type: Some(property_type.into()),
            value: value.into(),
        }
    }
}

/// Where a payload is: a MIME part (`cid:`), an element of the SOAP Body (`#id`), or the whole Body (no href).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartRef {
    /// `href="cid:<content-id>"`, holding the content id without `cid:`.
    Cid(String),
    /// `href="#<id>"`, holding the id without `#`.
    BodyElement(String),
    /// No href: the payload is the SOAP Body content.
    Body,
}

impl PartRef {
    /// The href attribute value, or `None` for the Body.
    pub fn href(&self) -> Option<String> {
        match self {
            PartRef::Cid(id) => Some(format!("cid:{id}")),
            PartRef::BodyElement(id) => Some(format!("#{id}")),
            PartRef::Body => None,
        }
    }
}

/// `eb:PartInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_ref: PartRef,
    pub schema: Option<Schema>,
    pub description: Option<Description>,
    /// `eb:PartProperties/eb:Property`; empty means the element is absent.
    pub part_properties: Vec<Property>,
}

/// Well-known PartProperties names.
pub mod part_property {
    pub const MIME_TYPE: &str = "MimeType";
    pub const CHARACTER_SET: &str = "CharacterSet";
    pub const COMPRESSION_TYPE: &str = "CompressionType";
}

impl PartInfo {
    pub fn new(part_ref: PartRef) -> PartInfo {
        PartInfo {
            part_ref,
            schema: None,
            description: None,
            part_properties: Vec::new(),
        }
    }

    pub fn with_property(mut self, name: &str, value: &str) -> PartInfo {
        self.part_properties.push(Property::new(name, value));
        self
    }

    /// The value of the first PartProperty with this name.
    pub fn part_property(&self, name: &str) -> Option<&str> {
        self.part_properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    pub fn mime_type(&self) -> Option<&str> {
        self.part_property(part_property::MIME_TYPE)
    }

    pub fn character_set(&self) -> Option<&str> {
        self.part_property(part_property::CHARACTER_SET)
    }

    /// `application/gzip` when the AS4 compression feature was applied.
    pub fn compression_type(&self) -> Option<&str> {
        self.part_property(part_property::COMPRESSION_TYPE)
    }
}

/// `eb:Schema` (location required, version and namespace optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub location: String,
    pub version: Option<String>,
    pub namespace: Option<String>,
}

/// `eb:Description` with its `xml:lang`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub lang: String,
    pub text: String,
}

/// `eb:SignalMessage`: MessageInfo and one kind of signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessage {
    pub message_info: MessageInfo,
    pub signal: Signal,
}

/// The content of a SignalMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    PullRequest(PullRequest),
    Receipt(Receipt),
    /// One or more `eb:Error` elements.
    Errors(NonEmpty<SignalError>),
}

impl SignalMessage {
    /// A receipt for `ref_to`.
    pub fn receipt(message_info: MessageInfo, ref_to: MessageId, receipt: Receipt) -> SignalMessage {
        SignalMessage {
            message_info: message_info.replying_to(ref_to),
            signal: Signal::Receipt(receipt),
        }
    }

    /// An Error signal; `ref_to` is the message in error when it is known.
    pub fn errors(
        message_info: MessageInfo,
        ref_to: Option<MessageId>,
        errors: NonEmpty<SignalError>,
    ) -> SignalMessage {
        SignalMessage {
            message_info: MessageInfo {
                ref_to_message_id: ref_to,
                ..message_info
            },
            signal: Signal::Errors(errors),
        }
    }

    /// A PullRequest for `mpc` (`None`: the default MPC).
    pub fn pull_request(message_info: MessageInfo, mpc: Option<String>) -> SignalMessage {
        SignalMessage {
            message_info,
            signal: Signal::PullRequest(PullRequest { mpc }),
        }
    }
}

/// `eb:PullRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// `None` means the default MPC.
    pub mpc: Option<String>,
}

/// `eb:Receipt`: the AS4 non-repudiation receipt, or the reception-awareness receipt holding a copy of the
/// UserMessage header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    NonRepudiation(NonRepudiationInformation),
    UserMessageCopy(Box<UserMessage>),
}

/// `ebbp:NonRepudiationInformation`: one entry for each part the sender signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonRepudiationInformation {
    pub parts: NonEmpty<MessagePartNRInformation>,
}

/// `ebbp:MessagePartNRInformation`: a copy of one `ds:Reference` of the sender's signature (or, rarely, a part
/// identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagePartNRInformation {
    Reference(Reference),
    MessagePartIdentifier(String),
}

/// A `ds:Reference` as copied into a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The `URI` attribute (`#id` or `cid:...`); `None` when absent.
    pub uri: Option<String>,
    pub transforms: Vec<Transform>,
    pub digest_method: String,
    /// The decoded digest.
    pub digest_value: Vec<u8>,
}

/// A `ds:Transform`: the algorithm URI and, for exclusive c14n, the InclusiveNamespaces PrefixList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub algorithm: String,
    /// `ec:InclusiveNamespaces/@PrefixList`, split on whitespace; `None` when the element is absent.
    pub inclusive_namespaces: Option<Vec<String>>,
}

/// One `eb:Error` of an Error signal, as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalError {
    pub error_code: SignalErrorCode,
    pub severity: Severity,
    pub category: Option<String>,
    pub short_description: Option<String>,
    pub ref_to_message_in_error: Option<String>,
    pub origin: Option<String>,
    pub description: Option<Description>,
    pub error_detail: Option<String>,
}

/// An `errorCode` value: one of the table, or another code a peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalErrorCode {
    Known(ErrorCode),
    Other(String),
}

impl SignalErrorCode {
    pub fn parse(value: &str) -> SignalErrorCode {
        match ErrorCode::from_code(value) {
            Some(code) => SignalErrorCode::Known(code),
            None => SignalErrorCode::Other(value.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SignalErrorCode::Known(code) => code.code(),
            SignalErrorCode::Other(s) => s,
        }
    }
}

impl From<&EbmsError> for SignalError {
    fn from(e: &EbmsError) -> Self {
        SignalError {
            error_code: SignalErrorCode::Known(e.code),
            severity: e.code.default_severity(),
            category: Some(e.code.category().as_str().to_string()),
            short_description: Some(e.code.short_name().to_string()),
            ref_to_message_in_error: e.ref_to_message_in_error.clone(),
            origin: Some(e.code.origin().to_string()),
            description: None,
            error_detail: (!e.detail.is_empty()).then(|| e.detail.clone()),
        }
    }
}

impl SignalError {
    /// The category, when it is one of the four ebMS categories.
    pub fn known_category(&self) -> Option<Category> {
        let c = self.category.as_deref()?;
        [
            Category::Content,
            Category::Communication,
            Category::Unpackaging,
            Category::Processing,
        ]
        .into_iter()
        .find(|k| k.as_str() == c)
    }
}

/// Values that the parser trims (identifiers) must be non-empty and carry no surrounding whitespace, so that a
/// value built here reads back the same.
pub(crate) fn check_token(field: &'static str, value: &str) -> Result<(), ModelError> {
    if value.is_empty() {
        return Err(ModelError::Empty(field));
    }
    if value.trim_matches(super::parse::is_xml_space) != value {
        return Err(ModelError::SurroundingWhitespace {
            field,
            value: value.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebms::test_support::sample_user_message;

    #[test]
    fn constructors_refuse_invalid_values() {
        assert_eq!(Messaging::new(None, Vec::new()), Err(ModelError::NoMessageUnit));
        assert_eq!(
            PartyId::new("AP0001", None),
            Err(ModelError::PartyIdNotUri("AP0001".into()))
        );
        assert!(PartyId::new("urn:x:AP0001", None).is_ok());
        assert!(matches!(
            PartyId::typed(" AP", "t"),
            Err(ModelError::SurroundingWhitespace { .. })
        ));
        assert_eq!(PartyId::typed("", "t"), Err(ModelError::Empty("PartyId")));
        assert_eq!(
            Service::new("noprocess", None),
            Err(ModelError::ServiceNotUri("noprocess".into()))
        );
        assert_eq!(NonEmpty::<u8>::from_vec(Vec::new()), None);
        let mut list = NonEmpty::new(1);
        list.push(2);
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!((list.len(), list.into_vec()), (2, vec![1, 2]));
    }

    #[test]
    fn test_service_and_mpc() {
        assert!(Service::test().is_test_service());
        assert!(is_test_service(ns::TEST_SERVICE, None));
        assert!(!is_test_service(ns::TEST_SERVICE, Some("t")));
        let mut user = sample_user_message(0);
        assert!(!user.is_test_message());
        assert_eq!(user.effective_mpc(), ns::DEFAULT_MPC);
        user.collaboration_info.service = Service::test();
        user.collaboration_info.action = ns::TEST_ACTION.into();
        assert!(user.is_test_message());
    }

    #[test]
    fn as4_profile_wants_one_party_id() {
        let mut user = sample_user_message(0);
        assert!(user.check_as4_profile().is_ok());
        user.party_info
            .to
            .party_ids
            .push(PartyId::typed("AP0003", "t").unwrap());
        let err = user.check_as4_profile().unwrap_err();
        assert_eq!(err.code, ErrorCode::ValueInconsistent);
        assert_eq!(
            err.ref_to_message_in_error.as_deref(),
            Some(user.message_info.message_id.as_str())
        );
        assert!(user.party_info.to.single_party_id().is_none());
    }

    #[test]
    fn signal_errors_from_ebms_errors() {
        let e = EbmsError::new(ErrorCode::DecompressionFailure, "bomb").with_ref_to_message("a@b");
        let s = SignalError::from(&e);
        assert_eq!(s.error_code.as_str(), "EBMS:0303");
        assert_eq!(s.known_category(), Some(Category::Communication));
        assert_eq!(s.short_description.as_deref(), Some("DecompressionFailure"));
        assert_eq!(s.ref_to_message_in_error.as_deref(), Some("a@b"));
        assert_eq!(SignalErrorCode::parse("X:1"), SignalErrorCode::Other("X:1".into()));
        assert_eq!(PartRef::Body.href(), None);
        assert_eq!(PartRef::Cid("a".into()).href().as_deref(), Some("cid:a"));
    }
}
