//! Property: a valid P-Mode rendered to TOML and loaded back is equal to itself.

use pmode::algorithms::*;
use pmode::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Text that passes validation: no surrounding white space, no control characters; includes characters TOML must
/// escape (quotes, backslashes) and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9åäö][a-zA-Z0-9åäö :/._#\"\\\\-]{0,20}[a-zA-Z0-9]"
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z]{1,6}:[a-zA-Z0-9:/._#-]{1,24}"
}

fn party(role: String) -> impl Strategy<Value = PartySpec> {
    prop_oneof![
        (option::of(text())).prop_map(move |t| (None, t)),
        (text(), text()).prop_map(|(id, t)| (Some(id), Some(t))),
        uri().prop_map(|id| (Some(id), None)),
    ]
    .prop_map(move |(party_id, party_id_type)| PartySpec {
        party_id,
        party_id_type,
        role: role.clone(),
    })
}

fn service() -> impl Strategy<Value = Service> {
    prop_oneof![
        (text(), text()).prop_map(|(v, t)| Service {
            value: v,
            service_type: Some(t)
        }),
        uri().prop_map(|v| Service {
            value: v,
            service_type: None
        }),
    ]
}

fn strong<T: Copy + std::fmt::Debug + 'static>(all: &'static [T], weak: fn(T) -> bool) -> impl Strategy<Value = T> {
    let strong: Vec<T> = all.iter().copied().filter(|a| !weak(*a)).collect();
    proptest::sample::select(strong)
}

fn signature() -> impl Strategy<Value = SignaturePolicy> {
    (
        strong(SignatureAlgorithm::ALL, SignatureAlgorithm::is_weak),
        strong(DigestAlgorithm::ALL, DigestAlgorithm::is_weak),
        any::<(bool, bool)>(),
    )
        .prop_map(|(algorithm, hash, (body, attachments))| SignaturePolicy {
            algorithm,
            hash,
            canonicalization: CanonicalizationAlgorithm::ExcC14n,
            parts: SignedParts {
                ebms_header: true,
                body,
                attachments,
            },
        })
}

fn encryption() -> impl Strategy<Value = EncryptionPolicy> {
    let key = prop_oneof![
        Just(KeyEncryption::KeyTransport {
            algorithm: KeyTransportAlgorithm::RsaOaep,
            mgf: Some(MaskGenerationFunction::Mgf1Sha256),
            digest: DigestAlgorithm::Sha256,
        }),
        Just(KeyEncryption::KeyAgreement {
            algorithm: KeyAgreementAlgorithm::X25519,
            key_derivation: KeyDerivationFunction::Hkdf,
            prf: PseudoRandomFunction::HmacSha256,
            key_wrap: KeyWrapAlgorithm::KwAes128,
        }),
    ];
    (key, any::<bool>()).prop_map(|(key, body)| EncryptionPolicy {
        data: DataEncryptionAlgorithm::Aes128Gcm,
        key,
        parts: EncryptedParts {
            body,
            attachments: true,
        },
    })
}

fn security() -> impl Strategy<Value = Security> {
    (
        prop_oneof![Just(WsSecurityVersion::V1_0), Just(WsSecurityVersion::V1_1)],
        prop_oneof![
            Just(TokenReference::BinarySecurityToken),
            Just(TokenReference::IssuerSerial),
            Just(TokenReference::SubjectKeyIdentifier)
        ],
        option::of(signature()),
        option::of(encryption()),
        any::<(bool, bool)>(),
        prop_oneof![Just(ReplyPattern::Response), Just(ReplyPattern::Callback)],
    )
        .prop_map(
            |(ws_security_version, x509_token_reference, signature, encryption, (enabled, nr), reply_pattern)| {
                let non_repudiation = nr && enabled && signature.is_some();
                Security {
                    ws_security_version,
                    x509_token_reference,
                    signature,
                    encryption,
                    send_receipt: ReceiptPolicy {
                        enabled,
                        reply_pattern,
                        non_repudiation,
                    },
                }
            },
        )
}

fn retry() -> impl Strategy<Value = RetryPolicy> {
    prop_oneof![
        (0..=1000u32, 1..=86_400u64).prop_map(|(max_retries, interval_seconds)| RetryPolicy::Constant {
            max_retries,
            interval_seconds
        }),
        (0..=1000u32, 1..=3600u64, 2..=10u32, 0..=82_800u64).prop_map(|(max_retries, initial, multiplier, extra)| {
            RetryPolicy::Exponential {
                max_retries,
                initial_interval_seconds: initial,
                multiplier,
                max_interval_seconds: initial + extra,
            }
        }),
    ]
}

fn payload_profile() -> impl Strategy<Value = PayloadProfile> {
    (
        option::of(1..=u64::MAX / 2),
        vec(
            (
                "[a-z]{1,8}",
                "(text|application)/[a-z+.-]{1,10}",
                any::<bool>(),
                option::of(1..=1_000_000u64),
            ),
            0..4,
        ),
    )
        .prop_map(|(total, raw)| {
            let mut parts: Vec<PayloadPart> = Vec::new();
            for (name, mime_type, required, max) in raw {
                let cid = format!("cid:{name}");
                if parts.iter().all(|p| p.cid != cid) {
                    let max_size_bytes = max.map(|m| total.map_or(m, |t| m.min(t)));
                    parts.push(PayloadPart {
                        cid,
                        mime_type,
                        required,
                        max_size_bytes,
                    });
                }
            }
            PayloadProfile {
                max_total_size_bytes: total,
                parts,
            }
        })
}

prop_compose! {
    fn pmode()(
        id in "[a-zA-Z0-9][a-zA-Z0-9._:-]{0,30}",
        binding in proptest::sample::select(MepBinding::ALL.to_vec()),
        initiator in party(DEFAULT_INITIATOR_ROLE.to_string()),
        responder in party("urn:example:role:responder".to_string()),
        agreement in option::of((text(), option::of(text())).prop_map(|(value, agreement_type)| AgreementRef { value, agreement_type })),
        service in service(),
        action in text(),
        mpc in prop_oneof![Just(DEFAULT_MPC.to_string()), uri()],
        properties in vec((text(), option::of(text()), any::<bool>()), 0..3),
        reply in (option::of(service()), text()),
        address in option::of("https?://[a-z]{1,10}\\.example(:[0-9]{2,4})?/[a-z/]{0,10}"),
        soap_version in prop_oneof![Just(SoapVersion::V1_1), Just(SoapVersion::V1_2)],
        smp_transport_profiles in vec(text(), 0..3),
        security in security(),
        ra_enabled in any::<bool>(),
        retry in retry(),
        dd in (any::<bool>(), 1..=31_000_000u64),
        eh in any::<(bool, bool, bool, bool)>(),
        payload_profile in payload_profile(),
        compression in any::<(bool, bool)>(),
    ) -> PMode {
        let mut seen = Vec::new();
        let properties = properties
            .into_iter()
            .filter(|(name, _, _)| { let fresh = !seen.contains(name); seen.push(name.clone()); fresh })
            .map(|(name, value_type, required)| PropertyRule { name, value_type, required })
            .collect();
        PMode {
            id,
            profile: Profile::As4,
            mep: binding.mep(),
            mep_binding: binding,
            initiator,
            responder,
            agreement,
            business_info: BusinessInfo { service, action, mpc, properties },
            reply: (binding.mep() == Mep::TwoWay).then_some(ReplyLeg { service: reply.0, action: reply.1 }),
            protocol: Protocol { address, soap_version, smp_transport_profiles },
            security,
            reception_awareness: ReceptionAwareness {
                enabled: ra_enabled,
                retry,
                duplicate_detection: DuplicateDetection { enabled: dd.0, window_seconds: dd.1 },
            },
            error_handling: ErrorHandling {
                report_as_response: eh.0,
                process_error_notify_producer: eh.1,
                process_error_notify_consumer: eh.2,
                delivery_failure_notify_producer: eh.3,
            },
            payload_profile,
            compression: Compression { compress_outgoing: compression.0, require_incoming_compressed: compression.1 },
            payload_service: PayloadService::default(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_pmodes_survive_a_toml_round_trip(pmodes in vec(pmode(), 1..4)) {
        // Unique ids, as a file requires.
        let mut pmodes = pmodes;
        for (i, p) in pmodes.iter_mut().enumerate() {
            p.id = format!("{}-{i}", p.id);
        }
        for p in &pmodes {
            prop_assert_eq!(pmode::validate::validate(p), vec![], "the generator must produce valid P-Modes");
        }
        let rendered = to_toml(&pmodes);
        let loaded = load_str(&rendered, "roundtrip.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
        let back: Vec<PMode> = loaded.into_iter().map(|l| l.pmode).collect();
        prop_assert_eq!(back, pmodes);
    }

    #[test]
    fn builtin_profiles_with_any_id_survive_a_toml_round_trip(id in "[a-z][a-z0-9-]{0,20}") {
        let mut pmodes = builtin::sdk_profile();
        for p in &mut pmodes {
            p.id = format!("{id}-{}", p.id);
        }
        let back: Vec<PMode> = load_str(&to_toml(&pmodes), "b.toml").unwrap().into_iter().map(|l| l.pmode).collect();
        prop_assert_eq!(back, pmodes);
    }
}
