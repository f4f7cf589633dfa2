//! `wsu:Timestamp` (WS-Security 1.1.1 §10): Created and Expires, rendered on send and checked on receipt with a
//! configurable clock skew.

use crate::ebms::{ns, Timestamp as XsdTime};
use time::{Duration, OffsetDateTime};
use xmldsig::dom::{Document, NodeId};

/// How long a message we sign stays valid (Expires − Created) unless the caller says otherwise.
pub const DEFAULT_TIMESTAMP_TTL: Duration = Duration::minutes(5);
/// Clock difference tolerated between peers when checking Created and Expires.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Why a timestamp was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    #[error("the security header has no wsu:Timestamp")]
    Missing,
    #[error("the security header has more than one wsu:Timestamp")]
    Duplicate,
    #[error("wsu:Timestamp/{0} is missing or not a UTC xsd:dateTime")]
    Malformed(&'static str),
    #[error("the message expired at {expires} (now {now}, skew {skew})")]
    Expired {
        expires: String,
        now: String,
        skew: Duration,
    },
    #[error("the message was created in the future ({created}, now {now})")]
    CreatedInFuture { created: String, now: String },
}

/// The `wsu:Timestamp` element for a message created at `created`, valid for `ttl`.
pub fn render_timestamp(id: &str, created: OffsetDateTime, ttl: Duration) -> String {
    let c = XsdTime::from_datetime(created).to_xsd();
    let e = XsdTime::from_datetime(created + ttl).to_xsd();
    format!(
        r#"<wsu:Timestamp xmlns:wsu="{}" wsu:Id="{id}"><wsu:Created>{c}</wsu:Created><wsu:Expires>{e}</wsu:Expires></wsu:Timestamp>"#,
        ns::WSU
    )
}

/// Finds the single `wsu:Timestamp` under `security` and checks it against `now` with `skew`: Expires (when
/// present) not in the past, Created not in the future. Returns the node.
pub fn check_timestamp(
    doc: &Document,
    security: NodeId,
    now: OffsetDateTime,
    skew: Duration,
) -> Result<NodeId, TimestampError> {
    let mut found = doc.children_named(security, ns::WSU, "Timestamp");
    let node = found.next().ok_or(TimestampError::Missing)?;
    if found.next().is_some() {
        return Err(TimestampError::Duplicate);
    }
    let read = |local: &'static str| -> Result<Option<OffsetDateTime>, TimestampError> {
        match doc.first_child(node, ns::WSU, local) {
            None => Ok(None),
            Some(n) => XsdTime::parse(doc.text_content(n).trim())
                .map(|t| Some(t.datetime()))
                .map_err(|_| TimestampError::Malformed(local)),
        }
    };
    let created = read("Created")?.ok_or(TimestampError::Malformed("Created"))?;
    if created > now + skew {
        return Err(TimestampError::CreatedInFuture {
            created: created.to_string(),
            now: now.to_string(),
        });
    }
    if let Some(expires) = read("Expires")? {
        if expires + skew < now {
            return Err(TimestampError::Expired {
                expires: expires.to_string(),
                now: now.to_string(),
                skew,
            });
        }
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_with(ts: &str) -> Document {
        Document::parse_str(&format!(
            r#"<wsse:Security xmlns:wsse="{}">{ts}</wsse:Security>"#,
            ns::WSSE
        ))
        .unwrap()
    }

    #[test]
    fn fresh_timestamp_passes_and_expired_one_is_refused() {
        let now = OffsetDateTime::now_utc();
        let doc = doc_with(&render_timestamp("TS-1", now, DEFAULT_TIMESTAMP_TTL));
        assert!(check_timestamp(&doc, doc.root(), now, DEFAULT_CLOCK_SKEW).is_ok());
        let later = now + Duration::minutes(11);
        assert!(matches!(
            check_timestamp(&doc, doc.root(), later, DEFAULT_CLOCK_SKEW),
            Err(TimestampError::Expired { .. })
        ));
        // Within the skew it still passes.
        let slightly_later = now + Duration::minutes(9);
        assert!(check_timestamp(&doc, doc.root(), slightly_later, DEFAULT_CLOCK_SKEW).is_ok());
    }

    #[test]
    fn future_and_missing_timestamps_are_refused() {
        let now = OffsetDateTime::now_utc();
        let doc = doc_with(&render_timestamp(
            "TS-1",
            now + Duration::hours(1),
            DEFAULT_TIMESTAMP_TTL,
        ));
        assert!(matches!(
            check_timestamp(&doc, doc.root(), now, DEFAULT_CLOCK_SKEW),
            Err(TimestampError::CreatedInFuture { .. })
        ));
        let empty = doc_with("");
        assert_eq!(
            check_timestamp(&empty, empty.root(), now, DEFAULT_CLOCK_SKEW),
            Err(TimestampError::Missing)
        );
    }
}
