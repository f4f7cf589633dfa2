//! Typed identifiers of the SDK federation: participant ids (ISO 6523 ICD + value), Swedish organisation numbers,
//! functional addresses and SMP document/process ids. Each is validated when built, so a value of these types is
//! always well-formed.

use std::fmt;
use std::str::FromStr;

/// The participant identifier scheme used throughout SDK and eDelivery.
pub const PARTICIPANT_SCHEME: &str = "iso6523-actorid-upis";
/// The document identifier scheme of the SDK code lists.
pub const DOCUMENT_SCHEME: &str = "busdox-docid-qns";
/// The process identifier scheme of the SDK code lists.
pub const PROCESS_SCHEME: &str = "urn:fdc:digg.se:edelivery:process";
/// Longest accepted identifier value (participant, document, functional address), in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 256;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("participant id {0:?} must have the form ICD:VALUE (e.g. 0203:example.se)")]
    ParticipantFormat(String),
    #[error("participant id scheme {0:?} is not {PARTICIPANT_SCHEME}")]
    ParticipantScheme(String),
    #[error("ICD {0:?} is not one of the SDK participant identifier schemes 0007, 0088, 0203")]
    UnknownIcd(String),
    #[error("ICD 0007 value {value:?}: {reason}")]
    OrganisationNumber { value: String, reason: &'static str },
    #[error("ICD 0088 value {0:?} is not a 13-digit GLN with a valid check digit")]
    Gln(String),
    #[error("ICD 0203 value {0:?} is not a domain name")]
    Domain(String),
    #[error("functional address id {0:?} must be 1..=256 printable characters without spaces")]
    FunctionalAddress(String),
    #[error("document id {0:?} must be 1..=256 printable characters")]
    Document(String),
}

/// A Swedish organisation number (organisationsnummer): ten digits, the last a Luhn check digit. Accepts the
/// written form `NNNNNN-NNNN` as well.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganisationNumber(String);

impl OrganisationNumber {
    /// Parses and validates (ten digits, Luhn checksum).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        let bad = |reason| IdError::OrganisationNumber {
            value: text.to_string(),
            reason,
        };
        if text.matches('-').count() > 1 || (text.contains('-') && text.find('-') != Some(6)) {
            return Err(bad("a hyphen may only separate the sixth and seventh digit"));
        }
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("must be ten digits"));
        }
        if !luhn_valid(&digits) {
            return Err(bad("the check digit (Luhn) does not match"));
        }
        Ok(OrganisationNumber(digits))
    }

    /// The ten digits, without hyphen.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganisationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrganisationNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// The Luhn (mod 10) check over ASCII digits, as used by Swedish personal and organisation numbers.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The GS1 mod-10 check of a GLN (weights 3,1 from the right, excluding the check digit).
fn gln_valid(digits: &str) -> bool {
    if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let bytes = digits.as_bytes();
    let body = &bytes[..12];
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(bytes[12] - b'0')
}

fn domain_valid(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    value.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// The participant identifier schemes (ISO 6523 ICDs) accepted in SDK (code list C3.2.7 §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Icd {
    /// 0007: Swedish organisation number.
    OrganisationNumber,
    /// 0088: GS1 Global Location Number.
    Gln,
    /// 0203: eDelivery network participant identifier (a domain name).
    Domain,
}

impl Icd {
    /// The four-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Icd::OrganisationNumber => "0007",
            Icd::Gln => "0088",
            Icd::Domain => "0203",
        }
    }
}

/// A participant identifier `ICD:VALUE` in scheme `iso6523-actorid-upis`, e.g. `0203:example.se`.
/// Stored in canonical form: ICD and value as written, but compared case-insensitively because SML hashes the
/// lowercase form and SMP identifiers are case-insensitive for this scheme.
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct ParticipantId {
    icd: Icd,
    value: String,
}

impl PartialEq for ParticipantId {
    fn eq(&self, other: &Self) -> bool {
        self.icd == other.icd && self.value.eq_ignore_ascii_case(&other.value)
    }
}

impl std::hash::Hash for ParticipantId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.icd.hash(state);
        self.value.to_ascii_lowercase().hash(state);
    }
}

impl ParticipantId {
    /// Parses `ICD:VALUE`, or `iso6523-actorid-upis::ICD:VALUE`, and validates the value for its ICD.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let text = text.trim();
        let bare = match text.split_once("::") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case(PARTICIPANT_SCHEME) {
                    return Err(IdError::ParticipantScheme(scheme.to_string()));
                }
                rest
            }
            None => text,
        };
        Self::from_parts(PARTICIPANT_SCHEME, bare)
    }

    /// Builds from an SMP `ParticipantIdentifier` (scheme attribute and text).
    pub fn from_parts(scheme: &str, value: &str) -> Result<Self, IdError> {
        if !scheme.eq_ignore_ascii_case(PARTICIPANT_SCHEME) {
            return Err(IdError::ParticipantScheme(scheme.to_string()));
        }
        let value = value.trim();
        if value.len() > MAX_IDENTIFIER_LEN {
            return Err(IdError::ParticipantFormat(value.chars().take(64).collect()));
        }
        let (icd, rest) = value
            .split_once(':')
            .ok_or_else(|| IdError::ParticipantFormat(value.to_string()))?;
        let icd = match icd {
            "0007" => Icd::OrganisationNumber,
            "0088" => Icd::Gln,
            "0203" => Icd::Domain,
            other => return Err(IdError::UnknownIcd(other.to_string())),
        };
        match icd {
            Icd::OrganisationNumber => {
                OrganisationNumber::parse(rest)?;
                if rest.contains('-') {
                    return Err(IdError::OrganisationNumber {
                        value: rest.to_string(),
                        reason: "must be written as ten digits without hyphen",
                    });
                }
            }
            Icd::Gln if !gln_valid(rest) => return Err(IdError::Gln(rest.to_string())),
            Icd::Domain if !domain_valid(rest) => return Err(IdError::Domain(rest.to_string())),
            _ => {}
        }
        Ok(ParticipantId {
            icd,
            value: rest.to_string(),
        })
    }

    /// A participant id for an organisation number (ICD 0007).
    pub fn from_organisation_number(number: &OrganisationNumber) -> Self {
        ParticipantId {
            icd: Icd::OrganisationNumber,
            value: number.as_str().to_string(),
        }
    }

    /// The ICD.
    pub fn icd(&self) -> Icd {
        self.icd
    }

    /// The value after the ICD (e.g. `example.se`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `ICD:VALUE`, as written in SMP `ParticipantIdentifier` and hashed (lowercased) for SML.
    pub fn identifier(&self) -> String {
        format!("{}:{}", self.icd.code(), self.value)
    }

    /// `iso6523-actorid-upis::ICD:VALUE`, the form used in SMP URLs.
    pub fn with_scheme(&self) -> String {
        format!("{PARTICIPANT_SCHEME}::{}", self.identifier())
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.icd.code(), self.value)
    }
}

impl FromStr for ParticipantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

fn printable_id(text: &str, allow_space: bool) -> bool {
    !text.is_empty()
        && text.len() <= MAX_IDENTIFIER_LEN
        && text
            .chars()
            .all(|c| !c.is_control() && (allow_space || !c.is_whitespace()))
}

/// The identifier of a functional address (funktionsadress), e.g. `SE2321000016-1234`: the
/// `subOrganization/organizationId` extension in SDK messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionalAddressId(String);

impl FunctionalAddressId {
    /// Validates: 1..=256 characters, no whitespace or control characters.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if !printable_id(text, false) {
            return Err(IdError::FunctionalAddress(text.chars().take(64).collect()));
        }
        Ok(FunctionalAddressId(text.to_string()))
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FunctionalAddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An SMP document identifier in scheme `busdox-docid-qns`, e.g.
/// `urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base`.
/// Document identifiers are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

impl DocumentId {
    /// Accepts the bare value or `busdox-docid-qns::VALUE`.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let text = text.trim();
        let bare = text
            .strip_prefix(DOCUMENT_SCHEME)
            .and_then(|r| r.strip_prefix("::"))
            .unwrap_or(text);
        if !printable_id(bare, false) {
            return Err(IdError::Document(bare.chars().take(64).collect()));
        }
        Ok(DocumentId(bare.to_string()))
    }

    /// The value without scheme.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `busdox-docid-qns::VALUE`, the form used in SMP URLs.
    pub fn with_scheme(&self) -> String {
        format!("{DOCUMENT_SCHEME}::{}", self.0)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SDK message document id, transport model Bas (C3.2.7 §1.3).
pub const SDK_MESSAGE_BASE: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base";
/// The SDK message document id, transport model Utökad Bas (signed and encrypted payload).
pub const SDK_MESSAGE_SIGENC: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers_are_checked_with_luhn() {
        assert_eq!(OrganisationNumber::parse("2021006883").unwrap().as_str(), "2021006883");
        assert_eq!(OrganisationNumber::parse("202100-6883").unwrap().as_str(), "2021006883");
        assert_eq!(OrganisationNumber::parse("2321000016").unwrap().as_str(), "2321000016");
        assert!(OrganisationNumber::parse("2021006884").is_err());
        assert!(OrganisationNumber::parse("202100688").is_err());
        assert!(OrganisationNumber::parse("20210-06883").is_err());
        assert!(OrganisationNumber::parse("20210068a3").is_err());
        assert!(OrganisationNumber::parse("").is_err());
    }

    #[test]
    fn participant_ids_validate_each_icd() {
        let p = ParticipantId::parse("0203:example.se").unwrap();
        assert_eq!(p.icd(), Icd::Domain);
        assert_eq!(p.with_scheme(), "iso6523-actorid-upis::0203:example.se");
        assert_eq!(
            ParticipantId::parse("iso6523-actorid-upis::0203:Example.SE").unwrap(),
            p
        );
        assert!(ParticipantId::parse("0007:2021006883").is_ok());
        assert!(matches!(
            ParticipantId::parse("0007:2021006884"),
            Err(IdError::OrganisationNumber { .. })
        ));
        assert!(matches!(
            ParticipantId::parse("0007:202100-6883"),
            Err(IdError::OrganisationNumber { .. })
        ));
        assert!(ParticipantId::parse("0088:7350053850019").is_ok());
        assert!(matches!(
            ParticipantId::parse("0088:7350053850018"),
            Err(IdError::Gln(_))
        ));
        assert!(matches!(ParticipantId::parse("0203:nodot"), Err(IdError::Domain(_))));
        assert!(matches!(ParticipantId::parse("0203:bad_.se"), Err(IdError::Domain(_))));
        assert!(matches!(ParticipantId::parse("9999:x"), Err(IdError::UnknownIcd(_))));
        assert!(matches!(
            ParticipantId::parse("other::0203:a.se"),
            Err(IdError::ParticipantScheme(_))
        ));
        assert!(matches!(
            ParticipantId::parse("example.se"),
            Err(IdError::ParticipantFormat(_))
        ));
    }

    #[test]
    fn document_and_functional_ids() {
        let d = DocumentId::parse(&format!("busdox-docid-qns::{SDK_MESSAGE_BASE}")).unwrap();
        assert_eq!(d.as_str(), SDK_MESSAGE_BASE);
        assert!(DocumentId::parse("").is_err());
        assert!(DocumentId::parse("a b").is_err());
        assert!(FunctionalAddressId::parse("SE2321000016-1234").is_ok());
        assert!(FunctionalAddressId::parse("with space").is_err());
        assert!(FunctionalAddressId::parse(&"x".repeat(257)).is_err());
    }
}
