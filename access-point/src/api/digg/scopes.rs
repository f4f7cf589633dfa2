//! DIGG's OAuth2 scopes (`urn:sdk.api:*`, B1.4.2 "Behörighetsstyrande scope") and what they allow on our
//! [`Caller`] model: the one place where a DIGG scope string becomes a [`Permission`].
//!
//! DIGG scopes name operations; our scopes name permissions per organisation / functional address. Sending is
//! [`Permission::Send`]; reading, listing and deleting (= acknowledging an inbox message, or dropping a sent one from
//! view) are [`Permission::Read`]. The token issuer maps the scope strings of a token with
//! [`permissions_for_scopes`]; each DIGG operation asks [`Operation::permission`].

use crate::api::auth::Permission;

/// The four operations of DIGG's API (their `operationId`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    SendMessage,
    GetMessageByFilter,
    GetMessageById,
    DeleteMessageById,
}

impl Operation {
    /// The `operationId` in DIGG's OpenAPI file.
    pub fn operation_id(self) -> &'static str {
        match self {
            Operation::SendMessage => "sendMessage",
            Operation::GetMessageByFilter => "getMessageByFilter",
            Operation::GetMessageById => "getMessageById",
            Operation::DeleteMessageById => "deleteMessageById",
        }
    }

    /// The DIGG scope that grants the operation (B1.4.2's table; the OpenAPI file's `securitySchemes` agrees).
    pub fn scope(self) -> &'static str {
        match self {
            Operation::SendMessage => SCOPE_SEND,
            Operation::GetMessageByFilter => SCOPE_GET_BY_FILTER,
            Operation::GetMessageById => SCOPE_GET,
            Operation::DeleteMessageById => SCOPE_DELETE,
        }
    }

    /// The permission the caller needs on the message's organisation / functional address.
    pub fn permission(self) -> Permission {
        match self {
            Operation::SendMessage => Permission::Send,
            Operation::GetMessageByFilter | Operation::GetMessageById | Operation::DeleteMessageById => {
                Permission::Read
            }
        }
    }
}

/// `urn:sdk.api:sendMessages` (B1.4.2 and the `securitySchemes` of DIGG's file).
pub const SCOPE_SEND: &str = "urn:sdk.api:sendMessages";
/// `urn:sdk.api:sendMessage`: the spelling the `security` requirement of `sendMessage` uses in DIGG's file; accepted
/// as a synonym of [`SCOPE_SEND`].
pub const SCOPE_SEND_SINGULAR: &str = "urn:sdk.api:sendMessage";
pub const SCOPE_GET: &str = "urn:sdk.api:getMessage";
pub const SCOPE_GET_BY_FILTER: &str = "urn:sdk.api:getMessageByFilter";
pub const SCOPE_DELETE: &str = "urn:sdk.api:deleteMessage";

/// The permission one DIGG scope string grants; `None` for anything else (other scopes of a token, e.g.
/// `offline_access` or `urn:sdk.api:1:0`, grant nothing here).
pub fn permission_for_scope(scope: &str) -> Option<Permission> {
    match scope.trim() {
        SCOPE_SEND | SCOPE_SEND_SINGULAR => Some(Permission::Send),
        SCOPE_GET | SCOPE_GET_BY_FILTER | SCOPE_DELETE => Some(Permission::Read),
        _ => None,
    }
}

/// The permissions a set of scope strings grants (an OAuth2 `scope` claim is space-separated: pass it split or
/// whole), without duplicates, `Send` before `Read`.
pub fn permissions_for_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<Permission> {
    let mut send = false;
    let mut read = false;
    for scope in scopes.into_iter().flat_map(str::split_whitespace) {
        match permission_for_scope(scope) {
            Some(Permission::Send) => send = true,
            Some(Permission::Read) => read = true,
            None => {}
        }
    }
    let mut out = Vec::new();
    if send {
        out.push(Permission::Send);
    }
    if read {
        out.push(Permission::Read);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_map_onto_send_and_read() {
        assert_eq!(permission_for_scope("urn:sdk.api:sendMessages"), Some(Permission::Send));
        assert_eq!(permission_for_scope("urn:sdk.api:sendMessage"), Some(Permission::Send));
        assert_eq!(permission_for_scope("urn:sdk.api:getMessage"), Some(Permission::Read));
        assert_eq!(
            permission_for_scope("urn:sdk.api:deleteMessage"),
            Some(Permission::Read)
        );
        assert_eq!(permission_for_scope("urn:sdk.api:1:0"), None);
        assert_eq!(permission_for_scope("offline_access"), None);
        // B1.4.2's example token scope claim.
        let claim = "urn:sdk.api:sendMessages urn:sdk.api:1:0 urn:sdk.api:deleteMessage urn:sdk.inera.se:auth_id \
                     offline_access phone urn:sdk.api:getMessage urn:sdk.api:getMessageByFilter";
        assert_eq!(
            permissions_for_scopes([claim]),
            vec![Permission::Send, Permission::Read]
        );
        assert_eq!(
            permissions_for_scopes(["urn:sdk.api:getMessage"]),
            vec![Permission::Read]
        );
        assert!(permissions_for_scopes(["phone"]).is_empty());
    }

    #[test]
    fn every_operation_needs_the_permission_its_scope_grants() {
        for op in [
            Operation::SendMessage,
            Operation::GetMessageByFilter,
            Operation::GetMessageById,
            Operation::DeleteMessageById,
        ] {
            assert_eq!(permission_for_scope(op.scope()), Some(op.permission()), "{op:?}");
        }
    }
}
