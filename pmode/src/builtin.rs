//! Built-in P-Modes: DIGG's SDK transport profile, the eDelivery AS4 2.0 common profile, and the ebMS3 test service.
//!
//! Each is available as Rust values and as the TOML text shipped in `pmode/profiles/` (a test keeps both equal),
//! so `sdk-ap pmode check --builtin` and operators can read exactly what is built in.

use crate::algorithms::*;
use crate::model::*;
use crate::validate::{SDK_PARTY_ID_TYPE, SDK_SERVICE_TYPE};

/// Id of the built-in SDK message P-Mode.
pub const SDK_MESSAGE_ID: &str = "sdk-message";
/// Id of the built-in SDK kvittens (message receipt, ApplicationResponse) P-Mode.
pub const SDK_KVITTENS_ID: &str = "sdk-kvittens";
/// SDK process (service value) `bdx:noprocess`.
pub const SDK_SERVICE: &str = "bdx:noprocess";
/// Action of the SDK message (SDK message v3 with attachments).
pub const SDK_MESSAGE_ACTION: &str =
    "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";
/// Action of the SDK kvittens.
pub const SDK_KVITTENS_ACTION: &str = "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc";
/// SMP transport profile ids of the SDK (v1.0, and v1.2 reported in force since 2024-11).
pub const SDK_TRANSPORT_PROFILES: [&str; 2] = ["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"];
/// Message property type of originalSender / finalRecipient.
pub const PARTICIPANT_ID_SCHEME: &str = "iso6523-actorid-upis";
/// Largest SDK payload total, as in DIGG's Domibus P-Mode (`payloadProfile maxSize="2147483647"`).
pub const SDK_MAX_TOTAL_PAYLOAD_BYTES: u64 = 2_147_483_647;
/// How long received message ids are remembered for duplicate detection: 10 days, as long as DIGG's Domibus
/// sample keeps sent messages (`retention_sent="14400"` minutes).
pub const DUPLICATE_WINDOW_SECONDS: u64 = 14_400 * 60;

/// The SDK transport profile file: `sdk-message`, `sdk-kvittens` and `ebms-test-sdk`.
pub const SDK_PROFILE_TOML: &str = include_str!("../profiles/sdk.toml");
/// The eDelivery AS4 2.0 common profile applied to the ebMS test service (`ebms-test-edelivery-as4-2.0`).
pub const EDELIVERY_AS4_V2_TOML: &str = include_str!("../profiles/edelivery-as4-2.0.toml");

/// The built-in TOML files by name, for `sdk-ap pmode check --builtin`.
pub fn toml_files() -> [(&'static str, &'static str); 2] {
    [
        ("<builtin>/sdk.toml", SDK_PROFILE_TOML),
        ("<builtin>/edelivery-as4-2.0.toml", EDELIVERY_AS4_V2_TOML),
    ]
}

/// The SDK profile: the SDK message and kvittens P-Modes. Both parties are open (any SDK access point) so the
/// same P-Modes serve sending (the To party comes from the SMP certificate's CN) and receiving.
pub fn sdk_profile() -> Vec<PMode> {
    vec![
        sdk_pmode(SDK_MESSAGE_ID, SDK_MESSAGE_ACTION),
        sdk_pmode(SDK_KVITTENS_ID, SDK_KVITTENS_ACTION),
    ]
}

/// The SDK message P-Mode.
pub fn sdk_message() -> PMode {
    sdk_pmode(SDK_MESSAGE_ID, SDK_MESSAGE_ACTION)
}

/// The SDK kvittens P-Mode.
pub fn sdk_kvittens() -> PMode {
    sdk_pmode(SDK_KVITTENS_ID, SDK_KVITTENS_ACTION)
}

fn sdk_pmode(id: &str, action: &str) -> PMode {
    let mut pmode = sdk_base(id);
    pmode.business_info.service = Service::new(SDK_SERVICE, Some(SDK_SERVICE_TYPE));
    pmode.business_info.action = action.to_string();
    pmode.business_info.properties = ["originalSender", "finalRecipient"]
        .into_iter()
        .map(|name| PropertyRule {
            name: name.into(),
            value_type: Some(PARTICIPANT_ID_SCHEME.into()),
            required: true,
        })
        .collect();
    pmode.payload_profile = PayloadProfile {
        max_total_size_bytes: Some(SDK_MAX_TOTAL_PAYLOAD_BYTES),
        parts: vec![
            PayloadPart {
                cid: "cid:message".into(),
                mime_type: "text/xml".into(),
                required: true,
                max_size_bytes: None,
            },
            PayloadPart {
                cid: "cid:attachment".into(),
                mime_type: "application/octet-stream".into(),
                required: false,
                max_size_bytes: None,
            },
        ],
    };
    pmode
}

/// Everything of the SDK profile except the business values.
fn sdk_base(id: &str) -> PMode {
    PMode {
        id: id.to_string(),
        profile: Profile::Sdk,
        mep: Mep::OneWay,
        mep_binding: MepBinding::Push,
        initiator: PartySpec::any(DEFAULT_INITIATOR_ROLE, Some(SDK_PARTY_ID_TYPE)),
        responder: PartySpec::any(DEFAULT_RESPONDER_ROLE, Some(SDK_PARTY_ID_TYPE)),
        agreement: None,
        business_info: BusinessInfo {
            service: Service::new(EBMS_TEST_SERVICE, None),
            action: EBMS_TEST_ACTION.to_string(),
            mpc: DEFAULT_MPC.to_string(),
            properties: Vec::new(),
        },
        reply: None,
        protocol: Protocol {
            address: None,
            soap_version: SoapVersion::V1_2,
            smp_transport_profiles: SDK_TRANSPORT_PROFILES.iter().map(|s| s.to_string()).collect(),
        },
        security: Security {
            ws_security_version: WsSecurityVersion::V1_1,
            x509_token_reference: TokenReference::BinarySecurityToken,
            signature: Some(SignaturePolicy {
                algorithm: SignatureAlgorithm::RsaSha256,
                hash: DigestAlgorithm::Sha256,
                canonicalization: CanonicalizationAlgorithm::ExcC14n,
                parts: SignedParts::default(),
            }),
            encryption: Some(EncryptionPolicy {
                data: DataEncryptionAlgorithm::Aes128Gcm,
                key: KeyEncryption::KeyTransport {
                    algorithm: KeyTransportAlgorithm::RsaOaep,
                    mgf: Some(MaskGenerationFunction::Mgf1Sha256),
                    digest: DigestAlgorithm::Sha256,
                },
                parts: EncryptedParts::default(),
            }),
            send_receipt: synchronous_signed_receipts(),
        },
        // DIGG's Domibus sample: retry="12;4;CONSTANT" = 4 retries spread evenly over 12 minutes.
        reception_awareness: ReceptionAwareness {
            enabled: true,
            retry: RetryPolicy::Constant {
                max_retries: 4,
                interval_seconds: 180,
            },
            duplicate_detection: DuplicateDetection {
                enabled: true,
                window_seconds: DUPLICATE_WINDOW_SECONDS,
            },
        },
        error_handling: ErrorHandling::default(),
        payload_profile: PayloadProfile::default(),
        compression: Compression {
            compress_outgoing: true,
            require_incoming_compressed: false,
        },
        payload_service: PayloadService {
            compression_type: CompressionType::Gzip,
        },
    }
}

fn synchronous_signed_receipts() -> ReceiptPolicy {
    ReceiptPolicy {
        enabled: true,
        reply_pattern: ReplyPattern::Response,
        non_repudiation: true,
    }
}

/// The eDelivery AS4 2.0 common profile (one-way push, four-corner properties) for a service and action:
/// Ed25519 signatures with SHA-256 digests; AES-128-GCM payload encryption whose key is wrapped with AES-128 key
/// wrap under a key derived with HKDF (HMAC-SHA256) from an X25519 agreement.
pub fn edelivery_as4_v2(id: &str, service: Service, action: &str) -> PMode {
    PMode {
        id: id.to_string(),
        profile: Profile::EDeliveryAs4V2,
        mep: Mep::OneWay,
        mep_binding: MepBinding::Push,
        initiator: PartySpec::any(DEFAULT_INITIATOR_ROLE, None),
        responder: PartySpec::any(DEFAULT_RESPONDER_ROLE, None),
        agreement: None,
        business_info: BusinessInfo {
            service,
            action: action.to_string(),
            mpc: DEFAULT_MPC.to_string(),
            properties: ["originalSender", "finalRecipient"]
                .into_iter()
                .map(|name| PropertyRule {
                    name: name.into(),
                    value_type: None,
                    required: true,
                })
                .collect(),
        },
        reply: None,
        protocol: Protocol::default(),
        security: Security {
            ws_security_version: WsSecurityVersion::V1_1,
            x509_token_reference: TokenReference::BinarySecurityToken,
            signature: Some(SignaturePolicy {
                algorithm: SignatureAlgorithm::EddsaEd25519,
                hash: DigestAlgorithm::Sha256,
                canonicalization: CanonicalizationAlgorithm::ExcC14n,
                parts: SignedParts::default(),
            }),
            encryption: Some(EncryptionPolicy {
                data: DataEncryptionAlgorithm::Aes128Gcm,
                key: KeyEncryption::KeyAgreement {
                    algorithm: KeyAgreementAlgorithm::X25519,
                    key_derivation: KeyDerivationFunction::Hkdf,
                    prf: PseudoRandomFunction::HmacSha256,
                    key_wrap: KeyWrapAlgorithm::KwAes128,
                },
                parts: EncryptedParts::default(),
            }),
            send_receipt: synchronous_signed_receipts(),
        },
        reception_awareness: ReceptionAwareness {
            enabled: true,
            retry: RetryPolicy::Exponential {
                max_retries: 8,
                initial_interval_seconds: 60,
                multiplier: 2,
                max_interval_seconds: 3_600,
            },
            duplicate_detection: DuplicateDetection {
                enabled: true,
                window_seconds: DUPLICATE_WINDOW_SECONDS,
            },
        },
        error_handling: ErrorHandling::default(),
        payload_profile: PayloadProfile::default(),
        compression: Compression {
            compress_outgoing: true,
            require_incoming_compressed: false,
        },
        payload_service: PayloadService {
            compression_type: CompressionType::Gzip,
        },
    }
}

/// A P-Mode for the ebMS3 test service and action (connectivity tests), with the security of `profile`.
/// The test service carries no business properties.
pub fn ebms_test_service(profile: Profile) -> PMode {
    let mut pmode = match profile {
        Profile::Sdk => sdk_base("ebms-test-sdk"),
        Profile::EDeliveryAs4V2 | Profile::As4 => edelivery_as4_v2(
            "ebms-test-edelivery-as4-2.0",
            Service::new(EBMS_TEST_SERVICE, None),
            EBMS_TEST_ACTION,
        ),
    };
    if profile == Profile::As4 {
        pmode.id = "ebms-test-as4".into();
        pmode.profile = Profile::As4;
    }
    pmode.business_info.service = Service::new(EBMS_TEST_SERVICE, None);
    pmode.business_info.action = EBMS_TEST_ACTION.to_string();
    pmode.business_info.properties.clear();
    pmode
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_str;
    use crate::validate::validate;

    fn loaded(text: &str, file: &str) -> Vec<PMode> {
        load_str(text, file)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|l| l.pmode)
            .collect()
    }

    #[test]
    fn builtin_pmodes_are_valid() {
        let mut all = sdk_profile();
        all.push(ebms_test_service(Profile::Sdk));
        all.push(ebms_test_service(Profile::EDeliveryAs4V2));
        all.push(ebms_test_service(Profile::As4));
        all.push(edelivery_as4_v2(
            "x",
            Service::new("urn:example:process", None),
            "urn:example:action",
        ));
        for p in &all {
            assert_eq!(validate(p), vec![], "{}", p.id);
        }
    }

    #[test]
    fn shipped_toml_equals_the_rust_values() {
        let mut sdk = sdk_profile();
        sdk.push(ebms_test_service(Profile::Sdk));
        assert_eq!(
            loaded(SDK_PROFILE_TOML, "sdk.toml"),
            sdk,
            "regenerate with: cargo test -p pmode print_builtin -- --ignored --nocapture"
        );
        assert_eq!(
            loaded(EDELIVERY_AS4_V2_TOML, "edelivery-as4-2.0.toml"),
            vec![ebms_test_service(Profile::EDeliveryAs4V2)]
        );
    }

    #[test]
    fn sdk_profile_values_follow_the_transport_profile() {
        let m = sdk_message();
        assert_eq!(
            m.mep.uri(),
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/oneWay"
        );
        assert_eq!(
            m.mep_binding.uri(),
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/push"
        );
        let sig = m.security.signature.as_ref().unwrap();
        assert_eq!(sig.algorithm.uri(), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
        assert_eq!(sig.hash.uri(), "http://www.w3.org/2001/04/xmlenc#sha256");
        let enc = m.security.encryption.as_ref().unwrap();
        assert_eq!(enc.data.uri(), "http://www.w3.org/2009/xmlenc11#aes128-gcm");
        assert_eq!(
            m.reception_awareness.retry.delay_before_retry(4),
            Some(std::time::Duration::from_secs(180))
        );
        assert_eq!(m.reception_awareness.retry.delay_before_retry(5), None);
    }

    /// Prints the TOML of the built-in P-Modes (to refresh pmode/profiles/ after a deliberate change).
    #[test]
    #[ignore]
    fn print_builtin() {
        let mut sdk = sdk_profile();
        sdk.push(ebms_test_service(Profile::Sdk));
        println!("{}", crate::load::to_toml(&sdk));
        println!("-----");
        println!(
            "{}",
            crate::load::to_toml(&[ebms_test_service(Profile::EDeliveryAs4V2)])
        );
    }
}
