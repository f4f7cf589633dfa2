//! Checks of one P-Mode beyond what its types already guarantee: weak algorithms, cross-field consistency, limits,
//! and the rules of the P-Mode's profile. Every problem is reported (not just the first), with its field path.

use crate::algorithms::{
    DataEncryptionAlgorithm, DigestAlgorithm, KeyTransportAlgorithm, MaskGenerationFunction, SignatureAlgorithm,
    Strength,
};
use crate::error::{Issue, Problem};
use crate::model::*;

/// Most retries a P-Mode may ask for (a typo such as `40000` would keep a message in the queue for months).
pub const MAX_RETRIES: u32 = 1_000;
/// Longest pause between two retries: one day.
pub const MAX_RETRY_INTERVAL_SECONDS: u64 = 86_400;
/// Longest duplicate detection window: one year.
pub const MAX_DUPLICATE_WINDOW_SECONDS: u64 = 366 * 86_400;
/// Longest accepted identifier, service, action, role or party id, in bytes.
pub const MAX_VALUE_BYTES: usize = 1_024;

/// The party id type of SDK access points (transport profile 2.3.1, items k and n).
pub const SDK_PARTY_ID_TYPE: &str = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap";
/// The service type of SDK processes (transport profile 2.3.1, item b).
pub const SDK_SERVICE_TYPE: &str = "urn:fdc:digg.se:edelivery:process";

struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn push(&mut self, field: &str, problem: Problem) {
        self.issues.push(Issue {
            field: field.to_string(),
            problem,
        });
    }

    fn invalid(&mut self, field: &str, reason: impl Into<String>) {
        self.push(field, Problem::Invalid(reason.into()));
    }

    fn text(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.invalid(field, "must not be empty");
        } else if value.len() > MAX_VALUE_BYTES {
            self.invalid(
                field,
                format!("is {} bytes long; at most {MAX_VALUE_BYTES} are accepted", value.len()),
            );
        } else if value.trim() != value {
            self.invalid(field, format!("{value:?} has leading or trailing white space"));
        } else if value.chars().any(char::is_control) {
            self.invalid(field, format!("{value:?} contains a control character"));
        }
    }

    fn optional_text(&mut self, field: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.text(field, v);
        }
    }

    fn strength(&mut self, field: &str, name: &str, strength: Strength) {
        if let Strength::Weak(reason) = strength {
            self.push(
                field,
                Problem::WeakAlgorithm {
                    value: name.to_string(),
                    reason,
                },
            );
        }
    }

    fn profile<T: PartialEq + std::fmt::Display>(&mut self, profile: Profile, field: &str, actual: T, required: T) {
        // A weak algorithm is already reported for this field; one error per value is enough.
        let already_reported = self.issues.iter().any(|i| i.field == field);
        if actual != required && !already_reported {
            self.push(
                field,
                Problem::ProfileViolation {
                    profile: profile.name(),
                    value: actual.to_string(),
                    required: required.to_string(),
                },
            );
        }
    }
}

/// All problems of one P-Mode; empty when it is valid.
pub fn validate(pmode: &PMode) -> Vec<Issue> {
    let mut c = Checker { issues: Vec::new() };
    check_id(&mut c, &pmode.id);
    check_mep(&mut c, pmode);
    check_party(&mut c, "initiator", &pmode.initiator);
    check_party(&mut c, "responder", &pmode.responder);
    if let Some(agreement) = &pmode.agreement {
        c.text("agreement.value", &agreement.value);
        c.optional_text("agreement.type", &agreement.agreement_type);
    }
    check_service(&mut c, "business_info.service", &pmode.business_info.service);
    c.text("business_info.action", &pmode.business_info.action);
    c.text("business_info.mpc", &pmode.business_info.mpc);
    check_properties(&mut c, &pmode.business_info.properties);
    check_protocol(&mut c, &pmode.protocol);
    check_security(&mut c, &pmode.security);
    check_reception_awareness(&mut c, &pmode.reception_awareness);
    check_payload_profile(&mut c, &pmode.payload_profile);
    match pmode.profile {
        Profile::Sdk => check_sdk_profile(&mut c, pmode),
        Profile::EDeliveryAs4V2 => check_edelivery_v2_profile(&mut c, pmode),
        Profile::As4 => {}
    }
    c.issues
}

fn check_id(c: &mut Checker, id: &str) {
    c.text("id", id);
    if let Some(bad) = id
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-' | ':')))
    {
        c.invalid(
            "id",
            format!("{id:?} contains {bad:?}; use letters, digits and . _ - :"),
        );
    }
}

fn check_mep(c: &mut Checker, pmode: &PMode) {
    if pmode.mep_binding.mep() != pmode.mep {
        c.invalid(
            "mep_binding",
            format!(
                "binding {:?} belongs to a {:?} MEP, but mep is {:?}",
                pmode.mep_binding,
                pmode.mep_binding.mep(),
                pmode.mep
            ),
        );
    }
    match (&pmode.mep, &pmode.reply) {
        (Mep::TwoWay, None) => c.push(
            "reply",
            Problem::Missing("a two-way MEP needs the reply leg's action".into()),
        ),
        (Mep::OneWay, Some(_)) => c.push("reply", Problem::NotExpected("a one-way MEP has no reply leg".into())),
        (Mep::TwoWay, Some(reply)) => {
            c.text("reply.action", &reply.action);
            if let Some(service) = &reply.service {
                check_service(c, "reply.service", service);
            }
        }
        (Mep::OneWay, None) => {}
    }
}

fn check_party(c: &mut Checker, side: &str, party: &PartySpec) {
    c.text(&format!("{side}.role"), &party.role);
    c.optional_text(&format!("{side}.party_id"), &party.party_id);
    c.optional_text(&format!("{side}.party_id_type"), &party.party_id_type);
    // ebMS3 Core 5.2.2.4: a PartyId without type must be a URI.
    if let (Some(id), None) = (&party.party_id, &party.party_id_type) {
        if !looks_like_uri(id) {
            c.push(
                &format!("{side}.party_id_type"),
                Problem::Missing(format!("party id {id:?} is not a URI, so it needs a party_id_type")),
            );
        }
    }
}

fn check_service(c: &mut Checker, field: &str, service: &Service) {
    c.text(&format!("{field}.value"), &service.value);
    c.optional_text(&format!("{field}.type"), &service.service_type);
    // ebMS3 Core 5.2.2.8: an untyped service must be a URI.
    if service.service_type.is_none() && !looks_like_uri(&service.value) {
        c.push(
            &format!("{field}.type"),
            Problem::Missing(format!("service {:?} is not a URI, so it needs a type", service.value)),
        );
    }
}

fn looks_like_uri(value: &str) -> bool {
    match value.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme.starts_with(|ch: char| ch.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn check_properties(c: &mut Checker, properties: &[PropertyRule]) {
    for (i, p) in properties.iter().enumerate() {
        c.text(&format!("business_info.properties[{i}].name"), &p.name);
        c.optional_text(&format!("business_info.properties[{i}].type"), &p.value_type);
        if properties[..i].iter().any(|q| q.name == p.name) {
            c.invalid(
                &format!("business_info.properties[{i}].name"),
                format!("property {:?} is listed twice", p.name),
            );
        }
    }
}

fn check_protocol(c: &mut Checker, protocol: &Protocol) {
    if let Some(address) = &protocol.address {
        c.text("protocol.address", address);
        let lower = address.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            c.invalid(
                "protocol.address",
                format!("{address:?} is not an http(s) URL with a host"),
            );
        }
    }
    for (i, p) in protocol.smp_transport_profiles.iter().enumerate() {
        c.text(&format!("protocol.smp_transport_profiles[{i}]"), p);
    }
}

fn check_security(c: &mut Checker, security: &Security) {
    if let Some(sig) = &security.signature {
        c.strength(
            "security.signature.algorithm",
            sig.algorithm.name(),
            sig.algorithm.strength(),
        );
        c.strength("security.signature.hash", sig.hash.name(), sig.hash.strength());
        if !(sig.parts.ebms_header || sig.parts.body || sig.parts.attachments) {
            c.invalid("security.signature.parts", "a signature must cover at least one part");
        }
    }
    if let Some(enc) = &security.encryption {
        c.strength("security.encryption.data", enc.data.name(), enc.data.strength());
        if let KeyEncryption::KeyTransport { algorithm, mgf, digest } = &enc.key {
            c.strength(
                "security.encryption.key.algorithm",
                algorithm.name(),
                algorithm.strength(),
            );
            c.strength("security.encryption.key.digest", digest.name(), digest.strength());
            match (algorithm, mgf) {
                (KeyTransportAlgorithm::RsaOaep, None) => c.push(
                    "security.encryption.key.mgf",
                    Problem::Missing("rsa-oaep needs its mask generation function (mgf1-sha256)".into()),
                ),
                (KeyTransportAlgorithm::RsaOaepMgf1p, Some(_)) => c.push(
                    "security.encryption.key.mgf",
                    Problem::NotExpected("rsa-oaep-mgf1p fixes MGF1-SHA1 itself".into()),
                ),
                _ => {}
            }
        }
        if !(enc.parts.body || enc.parts.attachments) {
            c.invalid("security.encryption.parts", "encryption must cover at least one part");
        }
    }
    let receipt = &security.send_receipt;
    if receipt.non_repudiation && !receipt.enabled {
        c.invalid(
            "security.send_receipt.non_repudiation",
            "non-repudiation needs receipts (enabled = true)",
        );
    }
    if receipt.non_repudiation && security.signature.is_none() {
        c.push(
            "security.signature",
            Problem::Missing("non-repudiation receipts refer to the digests of a signed message".into()),
        );
    }
}

fn check_reception_awareness(c: &mut Checker, ra: &ReceptionAwareness) {
    if ra.retry.max_retries() > MAX_RETRIES {
        c.invalid(
            "reception_awareness.retry.max_retries",
            format!("{} is more than the {MAX_RETRIES} accepted", ra.retry.max_retries()),
        );
    }
    match ra.retry {
        RetryPolicy::Constant { interval_seconds, .. } => {
            check_interval(c, "reception_awareness.retry.interval_seconds", interval_seconds);
        }
        RetryPolicy::Exponential {
            initial_interval_seconds,
            multiplier,
            max_interval_seconds,
            ..
        } => {
            check_interval(
                c,
                "reception_awareness.retry.initial_interval_seconds",
                initial_interval_seconds,
            );
            check_interval(
                c,
                "reception_awareness.retry.max_interval_seconds",
                max_interval_seconds,
            );
            if !(2..=10).contains(&multiplier) {
                c.invalid(
                    "reception_awareness.retry.multiplier",
                    format!("{multiplier} is not between 2 and 10"),
                );
            }
            if max_interval_seconds < initial_interval_seconds {
                c.invalid(
                    "reception_awareness.retry.max_interval_seconds",
                    format!(
                        "{max_interval_seconds} is smaller than initial_interval_seconds ({initial_interval_seconds})"
                    ),
                );
            }
        }
    }
    let dd = &ra.duplicate_detection;
    if dd.enabled && (dd.window_seconds == 0 || dd.window_seconds > MAX_DUPLICATE_WINDOW_SECONDS) {
        c.invalid(
            "reception_awareness.duplicate_detection.window_seconds",
            format!(
                "{} is not between 1 and {MAX_DUPLICATE_WINDOW_SECONDS}",
                dd.window_seconds
            ),
        );
    }
}

fn check_interval(c: &mut Checker, field: &str, seconds: u64) {
    if seconds == 0 || seconds > MAX_RETRY_INTERVAL_SECONDS {
        c.invalid(
            field,
            format!("{seconds} is not between 1 and {MAX_RETRY_INTERVAL_SECONDS} seconds"),
        );
    }
}

fn check_payload_profile(c: &mut Checker, profile: &PayloadProfile) {
    if profile.max_total_size_bytes == Some(0) {
        c.invalid(
            "payload_profile.max_total_size_bytes",
            "0 would refuse every payload; leave it out for no limit",
        );
    }
    for (i, part) in profile.parts.iter().enumerate() {
        let field = format!("payload_profile.parts[{i}]");
        c.text(&format!("{field}.cid"), &part.cid);
        if !part.cid.starts_with("cid:") || part.cid.len() == 4 {
            c.invalid(
                &format!("{field}.cid"),
                format!("{:?} must have the form cid:NAME", part.cid),
            );
        }
        if profile.parts[..i].iter().any(|p| p.cid == part.cid) {
            c.invalid(&format!("{field}.cid"), format!("{:?} is listed twice", part.cid));
        }
        let mime_ok = part.mime_type.split_once('/').is_some_and(|(t, s)| {
            let token = |x: &str| {
                !x.is_empty()
                    && x.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "!#$&^_.+-".contains(ch))
            };
            token(t) && token(s)
        });
        if !mime_ok {
            c.invalid(
                &format!("{field}.mime_type"),
                format!("{:?} is not a MIME type such as text/xml", part.mime_type),
            );
        }
        match (part.max_size_bytes, profile.max_total_size_bytes) {
            (Some(0), _) => c.invalid(
                &format!("{field}.max_size_bytes"),
                "0 would refuse the part; leave it out",
            ),
            (Some(part_max), Some(total)) if part_max > total => c.invalid(
                &format!("{field}.max_size_bytes"),
                format!("{part_max} is larger than payload_profile.max_total_size_bytes ({total})"),
            ),
            _ => {}
        }
    }
}

/// The SDK transport profile v1.0 (../shared/sdk-spec, "AS4 P-Mode values").
fn check_sdk_profile(c: &mut Checker, pmode: &PMode) {
    let p = Profile::Sdk;
    c.profile(p, "mep", pmode.mep.uri(), Mep::OneWay.uri());
    c.profile(p, "mep_binding", pmode.mep_binding.uri(), MepBinding::Push.uri());
    c.profile(p, "protocol.soap_version", soap(pmode.protocol.soap_version), "1.2");
    check_https(c, p, &pmode.protocol);
    check_fixed_party_type(c, p, "initiator", &pmode.initiator, SDK_PARTY_ID_TYPE);
    check_fixed_party_type(c, p, "responder", &pmode.responder, SDK_PARTY_ID_TYPE);
    c.profile(
        p,
        "initiator.role",
        pmode.initiator.role.as_str(),
        DEFAULT_INITIATOR_ROLE,
    );
    c.profile(
        p,
        "responder.role",
        pmode.responder.role.as_str(),
        DEFAULT_RESPONDER_ROLE,
    );
    c.profile(p, "business_info.mpc", pmode.business_info.mpc.as_str(), DEFAULT_MPC);
    if pmode.business_info.service.value != EBMS_TEST_SERVICE {
        let service_type = pmode.business_info.service.service_type.as_deref().unwrap_or("");
        c.profile(p, "business_info.service.type", service_type, SDK_SERVICE_TYPE);
        for name in ["originalSender", "finalRecipient"] {
            if !pmode
                .business_info
                .properties
                .iter()
                .any(|r| r.name == name && r.required)
            {
                c.push(
                    "business_info.properties",
                    Problem::Missing(format!(
                        "the sdk profile requires the message property {name:?} (required = true)"
                    )),
                );
            }
        }
    }
    let sec = &pmode.security;
    c.profile(
        p,
        "security.x509_token_reference",
        token(sec.x509_token_reference),
        "binary-security-token",
    );
    check_signed_and_encrypted(c, p, sec);
    if let Some(sig) = &sec.signature {
        c.profile(
            p,
            "security.signature.algorithm",
            sig.algorithm,
            SignatureAlgorithm::RsaSha256,
        );
        c.profile(p, "security.signature.hash", sig.hash, DigestAlgorithm::Sha256);
    }
    if let Some(enc) = &sec.encryption {
        c.profile(
            p,
            "security.encryption.data",
            enc.data,
            DataEncryptionAlgorithm::Aes128Gcm,
        );
        match &enc.key {
            KeyEncryption::KeyTransport { algorithm, mgf, digest } => {
                c.profile(
                    p,
                    "security.encryption.key.algorithm",
                    *algorithm,
                    KeyTransportAlgorithm::RsaOaep,
                );
                if let Some(mgf) = mgf {
                    c.profile(
                        p,
                        "security.encryption.key.mgf",
                        *mgf,
                        MaskGenerationFunction::Mgf1Sha256,
                    );
                }
                c.profile(p, "security.encryption.key.digest", *digest, DigestAlgorithm::Sha256);
            }
            KeyEncryption::KeyAgreement { .. } => {
                c.profile(p, "security.encryption.key.method", "key-agreement", "key-transport");
            }
        }
    }
    check_receipts(c, p, sec);
}

/// The eDelivery AS4 2.0 common profile.
fn check_edelivery_v2_profile(c: &mut Checker, pmode: &PMode) {
    let p = Profile::EDeliveryAs4V2;
    if !matches!(pmode.mep_binding, MepBinding::Push | MepBinding::PushAndPush) {
        c.profile(p, "mep_binding", pmode.mep_binding.uri(), MepBinding::Push.uri());
    }
    c.profile(p, "protocol.soap_version", soap(pmode.protocol.soap_version), "1.2");
    check_https(c, p, &pmode.protocol);
    let sec = &pmode.security;
    check_signed_and_encrypted(c, p, sec);
    if let Some(sig) = &sec.signature {
        c.profile(
            p,
            "security.signature.algorithm",
            sig.algorithm,
            SignatureAlgorithm::EddsaEd25519,
        );
        c.profile(p, "security.signature.hash", sig.hash, DigestAlgorithm::Sha256);
    }
    if let Some(enc) = &sec.encryption {
        c.profile(
            p,
            "security.encryption.data",
            enc.data,
            DataEncryptionAlgorithm::Aes128Gcm,
        );
        if matches!(enc.key, KeyEncryption::KeyTransport { .. }) {
            c.profile(p, "security.encryption.key.method", "key-transport", "key-agreement");
        }
        // Key agreement has a single choice per step (x25519, hkdf, hmac-sha256, kw-aes128): the types enforce it.
    }
    check_receipts(c, p, sec);
}

fn check_https(c: &mut Checker, p: Profile, protocol: &Protocol) {
    if let Some(address) = &protocol.address {
        if !address.to_ascii_lowercase().starts_with("https://") {
            c.profile(p, "protocol.address", address.as_str(), "https://…");
        }
    }
}

fn check_fixed_party_type(c: &mut Checker, p: Profile, side: &str, party: &PartySpec, required: &str) {
    match &party.party_id_type {
        Some(t) => c.profile(p, &format!("{side}.party_id_type"), t.as_str(), required),
        None => c.push(
            &format!("{side}.party_id_type"),
            Problem::Missing(format!("the {} profile fixes it to {required:?}", p.name())),
        ),
    }
}

fn check_signed_and_encrypted(c: &mut Checker, p: Profile, sec: &Security) {
    match (&sec.signature, &sec.encryption) {
        (None, Some(_)) => c.push(
            "security.signature",
            Problem::Missing(format!(
                "the {} profile refuses encryption without a signature",
                p.name()
            )),
        ),
        (None, None) => c.push(
            "security.signature",
            Problem::Missing(format!(
                "the {} profile requires every message signed and encrypted",
                p.name()
            )),
        ),
        (Some(_), None) => c.push(
            "security.encryption",
            Problem::Missing(format!(
                "the {} profile requires every message signed and encrypted",
                p.name()
            )),
        ),
        (Some(sig), Some(enc)) => {
            if sig.parts != SignedParts::default() {
                c.invalid(
                    "security.signature.parts",
                    format!(
                        "the {} profile signs the ebMS header, the body and every attachment",
                        p.name()
                    ),
                );
            }
            if !enc.parts.attachments {
                c.invalid(
                    "security.encryption.parts.attachments",
                    format!("the {} profile encrypts every attachment", p.name()),
                );
            }
        }
    }
}

fn check_receipts(c: &mut Checker, p: Profile, sec: &Security) {
    let r = &sec.send_receipt;
    if !(r.enabled && r.non_repudiation) {
        c.push(
            "security.send_receipt",
            Problem::Missing(format!(
                "the {} profile requires signed non-repudiation receipts (enabled = true, non_repudiation = true)",
                p.name()
            )),
        );
    }
    c.profile(
        p,
        "security.send_receipt.reply_pattern",
        reply(r.reply_pattern),
        "response",
    );
}

fn soap(v: SoapVersion) -> &'static str {
    match v {
        SoapVersion::V1_1 => "1.1",
        SoapVersion::V1_2 => "1.2",
    }
}

fn token(t: TokenReference) -> &'static str {
    match t {
        TokenReference::BinarySecurityToken => "binary-security-token",
        TokenReference::IssuerSerial => "issuer-serial",
        TokenReference::SubjectKeyIdentifier => "subject-key-identifier",
    }
}

fn reply(r: ReplyPattern) -> &'static str {
    match r {
        ReplyPattern::Response => "response",
        ReplyPattern::Callback => "callback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::*;
    use crate::builtin::{ebms_test_service, sdk_message};

    /// The fields with issues after `change` is applied to a valid SDK message P-Mode.
    fn fields_after(change: impl FnOnce(&mut PMode)) -> Vec<String> {
        let mut p = sdk_message();
        assert_eq!(validate(&p), vec![]);
        change(&mut p);
        validate(&p).into_iter().map(|i| i.field).collect()
    }

    fn as4_after(change: impl FnOnce(&mut PMode)) -> Vec<String> {
        fields_after(|p| {
            p.profile = Profile::As4;
            change(p)
        })
    }

    fn key_transport(p: &mut PMode) -> &mut KeyEncryption {
        &mut p.security.encryption.as_mut().unwrap().key
    }

    #[test]
    fn weak_algorithms_are_refused_in_every_profile() {
        let sig = |p: &mut PMode| p.security.signature.as_mut().unwrap().algorithm = SignatureAlgorithm::RsaSha1;
        assert_eq!(as4_after(sig), ["security.signature.algorithm"]);
        let hash = |p: &mut PMode| p.security.signature.as_mut().unwrap().hash = DigestAlgorithm::Sha1;
        assert_eq!(as4_after(hash), ["security.signature.hash"]);
        let data = |p: &mut PMode| p.security.encryption.as_mut().unwrap().data = DataEncryptionAlgorithm::Aes128Cbc;
        assert_eq!(as4_after(data), ["security.encryption.data"]);
        let mgf1p = |p: &mut PMode| {
            *key_transport(p) = KeyEncryption::KeyTransport {
                algorithm: KeyTransportAlgorithm::RsaOaepMgf1p,
                mgf: None,
                digest: DigestAlgorithm::Sha1,
            }
        };
        assert_eq!(
            as4_after(mgf1p),
            ["security.encryption.key.algorithm", "security.encryption.key.digest"]
        );
        // The SDK profile reports the weak value once, not again as a profile violation.
        assert_eq!(fields_after(sig), ["security.signature.algorithm"]);
    }

    #[test]
    fn rsa_oaep_needs_its_mgf() {
        let f = as4_after(|p| {
            if let KeyEncryption::KeyTransport { mgf, .. } = key_transport(p) {
                *mgf = None;
            }
        });
        assert_eq!(f, ["security.encryption.key.mgf"]);
    }

    #[test]
    fn encryption_without_signature_is_refused_by_the_sdk_profile() {
        let no_signature = |p: &mut PMode| {
            p.security.signature = None;
            p.security.send_receipt.non_repudiation = false;
        };
        assert_eq!(
            fields_after(no_signature),
            ["security.signature", "security.send_receipt"]
        );
        let mut p = sdk_message();
        p.security.signature = None;
        let issues = validate(&p);
        assert!(
            issues.iter().any(|i| i.field == "security.signature"
                && i.problem.to_string().contains("refuses encryption without a signature")),
            "{issues:?}"
        );
        // Plain AS4 allows it (when receipts are not non-repudiation receipts).
        assert_eq!(as4_after(no_signature), Vec::<String>::new());
        // Non-repudiation receipts need a signature in every profile.
        assert_eq!(as4_after(|p| p.security.signature = None), ["security.signature"]);
    }

    #[test]
    fn the_sdk_profile_requires_signing_and_encryption() {
        assert_eq!(fields_after(|p| p.security.encryption = None), ["security.encryption"]);
    }

    #[test]
    fn mep_binding_and_reply_leg_must_agree() {
        assert_eq!(as4_after(|p| p.mep_binding = MepBinding::Sync), ["mep_binding"]);
        let two_way = |p: &mut PMode| {
            p.mep = Mep::TwoWay;
            p.mep_binding = MepBinding::PushAndPush;
        };
        assert_eq!(as4_after(two_way), ["reply"]);
        assert_eq!(
            as4_after(|p| {
                two_way(p);
                p.reply = Some(ReplyLeg {
                    service: None,
                    action: "urn:example:reply".into(),
                });
            }),
            Vec::<String>::new()
        );
        let reply = |p: &mut PMode| {
            p.reply = Some(ReplyLeg {
                service: None,
                action: "reply".into(),
            })
        };
        assert_eq!(as4_after(reply), ["reply"]);
        // The SDK profile is one-way push only.
        assert_eq!(
            fields_after(|p| {
                two_way(p);
                p.reply = Some(ReplyLeg {
                    service: None,
                    action: "a".into(),
                });
            }),
            ["mep", "mep_binding"]
        );
    }

    #[test]
    fn retry_parameters_are_checked_per_strategy() {
        let set = |r: RetryPolicy| move |p: &mut PMode| p.reception_awareness.retry = r;
        let constant = |max_retries, interval_seconds| RetryPolicy::Constant {
            max_retries,
            interval_seconds,
        };
        assert_eq!(
            as4_after(set(constant(3, 0))),
            ["reception_awareness.retry.interval_seconds"]
        );
        assert_eq!(
            as4_after(set(constant(3, MAX_RETRY_INTERVAL_SECONDS + 1))),
            ["reception_awareness.retry.interval_seconds"]
        );
        assert_eq!(
            as4_after(set(constant(MAX_RETRIES + 1, 60))),
            ["reception_awareness.retry.max_retries"]
        );
        let exp = |multiplier, initial, max| RetryPolicy::Exponential {
            max_retries: 5,
            initial_interval_seconds: initial,
            multiplier,
            max_interval_seconds: max,
        };
        assert_eq!(as4_after(set(exp(2, 60, 600))), Vec::<String>::new());
        assert_eq!(
            as4_after(set(exp(1, 60, 600))),
            ["reception_awareness.retry.multiplier"]
        );
        assert_eq!(
            as4_after(set(exp(2, 600, 60))),
            ["reception_awareness.retry.max_interval_seconds"]
        );
        assert_eq!(
            as4_after(set(exp(2, 0, 60))),
            ["reception_awareness.retry.initial_interval_seconds"]
        );
    }

    #[test]
    fn retry_delays_follow_the_strategy() {
        let exp = RetryPolicy::Exponential {
            max_retries: 5,
            initial_interval_seconds: 10,
            multiplier: 3,
            max_interval_seconds: 200,
        };
        let delays: Vec<_> = (0..=6)
            .map(|n| exp.delay_before_retry(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(delays, [None, Some(10), Some(30), Some(90), Some(200), Some(200), None]);
    }

    #[test]
    fn duplicate_detection_window_must_be_sane() {
        let window = |w| move |p: &mut PMode| p.reception_awareness.duplicate_detection.window_seconds = w;
        assert_eq!(
            as4_after(window(0)),
            ["reception_awareness.duplicate_detection.window_seconds"]
        );
        assert_eq!(
            as4_after(window(MAX_DUPLICATE_WINDOW_SECONDS + 1)),
            ["reception_awareness.duplicate_detection.window_seconds"]
        );
        assert_eq!(
            as4_after(|p| {
                p.reception_awareness.duplicate_detection = DuplicateDetection {
                    enabled: false,
                    window_seconds: 0,
                }
            }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn untyped_party_ids_and_services_must_be_uris() {
        let party = |p: &mut PMode| {
            p.initiator = PartySpec {
                party_id: Some("AP0001".into()),
                party_id_type: None,
                role: "r".into(),
            }
        };
        assert_eq!(as4_after(party), ["initiator.party_id_type"]);
        let uri_party = |p: &mut PMode| {
            p.initiator = PartySpec {
                party_id: Some("urn:ap:AP0001".into()),
                party_id_type: None,
                role: "r".into(),
            }
        };
        assert_eq!(as4_after(uri_party), Vec::<String>::new());
        let service = |p: &mut PMode| p.business_info.service = Service::new("noprocess", None);
        assert_eq!(as4_after(service), ["business_info.service.type"]);
    }

    #[test]
    fn texts_must_be_clean() {
        assert_eq!(as4_after(|p| p.id = "has space".into()), ["id"]);
        assert_eq!(
            as4_after(|p| p.business_info.action = String::new()),
            ["business_info.action"]
        );
        assert_eq!(
            as4_after(|p| p.business_info.action = " padded".into()),
            ["business_info.action"]
        );
        assert_eq!(
            as4_after(|p| p.responder.role = "x".repeat(MAX_VALUE_BYTES + 1)),
            ["responder.role"]
        );
    }

    #[test]
    fn payload_profile_is_checked() {
        let part = |cid: &str, mime: &str, max| PayloadPart {
            cid: cid.into(),
            mime_type: mime.into(),
            required: true,
            max_size_bytes: max,
        };
        let parts = |v: Vec<PayloadPart>| move |p: &mut PMode| p.payload_profile.parts = v;
        assert_eq!(
            as4_after(parts(vec![part("message", "text/xml", None)])),
            ["payload_profile.parts[0].cid"]
        );
        assert_eq!(
            as4_after(parts(vec![
                part("cid:a", "text/xml", None),
                part("cid:a", "text/xml", None)
            ])),
            ["payload_profile.parts[1].cid"]
        );
        assert_eq!(
            as4_after(parts(vec![part("cid:a", "xml", None)])),
            ["payload_profile.parts[0].mime_type"]
        );
        assert_eq!(
            as4_after(parts(vec![part("cid:a", "text/xml", Some(u64::MAX))])),
            ["payload_profile.parts[0].max_size_bytes"]
        );
        assert_eq!(
            as4_after(|p| p.payload_profile.max_total_size_bytes = Some(0)),
            ["payload_profile.max_total_size_bytes"]
        );
    }

    #[test]
    fn protocol_address_must_be_an_http_url_and_https_for_sdk() {
        let address = |a: &str| {
            let a = a.to_string();
            move |p: &mut PMode| p.protocol.address = Some(a)
        };
        assert_eq!(as4_after(address("ftp://x")), ["protocol.address"]);
        assert_eq!(as4_after(address("https://")), ["protocol.address"]);
        assert_eq!(as4_after(address("http://ap.example/msh")), Vec::<String>::new());
        assert_eq!(fields_after(address("http://ap.example/msh")), ["protocol.address"]);
        assert_eq!(fields_after(address("https://ap.example/msh")), Vec::<String>::new());
    }

    #[test]
    fn the_sdk_profile_fixes_its_values() {
        let eddsa = |p: &mut PMode| p.security.signature.as_mut().unwrap().algorithm = SignatureAlgorithm::EddsaEd25519;
        assert_eq!(fields_after(eddsa), ["security.signature.algorithm"]);
        assert_eq!(
            fields_after(|p| p.protocol.soap_version = SoapVersion::V1_1),
            ["protocol.soap_version"]
        );
        assert_eq!(
            fields_after(|p| p.responder.party_id_type = None),
            ["responder.party_id_type"]
        );
        assert_eq!(
            fields_after(|p| p.initiator.party_id_type = Some("urn:x".into())),
            ["initiator.party_id_type"]
        );
        assert_eq!(
            fields_after(|p| p.business_info.properties.pop().map(drop).unwrap()),
            ["business_info.properties"]
        );
        assert_eq!(
            fields_after(|p| p.security.x509_token_reference = TokenReference::IssuerSerial),
            ["security.x509_token_reference"]
        );
        assert_eq!(
            fields_after(|p| p.security.send_receipt.reply_pattern = ReplyPattern::Callback),
            ["security.send_receipt.reply_pattern"]
        );
        assert_eq!(
            fields_after(|p| {
                p.security.send_receipt.non_repudiation = false;
            }),
            ["security.send_receipt"]
        );
        let agreement = |p: &mut PMode| {
            *key_transport(p) = KeyEncryption::KeyAgreement {
                algorithm: KeyAgreementAlgorithm::X25519,
                key_derivation: KeyDerivationFunction::Hkdf,
                prf: PseudoRandomFunction::HmacSha256,
                key_wrap: KeyWrapAlgorithm::KwAes128,
            }
        };
        assert_eq!(fields_after(agreement), ["security.encryption.key.method"]);
        assert_eq!(
            fields_after(|p| p.security.signature.as_mut().unwrap().parts.attachments = false),
            ["security.signature.parts"]
        );
    }

    #[test]
    fn the_edelivery_v2_profile_fixes_its_algorithms() {
        let mut p = ebms_test_service(Profile::EDeliveryAs4V2);
        assert_eq!(validate(&p), vec![]);
        p.security.signature.as_mut().unwrap().algorithm = SignatureAlgorithm::RsaSha256;
        p.security.encryption.as_mut().unwrap().key = KeyEncryption::KeyTransport {
            algorithm: KeyTransportAlgorithm::RsaOaep,
            mgf: Some(MaskGenerationFunction::Mgf1Sha256),
            digest: DigestAlgorithm::Sha256,
        };
        let fields: Vec<_> = validate(&p).into_iter().map(|i| i.field).collect();
        assert_eq!(
            fields,
            ["security.signature.algorithm", "security.encryption.key.method"]
        );
    }
}
