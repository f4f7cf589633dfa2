//! Identifiers and timestamps: validated ebMS message ids (RFC 2822 `msg-id` without the angle brackets), their
//! generator, `wsu:Id` values (XML NCNames) and UTC `xsd:dateTime` timestamps.

use std::fmt;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Longest accepted message id, in bytes. ebMS3 sets no bound; 255 is what common peers (Domibus) store.
pub const MAX_MESSAGE_ID_LEN: usize = 255;

/// Why an identifier or timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("message id {0:?} is not an RFC 2822 id-left@id-right string")]
    InvalidMessageId(String),
    #[error("message id is longer than {MAX_MESSAGE_ID_LEN} bytes")]
    MessageIdTooLong,
    #[error("message id domain {0:?} is not an RFC 2822 dot-atom")]
    InvalidDomain(String),
    #[error("{0:?} is not a valid XML NCName for a wsu:Id")]
    InvalidWsuId(String),
    #[error("timestamp {0:?} is not an xsd:dateTime in UTC")]
    InvalidTimestamp(String),
}

/// An ebMS message id: `id-left@id-right` as in RFC 2822 §3.6.4, without `<` `>`. The left part is a dot-atom, the
/// right part a dot-atom or a `[...]` domain literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    pub fn parse(value: &str) -> Result<MessageId, IdError> {
        if value.len() > MAX_MESSAGE_ID_LEN {
            return Err(IdError::MessageIdTooLong);
        }
        let invalid = || IdError::InvalidMessageId(value.to_string());
        let (left, right) = value.rsplit_once('@').ok_or_else(invalid)?;
        if !is_dot_atom(left) {
            return Err(invalid());
        }
        let right_ok = match right.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(literal) => literal.bytes().all(is_dtext),
            None => is_dot_atom(right),
        };
        if !right_ok {
            return Err(invalid());
        }
        Ok(MessageId(value.to_string()))
    }

    /// Accepts what some peers send in place of an RFC 2822 id (e.g. a bare UUID supplied by a Domibus back end):
    /// 1 to [`MAX_MESSAGE_ID_LEN`] printable ASCII characters, without spaces and without `<` or `>`. Only for
    /// reading received messages under [`crate::ebms::MessageIdPolicy::Lenient`]; ids this MSH creates are strict.
    pub fn parse_lenient(value: &str) -> Result<MessageId, IdError> {
        if value.len() > MAX_MESSAGE_ID_LEN {
            return Err(IdError::MessageIdTooLong);
        }
        if value.is_empty()
            || !value
                .bytes()
                .all(|b| matches!(b, 0x21..=0x7E) && b != b'<' && b != b'>')
        {
            return Err(IdError::InvalidMessageId(value.to_string()));
        }
        Ok(MessageId(value.to_string()))
    }

    /// Whether the id is an RFC 2822 `id-left@id-right` (always true unless it came from [`MessageId::parse_lenient`]).
    pub fn is_rfc2822(&self) -> bool {
        MessageId::parse(&self.0).is_ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for MessageId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageId::parse(s)
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// RFC 2822 atext.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 2822 dtext (printable US-ASCII except `[`, `]` and `\`).
fn is_dtext(b: u8) -> bool {
    matches!(b, 33..=90 | 94..=126)
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
}

/// Makes new message ids: a random (v4) UUID, `@`, and the configured domain (e.g. the access point's host name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIdGenerator {
    domain: String,
}

impl MessageIdGenerator {
    pub fn new(domain: &str) -> Result<MessageIdGenerator, IdError> {
        if !is_dot_atom(domain) || domain.len() > MAX_MESSAGE_ID_LEN - 37 {
            return Err(IdError::InvalidDomain(domain.to_string()));
        }
        Ok(MessageIdGenerator {
            domain: domain.to_string(),
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// A new, unique message id.
    pub fn generate(&self) -> MessageId {
        MessageId(format!("{}@{}", uuid::Uuid::new_v4(), self.domain))
    }
}

/// A `wsu:Id` (an XML NCName), referenced by signatures as `#id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsuId(String);

impl WsuId {
    pub fn parse(value: &str) -> Result<WsuId, IdError> {
        if is_ncname(value) {
            Ok(WsuId(value.to_string()))
        } else {
            Err(IdError::InvalidWsuId(value.to_string()))
        }
    }

    /// A fresh id, `<prefix>-<uuid>`; `prefix` must itself be an NCName start (letters, digits after the first,
    /// `_`, `-`, `.`).
    pub fn generate(prefix: &str) -> WsuId {
        let candidate = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if is_ncname(&candidate) {
            WsuId(candidate)
        } else {
            WsuId(format!("id-{}", uuid::Uuid::new_v4()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WsuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// XML Namespaces NCName (Name without colons).
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    is_name_start(first) && chars.all(|c| is_name_start(c) || is_name_char_extra(c))
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char_extra(c: char) -> bool {
    matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `s` looks like an absolute URI (RFC 3986 scheme followed by `:` and no whitespace). ebMS3 requires a
/// PartyId or Service without `type` to be a URI.
pub(crate) fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sc = scheme.bytes();
    sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sc.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

/// An `xsd:dateTime` in UTC, as ebMS3 requires for `eb:Timestamp`. Rendered as `YYYY-MM-DDThh:mm:ss[.fff]Z` with
/// only as many fraction digits as needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, truncated to milliseconds (what peers commonly keep).
    pub fn now() -> Timestamp {
        let now = OffsetDateTime::now_utc();
        let millis = now.millisecond();
        Timestamp(now.replace_millisecond(millis).unwrap_or(now))
    }

    /// `at`, converted to UTC.
    pub fn from_datetime(at: OffsetDateTime) -> Timestamp {
        Timestamp(at.to_offset(UtcOffset::UTC))
    }

    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }

    /// Parses `YYYY-MM-DDThh:mm:ss[.f+](Z|+00:00|-00:00)?`. A missing zone is read as UTC (ebMS3 says the value is
    /// UTC). Other offsets are refused, as ebMS3 §5.2.2.1 requires UTC. Fractions beyond nanoseconds are truncated.
    pub fn parse(value: &str) -> Result<Timestamp, IdError> {
        let invalid = || IdError::InvalidTimestamp(value.to_string());
        let body = value
            .strip_suffix('Z')
            .or_else(|| value.strip_suffix("+00:00"))
            .or_else(|| value.strip_suffix("-00:00"))
            .unwrap_or(value);
        let b = body.as_bytes();
        // ASCII only, so that the byte offsets below are character boundaries.
        if !body.is_ascii()
            || b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(invalid());
        }
        let num = |range: std::ops::Range<usize>| -> Result<u32, IdError> {
            let digits = &body[range];
            if digits.bytes().all(|d| d.is_ascii_digit()) {
                digits.parse().map_err(|_| invalid())
            } else {
                Err(invalid())
            }
        };
        let year = num(0..4)? as i32;
        let month = Month::try_from(num(5..7)? as u8).map_err(|_| invalid())?;
        let day = num(8..10)? as u8;
        let (hour, minute, second) = (num(11..13)? as u8, num(14..16)? as u8, num(17..19)? as u8);
        let mut nanos = 0u32;
        let rest = &body[19..];
        if !rest.is_empty() {
            let fraction = rest.strip_prefix('.').ok_or_else(invalid)?;
            if fraction.is_empty() || !fraction.bytes().all(|d| d.is_ascii_digit()) {
                return Err(invalid());
            }
            for (i, d) in fraction.bytes().take(9).enumerate() {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
            }
        }
        let date = Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
        let time = Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| invalid())?;
        Ok(Timestamp(PrimitiveDateTime::new(date, time).assume_utc()))
    }

    /// The canonical text form.
    pub fn to_xsd(&self) -> String {
        let t = self.0;
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let nanos = t.nanosecond();
        if nanos != 0 {
            let fraction = format!("{nanos:09}");
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xsd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_follow_rfc2822() {
        for ok in [
            "a@b",
            "abc.def@example.com",
            "x!#$%&'*+-/=?^_`{|}~@[10.0.0.1]",
            "1234-uuid@domibus.eu",
        ] {
            assert!(MessageId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "no-at", "<a@b>", "a@", "@b", "a..b@c", ".a@b", "a@b.", "a b@c", "a@b@c", "a@[x[y]", "ä@b",
        ] {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@b", "a".repeat(MAX_MESSAGE_ID_LEN));
        assert_eq!(MessageId::parse(&long), Err(IdError::MessageIdTooLong));
        assert_eq!(MessageId::parse_lenient(&long), Err(IdError::MessageIdTooLong));
        let bare = MessageId::parse_lenient("70c5ea37-f4a9-4771-b0c7-09becd024bda").unwrap();
        assert!(!bare.is_rfc2822());
        for bad in ["", "a b", "<a@b>", "tab\t", "ä"] {
            assert!(MessageId::parse_lenient(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_unique() {
        let generator = MessageIdGenerator::new("ap.example.se").unwrap();
        let a = generator.generate();
        let b = generator.generate();
        assert_ne!(a, b);
        assert!(a.as_str().ends_with("@ap.example.se"));
        assert_eq!(MessageId::parse(a.as_str()), Ok(a));
        assert!(MessageIdGenerator::new("bad domain").is_err());
        assert!(MessageIdGenerator::new("").is_err());
    }

    #[test]
    fn wsu_ids_are_ncnames() {
        assert!(WsuId::parse("_1").is_ok());
        assert!(WsuId::parse("id-abc.1").is_ok());
        for bad in ["", "1a", "a:b", "a b", "-a"] {
            assert!(WsuId::parse(bad).is_err(), "{bad}");
        }
        assert!(WsuId::generate("body").as_str().starts_with("body-"));
        assert!(WsuId::generate("1bad").as_str().starts_with("id-"));
    }

    #[test]
    fn uri_check() {
        assert!(is_absolute_uri("urn:oasis:names:tc:ebcore:partyid-type:unregistered:x"));
        assert!(is_absolute_uri("http://example.com/a"));
        assert!(!is_absolute_uri("AP0001"));
        assert!(!is_absolute_uri("1urn:x"));
        assert!(!is_absolute_uri("urn:"));
        assert!(!is_absolute_uri("urn:a b"));
    }

    #[test]
    fn timestamps_are_utc_xsd_datetimes() {
        let t = Timestamp::parse("2024-02-29T23:59:58.120Z").unwrap();
        assert_eq!(t.to_xsd(), "2024-02-29T23:59:58.12Z");
        assert_eq!(Timestamp::parse("2024-02-29T23:59:58.12+00:00"), Ok(t));
        assert_eq!(Timestamp::parse("2024-02-29T23:59:58.12"), Ok(t));
        assert_eq!(
            Timestamp::parse("2024-01-01T00:00:00Z").unwrap().to_xsd(),
            "2024-01-01T00:00:00Z"
        );
        let fine = Timestamp::parse("2024-01-01T00:00:00.1234567891Z").unwrap();
        assert_eq!(fine.to_xsd(), "2024-01-01T00:00:00.123456789Z");
        for bad in [
            "2024-01-01T00:00:00+01:00",
            "2023-02-29T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "+024-01-01T00:00:00Z",
            "2024-01-01T00:00:0\u{e9}Z",
            "2024-01-01T00:00:00.1\u{e9}",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_xsd()), Ok(now));
    }
}
