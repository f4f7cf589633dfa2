//! Who is calling the local API, and what they may do.
//!
//! Every request is authenticated once, in [`authenticate`], before it is routed; the handler receives the
//! [`Caller`] and asks it, for every message it touches, whether the caller's scope covers the organisation
//! (participant id) and functional address concerned ([`Caller::allows`]). A handler that lists messages filters
//! them with the same call, so that a client never learns of another function's messages.

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
    /// Recorded in state history and the audit log, e.g. `token:3f2a…` or `mtls:CN=...`.
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

/// Why a request was not authenticated (answered `401` / `403` as a problem document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not valid")]
    InvalidToken,
}

/// Authenticates a request. Until API tokens exist every caller on the (loopback-only) listener is unrestricted.
pub fn authenticate<B>(_request: &Request<B>) -> Result<Caller, AuthError> {
    Ok(Caller::unrestricted(super::submit::API_ACTOR))
}

#[cfg(test)]
mod tests {
    use super::*;

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
