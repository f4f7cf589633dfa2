//! MIME part headers (RFC 2045/5322 header sections): parsing of a complete, size-capped header section into an
//! ordered, case-insensitive list, with accessors for the fields SOAP-with-attachments uses.

use super::content_type::strip_angle_brackets;
use super::MimeError;

/// The header fields of one MIME part, in the order received. Names keep their original spelling; lookups are
/// case-insensitive. Folded values are unfolded and trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    fields: Vec<(String, String)>,
}

/// How a part's body is encoded on the wire (`Content-Transfer-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEncoding {
    /// `binary`, `8bit`, `7bit` or no header: the bytes are the content.
    Identity,
    /// `base64`: decoded while streaming; whitespace between characters is ignored.
    Base64,
}

impl PartHeaders {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// The first value of field `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All fields, in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `Content-ID` without whitespace and angle brackets.
    pub fn content_id(&self) -> Option<String> {
        self.get("Content-ID")
            .map(strip_angle_brackets)
            .filter(|id| !id.is_empty())
    }

    /// `Content-Type`, as received.
    pub fn content_type(&self) -> Option<&str> {
        self.get("Content-Type")
    }

    /// `Content-Transfer-Encoding`, as received.
    pub fn content_transfer_encoding(&self) -> Option<&str> {
        self.get("Content-Transfer-Encoding")
    }

    /// `Content-Description`, as received.
    pub fn content_description(&self) -> Option<&str> {
        self.get("Content-Description")
    }

    /// `Content-Disposition`, as received.
    pub fn content_disposition(&self) -> Option<&str> {
        self.get("Content-Disposition")
    }

    /// The decoding the reader applies. `part_index` only labels the error.
    pub fn transfer_encoding(&self, part_index: usize) -> Result<TransferEncoding, MimeError> {
        match self.content_transfer_encoding().map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(TransferEncoding::Identity),
            Some(cte) => match cte.as_str() {
                "binary" | "8bit" | "7bit" | "" => Ok(TransferEncoding::Identity),
                "base64" => Ok(TransferEncoding::Base64),
                _ => Err(MimeError::UnsupportedTransferEncoding {
                    part_index,
                    encoding: cte,
                }),
            },
        }
    }

    /// Parses a header section (everything before the blank line, line endings CRLF or bare LF, the blank line
    /// itself excluded). Continuation lines starting with space or tab are unfolded.
    pub fn parse(section: &[u8], part_index: usize) -> Result<Self, MimeError> {
        let malformed = |reason: &str| MimeError::MalformedHeader {
            part_index,
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(section).map_err(|_| malformed("header section is not UTF-8"))?;
        let mut headers = PartHeaders::new();
        for raw_line in text.split('\n') {
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = headers.fields.last_mut() else {
                    return Err(malformed("continuation line before any field"));
                };
                let continuation = line.trim();
                if !continuation.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(continuation);
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed("line without ':'"));
            };
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(malformed("invalid field name"));
            }
            headers.push(name, value.trim());
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_mixed_line_endings_case_insensitively() {
        let section = b"content-type: application/octet-stream\r\nContent-ID:  <part-1@x>\nX-Long: a\r\n\tb\r\n  c\r\n\
                        Content-Transfer-Encoding: BASE64";
        let h = PartHeaders::parse(section, 1).unwrap();
        assert_eq!(h.content_type(), Some("application/octet-stream"));
        assert_eq!(h.content_id().as_deref(), Some("part-1@x"));
        assert_eq!(h.get("x-long"), Some("a b c"));
        assert_eq!(h.transfer_encoding(1).unwrap(), TransferEncoding::Base64);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn transfer_encodings() {
        for (cte, expected) in [
            ("binary", TransferEncoding::Identity),
            ("8bit", TransferEncoding::Identity),
            ("7BIT", TransferEncoding::Identity),
        ] {
            let mut h = PartHeaders::new();
            h.push("Content-Transfer-Encoding", cte);
            assert_eq!(h.transfer_encoding(0).unwrap(), expected);
        }
        let mut h = PartHeaders::new();
        h.push("Content-Transfer-Encoding", "quoted-printable");
        assert!(matches!(
            h.transfer_encoding(2),
            Err(MimeError::UnsupportedTransferEncoding { part_index: 2, .. })
        ));
    }

    #[test]
    fn malformed_sections() {
        for bad in [
            &b"no colon here"[..],
            b" leading continuation",
            b": empty name",
            b"Bad Name: x",
            b"X: \xff",
        ] {
            assert!(
                matches!(PartHeaders::parse(bad, 0), Err(MimeError::MalformedHeader { .. })),
                "{bad:?}"
            );
        }
    }
}
