//! The P-Mode model, close to ebMS3 Core Appendix D and the AS4 profile's additions.
//!
//! The same types are the serde schema of the TOML files (see docs/pmode.md); a value of these types that passed
//! [`crate::validate`] is what the message handler reads.

use crate::algorithms::{
    CanonicalizationAlgorithm, DataEncryptionAlgorithm, DigestAlgorithm, KeyAgreementAlgorithm, KeyDerivationFunction,
    KeyTransportAlgorithm, KeyWrapAlgorithm, MaskGenerationFunction, PseudoRandomFunction, SignatureAlgorithm,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The ebMS3 default message partition channel.
pub const DEFAULT_MPC: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC";
/// The ebMS3 default initiator role.
pub const DEFAULT_INITIATOR_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator";
/// The ebMS3 default responder role.
pub const DEFAULT_RESPONDER_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder";
/// The ebMS3 test service (ebMS3 Core 5.2.2.9).
pub const EBMS_TEST_SERVICE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/service";
/// The ebMS3 test action.
pub const EBMS_TEST_ACTION: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/test";

/// A whole P-Mode file: any number of `[[pmode]]` tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PModeFile {
    #[serde(default)]
    pub pmode: Vec<PMode>,
}

/// One P-Mode: the agreed processing of one kind of user message (one leg, or two for a two-way MEP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PMode {
    /// Unique name of the P-Mode (`PMode.ID`); letters, digits and `. _ - :`.
    pub id: String,
    /// Which rule book the P-Mode must obey on top of ebMS3/AS4.
    pub profile: Profile,
    /// `PMode.MEP`.
    pub mep: Mep,
    /// `PMode.MEPbinding`.
    pub mep_binding: MepBinding,
    /// `PMode.Initiator`: the sending side of the first leg.
    pub initiator: PartySpec,
    /// `PMode.Responder`: the receiving side of the first leg.
    pub responder: PartySpec,
    /// `PMode.Agreement` (`eb:AgreementRef`); absent when no agreement reference is exchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementRef>,
    /// `PMode[1].BusinessInfo`: service, action, MPC, message properties.
    pub business_info: BusinessInfo,
    /// The second leg of a two-way MEP (its action, and its service when it differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyLeg>,
    /// `PMode[1].Protocol`.
    #[serde(default)]
    pub protocol: Protocol,
    /// `PMode[1].Security`.
    pub security: Security,
    /// `PMode[1].ReceptionAwareness` (AS4).
    pub reception_awareness: ReceptionAwareness,
    /// `PMode[1].ErrorHandling`.
    #[serde(default)]
    pub error_handling: ErrorHandling,
    /// `PMode[1].BusinessInfo.PayloadProfile`.
    #[serde(default)]
    pub payload_profile: PayloadProfile,
    /// Payload compression policy (AS4 compression feature).
    #[serde(default)]
    pub compression: Compression,
    /// `PMode[1].PayloadService` (AS4).
    #[serde(default)]
    pub payload_service: PayloadService,
}

/// The rule book a P-Mode is validated against, in addition to the general ebMS3/AS4 checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Profile {
    /// DIGG's SDK transport profile v1.0 (over eDelivery AS4 1.15): RSA-SHA256, AES-128-GCM, RSA-OAEP.
    #[serde(rename = "sdk")]
    Sdk,
    /// eDelivery AS4 2.0 common profile: Ed25519, X25519 + HKDF + AES-128 key wrap, AES-128-GCM.
    #[serde(rename = "edelivery-as4-2.0")]
    EDeliveryAs4V2,
    /// Plain ebMS3/AS4: only the general checks (weak algorithms are still refused).
    #[serde(rename = "as4")]
    As4,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Sdk => "sdk",
            Profile::EDeliveryAs4V2 => "edelivery-as4-2.0",
            Profile::As4 => "as4",
        }
    }
}

/// `PMode.MEP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mep {
    #[serde(rename = "one-way")]
    OneWay,
    #[serde(rename = "two-way")]
    TwoWay,
}

impl Mep {
    pub fn uri(self) -> &'static str {
        match self {
            Mep::OneWay => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/oneWay",
            Mep::TwoWay => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/twoWay",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [Mep::OneWay, Mep::TwoWay].into_iter().find(|m| m.uri() == uri)
    }
}

/// `PMode.MEPbinding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MepBinding {
    #[serde(rename = "push")]
    Push,
    #[serde(rename = "pull")]
    Pull,
    #[serde(rename = "sync")]
    Sync,
    #[serde(rename = "push-and-push")]
    PushAndPush,
    #[serde(rename = "push-and-pull")]
    PushAndPull,
    #[serde(rename = "pull-and-push")]
    PullAndPush,
}

impl MepBinding {
    pub const ALL: [MepBinding; 6] = [
        MepBinding::Push,
        MepBinding::Pull,
        MepBinding::Sync,
        MepBinding::PushAndPush,
        MepBinding::PushAndPull,
        MepBinding::PullAndPush,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            MepBinding::Push => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/push",
            MepBinding::Pull => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/pull",
            MepBinding::Sync => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/sync",
            MepBinding::PushAndPush => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/pushAndPush",
            MepBinding::PushAndPull => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/pushAndPull",
            MepBinding::PullAndPush => "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/pullAndPush",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.uri() == uri)
    }

    /// The MEP this binding belongs to.
    pub fn mep(self) -> Mep {
        match self {
            MepBinding::Push | MepBinding::Pull => Mep::OneWay,
            _ => Mep::TwoWay,
        }
    }
}

/// A side of the exchange: which party (or any party) in which role.
///
/// Leaving `party_id` out means "any party": used for discovery-based sending, where the To party comes from the
/// certificate the SMP publishes, and for receiving from any member of a federation. `party_id_type`, when given,
/// must match even when `party_id` is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_id_type: Option<String>,
    /// `eb:Role`.
    pub role: String,
}

impl PartySpec {
    /// Any party in the given role, optionally of a given party id type.
    pub fn any(role: &str, party_id_type: Option<&str>) -> Self {
        PartySpec {
            party_id: None,
            party_id_type: party_id_type.map(str::to_string),
            role: role.to_string(),
        }
    }

    /// Whether the P-Mode names one party (rather than any).
    pub fn is_specific(&self) -> bool {
        self.party_id.is_some()
    }

    /// Whether a concrete party id (with its type, if any) is acceptable here.
    pub fn accepts_party(&self, party: &PartyId) -> bool {
        self.party_id.as_ref().is_none_or(|id| *id == party.id)
            && self
                .party_id_type
                .as_ref()
                .is_none_or(|t| party.id_type.as_ref() == Some(t))
    }
}

/// A concrete `eb:PartyId` with its optional `type` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyId {
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<String>,
}

impl PartyId {
    pub fn new(id: &str, id_type: Option<&str>) -> Self {
        PartyId {
            id: id.to_string(),
            id_type: id_type.map(str::to_string),
        }
    }
}

/// `eb:AgreementRef` and its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementRef {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub agreement_type: Option<String>,
}

/// `eb:Service` and its `type`. Without a type the value must be a URI (ebMS3 Core 5.2.2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
}

impl Service {
    pub fn new(value: &str, service_type: Option<&str>) -> Self {
        Service {
            value: value.to_string(),
            service_type: service_type.map(str::to_string),
        }
    }
}

/// `PMode[1].BusinessInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessInfo {
    pub service: Service,
    pub action: String,
    /// Message partition channel; the ebMS default MPC when left out.
    #[serde(default = "default_mpc")]
    pub mpc: String,
    /// Message properties the user message carries (`eb:MessageProperties`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyRule>,
}

fn default_mpc() -> String {
    DEFAULT_MPC.to_string()
}

/// One expected `eb:Property`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyRule {
    pub name: String,
    /// The property's `type` attribute, when the profile fixes one.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    pub required: bool,
}

/// The second leg of a two-way MEP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyLeg {
    /// The reply's service; the first leg's service when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    pub action: String,
}

/// `PMode[1].Protocol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// The responder's endpoint URL. Left out when it comes from SMP discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default)]
    pub soap_version: SoapVersion,
    /// SMP `transportProfile` identifiers under which the endpoint may be discovered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smp_transport_profiles: Vec<String>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            address: None,
            soap_version: SoapVersion::V1_2,
            smp_transport_profiles: Vec::new(),
        }
    }
}

/// `PMode[1].Protocol.SOAPVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SoapVersion {
    #[serde(rename = "1.1")]
    V1_1,
    #[default]
    #[serde(rename = "1.2")]
    V1_2,
}

/// `PMode[1].Security`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// `PMode[1].Security.WSSVersion`.
    #[serde(default)]
    pub ws_security_version: WsSecurityVersion,
    /// How the signer's (and encrypter's) certificate is referenced in the WS-Security header.
    #[serde(default)]
    pub x509_token_reference: TokenReference,
    /// `PMode[1].Security.X509.Sign`; absent = messages are not signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignaturePolicy>,
    /// `PMode[1].Security.X509.Encryption`; absent = messages are not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionPolicy>,
    /// `PMode[1].Security.SendReceipt`.
    pub send_receipt: ReceiptPolicy,
}

/// `PMode[1].Security.WSSVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum WsSecurityVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[default]
    #[serde(rename = "1.1")]
    V1_1,
}

/// How an X.509 certificate is referenced from the signature and encrypted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TokenReference {
    /// The certificate travels in a `wsse:BinarySecurityToken` (SDK, eDelivery AS4).
    #[default]
    #[serde(rename = "binary-security-token")]
    BinarySecurityToken,
    /// `ds:X509IssuerSerial`.
    #[serde(rename = "issuer-serial")]
    IssuerSerial,
    /// `wsse:KeyIdentifier` with the subject key identifier.
    #[serde(rename = "subject-key-identifier")]
    SubjectKeyIdentifier,
}

/// `PMode[1].Security.X509.Signature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignaturePolicy {
    /// `X509.Signature.Algorithm`.
    pub algorithm: SignatureAlgorithm,
    /// `X509.Signature.HashFunction`: the digest of every reference.
    pub hash: DigestAlgorithm,
    #[serde(default = "default_canonicalization")]
    pub canonicalization: CanonicalizationAlgorithm,
    /// Which parts the signature covers.
    #[serde(default)]
    pub parts: SignedParts,
}

fn default_canonicalization() -> CanonicalizationAlgorithm {
    CanonicalizationAlgorithm::ExcC14n
}

/// What a signature covers. AS4 signs all three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedParts {
    /// The `eb:Messaging` header.
    pub ebms_header: bool,
    /// The SOAP body.
    pub body: bool,
    /// Every attachment (MIME part).
    pub attachments: bool,
}

impl Default for SignedParts {
    fn default() -> Self {
        SignedParts {
            ebms_header: true,
            body: true,
            attachments: true,
        }
    }
}

/// `PMode[1].Security.X509.Encryption`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionPolicy {
    /// `X509.Encryption.Algorithm`: the cipher of the body and attachments.
    pub data: DataEncryptionAlgorithm,
    /// How the content-encryption key reaches the recipient.
    pub key: KeyEncryption,
    /// Which parts are encrypted.
    #[serde(default)]
    pub parts: EncryptedParts,
}

/// How the content-encryption key is protected for the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", deny_unknown_fields)]
pub enum KeyEncryption {
    /// Key transport: the key is encrypted with the recipient's RSA public key.
    #[serde(rename = "key-transport")]
    KeyTransport {
        algorithm: KeyTransportAlgorithm,
        /// The mask generation function of RSA-OAEP; required for `rsa-oaep`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mgf: Option<MaskGenerationFunction>,
        /// The OAEP digest.
        digest: DigestAlgorithm,
    },
    /// Key agreement: ephemeral-static DH with the recipient's key, a KDF, and a key wrap.
    #[serde(rename = "key-agreement")]
    KeyAgreement {
        algorithm: KeyAgreementAlgorithm,
        key_derivation: KeyDerivationFunction,
        prf: PseudoRandomFunction,
        key_wrap: KeyWrapAlgorithm,
    },
}

/// What encryption covers. AS4 encrypts the payloads; the SOAP body is empty when payloads are attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedParts {
    pub body: bool,
    pub attachments: bool,
}

impl Default for EncryptedParts {
    fn default() -> Self {
        EncryptedParts {
            body: true,
            attachments: true,
        }
    }
}

/// `PMode[1].Security.SendReceipt` and its reply pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPolicy {
    /// Whether the responder returns an `eb:Receipt`.
    pub enabled: bool,
    /// `SendReceipt.ReplyPattern`.
    #[serde(default)]
    pub reply_pattern: ReplyPattern,
    /// The receipt carries the digests of what was received (`ebbp:NonRepudiationInformation`), signed.
    pub non_repudiation: bool,
}

/// `SendReceipt.ReplyPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ReplyPattern {
    /// On the HTTP response of the user message (synchronous).
    #[default]
    #[serde(rename = "response")]
    Response,
    /// In a separate request to the initiator.
    #[serde(rename = "callback")]
    Callback,
}

/// `PMode[1].ReceptionAwareness` (AS4 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptionAwareness {
    pub enabled: bool,
    /// `ReceptionAwareness.Retry` and its parameters.
    pub retry: RetryPolicy,
    /// `ReceptionAwareness.DuplicateDetection` and its parameters.
    pub duplicate_detection: DuplicateDetection,
}

/// When to resend a message whose receipt did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", deny_unknown_fields)]
pub enum RetryPolicy {
    /// The same pause before every retry.
    #[serde(rename = "constant")]
    Constant { max_retries: u32, interval_seconds: u64 },
    /// Pauses growing by `multiplier` from `initial_interval_seconds`, capped at `max_interval_seconds`.
    #[serde(rename = "exponential")]
    Exponential {
        max_retries: u32,
        initial_interval_seconds: u64,
        multiplier: u32,
        max_interval_seconds: u64,
    },
}

impl RetryPolicy {
    /// How many times a message is resent after the first attempt.
    pub fn max_retries(&self) -> u32 {
        match self {
            RetryPolicy::Constant { max_retries, .. } | RetryPolicy::Exponential { max_retries, .. } => *max_retries,
        }
    }

    /// The pause before retry number `retry` (1 = the first resend), or `None` when retries are exhausted.
    pub fn delay_before_retry(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries() {
            return None;
        }
        let seconds = match *self {
            RetryPolicy::Constant { interval_seconds, .. } => interval_seconds,
            RetryPolicy::Exponential {
                initial_interval_seconds,
                multiplier,
                max_interval_seconds,
                ..
            } => {
                let factor = u64::from(multiplier).saturating_pow(retry - 1);
                initial_interval_seconds
                    .saturating_mul(factor)
                    .min(max_interval_seconds)
            }
        };
        Some(Duration::from_secs(seconds))
    }
}

/// `ReceptionAwareness.DuplicateDetection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateDetection {
    pub enabled: bool,
    /// How long a received MessageId is remembered.
    pub window_seconds: u64,
}

/// `PMode[1].ErrorHandling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorHandling {
    /// `ErrorHandling.Report.AsResponse`: errors go back on the HTTP response.
    pub report_as_response: bool,
    /// `ErrorHandling.Report.ProcessErrorNotifyProducer`.
    pub process_error_notify_producer: bool,
    /// `ErrorHandling.Report.ProcessErrorNotifyConsumer`.
    pub process_error_notify_consumer: bool,
    /// `ErrorHandling.Report.DeliveryFailuresNotifyProducer`.
    pub delivery_failure_notify_producer: bool,
}

impl Default for ErrorHandling {
    fn default() -> Self {
        ErrorHandling {
            report_as_response: true,
            process_error_notify_producer: true,
            process_error_notify_consumer: true,
            delivery_failure_notify_producer: true,
        }
    }
}

/// `PMode[1].BusinessInfo.PayloadProfile`. No parts listed = any parts accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PayloadProfile {
    /// `PayloadProfile.maxSize`: the largest sum of all payload sizes, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PayloadPart>,
}

/// One allowed payload part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadPart {
    /// The `eb:PartInfo/@href`, e.g. `cid:message`.
    pub cid: String,
    pub mime_type: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_bytes: Option<u64>,
}

/// Payload compression with gzip (AS4 compression feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Compression {
    /// We gzip every payload we send ("compression required" for the sender).
    pub compress_outgoing: bool,
    /// Incoming payloads must be compressed; when false, compressed and plain payloads are both accepted
    /// ("compression allowed").
    pub require_incoming_compressed: bool,
}

/// `PMode[1].PayloadService` (AS4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PayloadService {
    #[serde(default)]
    pub compression_type: CompressionType,
}

/// `PayloadService.CompressionType`: AS4 defines gzip only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CompressionType {
    #[default]
    #[serde(rename = "application/gzip")]
    Gzip,
}

impl PMode {
    /// The service of the reply leg (two-way MEPs).
    pub fn reply_service(&self) -> Option<&Service> {
        self.reply
            .as_ref()
            .map(|r| r.service.as_ref().unwrap_or(&self.business_info.service))
    }
}
