//! Who is calling the local API, and what they may do.
//!
//! Every request is authenticated once, in [`authenticate`], before it is routed; the handler receives the
//! [`Caller`] and asks it, for every message it touches, whether the caller's scope covers the organisation
//! (participant id) and functional address concerned ([`Caller::allows`]). A handler that lists messages filters
//! them with the same call, so that a client never learns of another function's messages.
//!
//! Two credentials exist: a bearer token, and (with `[api.tls]`) a client certificate that the TLS handshake
//! verified against `[api.tls] client_ca` and that has an entry in the tokens file (by SHA-256 fingerprint). A
//! connection that presented a certificate is authenticated by it; such a request must not also carry an
//! `Authorization` header (which credential would count is then unclear, so it is refused). Clients without a
//! certificate use bearer tokens, over TLS or, on loopback, plain HTTP.

use http::Request;

/// What a caller wants to do with a message of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Submit messages on behalf of the address (as its sender), send kvittens for its inbox.
    Send,
    /// Read the address's inbox, message status and events.
    Read,
}

/// The organisation and functional address a message belongs to (for outbound messages: the sender's; for inbound
/// messages: the recipient's). `organisation` is a participant id such as `0203:2120000829`; compare ids with
/// [`same_participant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRef<'a> {
    pub organisation: &'a str,
    pub functional_address: Option<&'a str>,
}

/// One scope entry: an organisation, and optionally only one functional address of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub organisation: String,
    /// `None`: every functional address of the organisation.
    pub functional_address: Option<String>,
    pub permissions: Vec<Permission>,
}

/// What the caller may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (the operator; or a loopback API with authentication switched off in development).
    Unrestricted,
    /// Only these entries.
    Entries(Vec<ScopeEntry>),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded in state history and the audit log: `token:<name>` or, for a client certificate, `mtls:<name>`.
    pub actor: String,
    pub scope: Scope,
}

impl Caller {
    /// A caller that may do everything (development on loopback without tokens).
    pub fn unrestricted(actor: impl Into<String>) -> Caller {
        Caller {
            actor: actor.into(),
            scope: Scope::Unrestricted,
        }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Whether the caller is unrestricted (an operator token, or no authentication on loopback).
    pub fn is_operator(&self) -> bool {
        self.scope == Scope::Unrestricted
    }

    /// Whether the caller may do `permission` on messages of `address`.
    pub fn allows(&self, permission: Permission, address: AddressRef<'_>) -> bool {
        match &self.scope {
            Scope::Unrestricted => true,
            Scope::Entries(entries) => entries.iter().any(|entry| {
                entry.permissions.contains(&permission)
                    && same_participant(&entry.organisation, address.organisation)
                    && match (&entry.functional_address, address.functional_address) {
                        (None, _) => true,
                        (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
                        (Some(_), None) => false,
                    }
            }),
        }
    }
}

/// Participant ids compare case-insensitively (PEPPOL/SDK identifiers are case-insensitive), ignoring an
/// `iso6523-actorid-upis::` scheme prefix.
pub fn same_participant(a: &str, b: &str) -> bool {
    fn strip(id: &str) -> &str {
        id.rsplit_once("::").map(|(_, v)| v).unwrap_or(id).trim()
    }
    strip(a).eq_ignore_ascii_case(strip(b))
}

/// Why a request was not authenticated (answered `401` with `WWW-Authenticate: Bearer` as a problem document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token or certificate entry has expired")]
    Expired,
    #[error("the token or certificate entry has been revoked")]
    Revoked,
    /// The TLS handshake verified the client certificate, but no entry of the tokens file registers it.
    #[error("the client certificate is not registered (sdk-ap api-token create --client-cert)")]
    UnknownCertificate,
    /// A connection authenticated by a client certificate also sent `Authorization`.
    #[error("send either a client certificate or a bearer token, not both")]
    TwoCredentials,
    /// The tokens file cannot be read or parsed: every token is refused until it is fixed (fail closed).
    #[error("the API cannot check tokens now (the tokens file is unreadable; see the server log)")]
    TokensUnavailable,
}

/// How the API authenticates callers (`[api] authentication`).
pub enum Authenticator {
    /// Every caller is the unrestricted [`super::submit::API_ACTOR`]; allowed only on a loopback listener.
    None,
    /// `Authorization: Bearer sdkap_…` checked against the tokens file.
    Tokens(super::tokens::TokenStore),
}

/// Authenticates a request with `authenticator` (a connection without a client certificate).
pub fn authenticate<B>(request: &Request<B>, authenticator: &Authenticator) -> Result<Caller, AuthError> {
    authenticate_connection(request, authenticator, None)
}

/// The client certificate a TLS connection presented and the handshake verified (chain to `[api.tls] client_ca`,
/// validity, CRLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// SHA-256 of the end-entity certificate's DER.
    pub fingerprint: [u8; 32],
}

impl ClientCertificate {
    pub fn from_der(der: &[u8]) -> ClientCertificate {
        ClientCertificate {
            fingerprint: super::tokens::certificate_fingerprint(der),
        }
    }
}

/// Authenticates a request that arrived on a connection with `client_certificate` (when the handshake verified
/// one): the certificate's entry decides, and an `Authorization` header beside it is refused; without a
/// certificate, the bearer token does.
pub fn authenticate_connection<B>(
    request: &Request<B>,
    authenticator: &Authenticator,
    client_certificate: Option<&ClientCertificate>,
) -> Result<Caller, AuthError> {
    match authenticator {
        Authenticator::None => Ok(Caller::unrestricted(super::submit::API_ACTOR)),
        Authenticator::Tokens(store) => {
            let now = time::OffsetDateTime::now_utc();
            match client_certificate {
                Some(_) if request.headers().contains_key(http::header::AUTHORIZATION) => {
                    Err(AuthError::TwoCredentials)
                }
                Some(certificate) => store.verify_certificate(&certificate.fingerprint, now),
                None => store.verify(bearer_token(request.headers())?, now),
            }
        }
    }
}

/// Longest `Authorization` value looked at (a token is 66 characters; anything much longer is not one).
pub const MAX_AUTHORIZATION_BYTES: usize = 512;

/// The credentials of the one `Authorization: Bearer <credentials>` header (RFC 6750 section 2.1: the scheme is
/// case-insensitive, the credentials are token68 characters).
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() || value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(AuthError::InvalidToken);
    }
    let text = value.to_str().map_err(|_| AuthError::InvalidToken)?;
    let (scheme, credentials) = text.split_once(' ').ok_or(AuthError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let credentials = credentials.trim_start_matches(' ');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let body = credentials.trim_end_matches('=');
    if body.is_empty() || !body.chars().all(token68) {
        return Err(AuthError::InvalidToken);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for v in values {
            map.append(http::header::AUTHORIZATION, http::HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    #[test]
    fn the_bearer_parser_takes_one_well_formed_header_only() {
        assert_eq!(bearer_token(&headers(&[b"Bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&[b"bEaReR   abc=="])), Ok("abc=="));
        assert_eq!(bearer_token(&headers(&[])), Err(AuthError::Missing));
        assert_eq!(
            bearer_token(&headers(&[b"Basic YWxhZGRpbjpvcGVu"])),
            Err(AuthError::Missing)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        for hostile in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer a\tb",
            b"Bearer =",
            b"Bearer a=b",
            b"Bearer \xff\xfe",
            b"Bearer sdkap_\"x\"",
            b"Bearer a,Bearer b",
            long.as_bytes(),
        ] {
            assert_eq!(
                bearer_token(&headers(&[hostile])),
                Err(AuthError::InvalidToken),
                "{hostile:?}"
            );
        }
        assert_eq!(
            bearer_token(&headers(&[b"Bearer a", b"Bearer b"])),
            Err(AuthError::InvalidToken),
            "two Authorization headers are ambiguous"
        );
    }

    #[test]
    fn a_scoped_caller_reaches_only_its_functional_address() {
        let caller = Caller {
            actor: "token:t1".into(),
            scope: Scope::Entries(vec![ScopeEntry {
                organisation: "0203:2120000829".into(),
                functional_address: Some("socialtjanst".into()),
                permissions: vec![Permission::Read],
            }]),
        };
        let own = AddressRef {
            organisation: "iso6523-actorid-upis::0203:2120000829",
            functional_address: Some("Socialtjanst"),
        };
        let other = AddressRef {
            functional_address: Some("skola"),
            ..own
        };
        assert!(caller.allows(Permission::Read, own));
        assert!(!caller.allows(Permission::Send, own));
        assert!(!caller.allows(Permission::Read, other));
        assert!(!caller.allows(
            Permission::Read,
            AddressRef {
                organisation: "0203:2120000830",
                functional_address: Some("socialtjanst")
            }
        ));
    }
}
