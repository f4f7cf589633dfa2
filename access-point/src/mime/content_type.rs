//! Parsing of MIME `Content-Type` values (RFC 2045 section 5.1) and of the top-level media type of an AS4 HTTP body:
//! `multipart/related` (RFC 2387) carrying SOAP with attachments, or a bare SOAP envelope.

use super::MimeError;

/// Longest boundary accepted. RFC 2046 allows 70 characters; some peers exceed it, so we allow more while still
/// bounding the memory a scanner needs.
pub const MAX_BOUNDARY_LEN: usize = 200;

/// A parsed media type: lower-cased `type/subtype` and its parameters (names lower-cased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lower-cased, e.g. `multipart/related`.
    pub mime_type: String,
    /// Parameters in the order given; names lower-cased, values with quoting removed.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a `Content-Type` header value. Parameter names are case-insensitive; values may be tokens or quoted
    /// strings (with backslash escapes). A repeated parameter name is an error because it makes the value ambiguous.
    pub fn parse(value: &str) -> Result<Self, MimeError> {
        let invalid = |why: &str| MimeError::InvalidContentType {
            value: value.to_owned(),
            reason: why.to_owned(),
        };
        let mut rest = value.trim_start_matches(is_lwsp);
        let type_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        let main_type = &rest[..type_end];
        rest = &rest[type_end..];
        let Some(after_slash) = rest.strip_prefix('/') else {
            return Err(invalid("expected type/subtype"));
        };
        let sub_end = after_slash
            .find(|c: char| !is_token_char(c))
            .unwrap_or(after_slash.len());
        let sub_type = &after_slash[..sub_end];
        if main_type.is_empty() || sub_type.is_empty() {
            return Err(invalid("empty type or subtype"));
        }
        let mime_type = format!("{}/{}", main_type.to_ascii_lowercase(), sub_type.to_ascii_lowercase());
        rest = &after_slash[sub_end..];

        let mut params: Vec<(String, String)> = Vec::new();
        loop {
            rest = rest.trim_start_matches(is_lwsp);
            if rest.is_empty() {
                break;
            }
            let Some(after_semi) = rest.strip_prefix(';') else {
                return Err(invalid("expected ';' between parameters"));
            };
            rest = after_semi.trim_start_matches(is_lwsp);
            if rest.is_empty() {
                // A trailing ';' is common and harmless.
                break;
            }
            let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            if name.is_empty() {
                return Err(invalid("empty parameter name"));
            }
            rest = rest[name_end..].trim_start_matches(is_lwsp);
            let Some(after_eq) = rest.strip_prefix('=') else {
                return Err(invalid("parameter without '='"));
            };
            rest = after_eq.trim_start_matches(is_lwsp);
            let param_value;
            if let Some(quoted) = rest.strip_prefix('"') {
                let (unquoted, consumed) = parse_quoted(quoted).ok_or_else(|| invalid("unterminated quoted string"))?;
                param_value = unquoted;
                rest = &quoted[consumed..];
            } else {
                // Tolerance: peers send unquoted values with tspecials (`type=application/soap+xml`), so an
                // unquoted value runs to the next ';' or whitespace.
                let end = rest
                    .find(|c: char| c == ';' || c == '"' || is_lwsp(c))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return Err(invalid("empty parameter value"));
                }
                param_value = rest[..end].to_owned();
                rest = &rest[end..];
            }
            if params.iter().any(|(n, _)| *n == name) {
                return Err(MimeError::DuplicateParameter(name));
            }
            params.push((name, param_value));
        }
        Ok(ContentType { mime_type, params })
    }

    /// The value of parameter `name` (give it lower-cased).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The SOAP version of the root part, from the `type` parameter or the bare body's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.2, media type `application/soap+xml` (what AS4 uses).
    Soap12,
    /// SOAP 1.1, media type `text/xml`. Recognised so that the caller can refuse it with a precise error.
    Soap11,
}

impl SoapVersion {
    /// Maps a lower-cased media type to a SOAP version.
    pub fn from_media_type(mime_type: &str) -> Option<Self> {
        match mime_type {
            "application/soap+xml" => Some(SoapVersion::Soap12),
            "text/xml" => Some(SoapVersion::Soap11),
            _ => None,
        }
    }
}

/// The parameters of a `multipart/related` body that the reader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRelated {
    /// The boundary, without the leading `--`.
    pub boundary: String,
    /// The `type` parameter (media type of the root part), lower-cased, if present.
    pub root_type: Option<String>,
    /// The `start` parameter (Content-ID of the root part) without the angle brackets, if present.
    pub start: Option<String>,
    /// The `start-info` parameter, if present.
    pub start_info: Option<String>,
}

/// What an AS4 HTTP body is, according to its `Content-Type` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContentType {
    /// `multipart/related`: a SOAP envelope with attachments.
    Multipart(MultipartRelated),
    /// A bare SOAP envelope without attachments.
    SoapOnly {
        /// SOAP version implied by the media type.
        soap_version: SoapVersion,
        /// The full parsed media type (parameters such as `charset` and `action` kept).
        content_type: ContentType,
    },
}

impl MessageContentType {
    /// Classifies the HTTP `Content-Type` of an incoming message. Unknown media types and a `multipart/related`
    /// without a valid `boundary` are errors.
    pub fn parse(value: &str) -> Result<Self, MimeError> {
        let ct = ContentType::parse(value)?;
        if let Some(soap_version) = SoapVersion::from_media_type(&ct.mime_type) {
            return Ok(MessageContentType::SoapOnly {
                soap_version,
                content_type: ct,
            });
        }
        if ct.mime_type != "multipart/related" {
            return Err(MimeError::UnsupportedMediaType(ct.mime_type));
        }
        let boundary = ct.param("boundary").ok_or(MimeError::MissingBoundary)?.to_owned();
        validate_boundary(&boundary)?;
        Ok(MessageContentType::Multipart(MultipartRelated {
            boundary,
            root_type: ct.param("type").map(|t| t.trim().to_ascii_lowercase()),
            start: ct.param("start").map(strip_angle_brackets),
            start_info: ct.param("start-info").map(str::to_owned),
        }))
    }
}

/// Checks a boundary: 1 to [`MAX_BOUNDARY_LEN`] characters, no control characters, not ending in a space.
pub fn validate_boundary(boundary: &str) -> Result<(), MimeError> {
    let bad = boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY_LEN
        || boundary.ends_with(' ')
        || boundary.bytes().any(|b| b.is_ascii_control() || b >= 0x80);
    if bad {
        return Err(MimeError::InvalidBoundary(boundary.to_owned()));
    }
    Ok(())
}

/// Removes surrounding whitespace and one pair of angle brackets from a Content-ID or `start` value.
pub fn strip_angle_brackets(value: &str) -> String {
    let trimmed = value.trim();
    trimmed
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim()
        .to_owned()
}

fn is_lwsp(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// RFC 2045 token characters: any printable US-ASCII except SPACE and tspecials.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            '(' | ')' | '<' | '>' | '@' | ',' | ';' | ':' | '\\' | '"' | '/' | '[' | ']' | '?' | '='
        )
}

/// Parses the inside of a quoted string (after the opening quote). Returns the unescaped value and the number of
/// bytes consumed including the closing quote.
fn parse_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => {
                let (_, escaped) = chars.next()?;
                out.push(escaped);
            }
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_boundary_and_all_parameters() {
        let ct = MessageContentType::parse(
            "Multipart/Related; Boundary=\"MIME_boundary\\\"x\"; TYPE=\"application/soap+xml\"; \
             start=\"<root@example.org>\"; start-info=\"application/soap+xml\"",
        )
        .unwrap();
        let MessageContentType::Multipart(m) = ct else {
            panic!("not multipart")
        };
        assert_eq!(m.boundary, "MIME_boundary\"x");
        assert_eq!(m.root_type.as_deref(), Some("application/soap+xml"));
        assert_eq!(m.start.as_deref(), Some("root@example.org"));
        assert_eq!(m.start_info.as_deref(), Some("application/soap+xml"));
    }

    #[test]
    fn unquoted_boundary_and_folded_whitespace() {
        let ct = MessageContentType::parse("multipart/related;\r\n\tboundary=uuid-1234;type=text/xml;").unwrap();
        let MessageContentType::Multipart(m) = ct else {
            panic!("not multipart")
        };
        assert_eq!(m.boundary, "uuid-1234");
        assert_eq!(m.root_type.as_deref(), Some("text/xml"));
        assert_eq!(m.start, None);
        assert_eq!(m.start_info, None);
    }

    #[test]
    fn bare_soap_bodies() {
        match MessageContentType::parse("application/soap+xml; charset=UTF-8; action=\"x\"").unwrap() {
            MessageContentType::SoapOnly {
                soap_version,
                content_type,
            } => {
                assert_eq!(soap_version, SoapVersion::Soap12);
                assert_eq!(content_type.param("charset"), Some("UTF-8"));
            }
            other => panic!("{other:?}"),
        }
        match MessageContentType::parse("text/xml").unwrap() {
            MessageContentType::SoapOnly { soap_version, .. } => assert_eq!(soap_version, SoapVersion::Soap11),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(
            MessageContentType::parse("multipart/related; type=x/y"),
            Err(MimeError::MissingBoundary)
        ));
        assert!(matches!(
            MessageContentType::parse("image/png"),
            Err(MimeError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            MessageContentType::parse("multipart/related; boundary=a; Boundary=b"),
            Err(MimeError::DuplicateParameter(_))
        ));
        assert!(matches!(
            MessageContentType::parse("multipart/related; boundary=\"\""),
            Err(MimeError::InvalidBoundary(_))
        ));
        let long = format!("multipart/related; boundary={}", "a".repeat(MAX_BOUNDARY_LEN + 1));
        assert!(matches!(
            MessageContentType::parse(&long),
            Err(MimeError::InvalidBoundary(_))
        ));
        for bad in [
            "",
            "multipart",
            "multipart/related; boundary",
            "a/b; x=\"unterminated",
            "a/b x=y",
            "a/b; =y",
        ] {
            assert!(
                matches!(ContentType::parse(bad), Err(MimeError::InvalidContentType { .. })),
                "accepted {bad:?}"
            );
        }
    }
}
