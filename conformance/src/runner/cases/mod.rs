//! The case registry (every id of cases.md, in its order) and helpers the cases share.

pub mod as4v2;
pub mod cef;
pub mod digg;
pub mod interop;
pub mod security;

use std::time::Duration;

use access_point::msh::{Accepted, Node, Submission};
use access_point::store::{Direction, EvidenceKind, MessageRecord, State};

use super::{Case, CaseFn};

/// Shorthand for the registry.
fn case(id: &'static str, run: Option<CaseFn>) -> Case {
    Case { id, run, long: false }
}

/// Every case of cases.md in order; `None` marks one not implemented yet (listed in known-gaps.toml).
pub fn all() -> Vec<Case> {
    let mut cases = vec![
        case("cef-TA01", Some(cef::ta01)),
        case("cef-TA02", None),
        case("cef-TA03", Some(cef::ta03)),
        case("cef-TA04", Some(cef::ta04)),
        case("cef-TA05-06", Some(cef::ta05_06)),
        case("cef-TA07", Some(cef::ta07)),
        case("cef-TA08", Some(cef::ta08)),
        case("cef-TA09-10", Some(cef::ta09_10)),
        case("cef-TA12", Some(cef::ta12)),
        case("cef-TA13", Some(cef::ta13)),
        case("cef-TA14", Some(cef::ta14)),
        case("cef-TA15", Some(cef::ta15)),
        case("cef-TA16-17", Some(cef::ta16_17)),
        case("cef-TA19", None),
        case("cef-TA21-22", Some(cef::ta21_22)),
        case("cef-TA23-24", Some(cef::ta23_24)),
        case("cef-TA25-26", Some(cef::ta25_26)),
        case("cef-TA27-29", Some(cef::ta27_29)),
        case("cef-TA30-31", Some(cef::ta30_31)),
        case("cef-TA32-33", Some(cef::ta32_33)),
        case("cef-TA34-35", Some(cef::ta34_35)),
        case("cef-TA36-37", Some(cef::ta36_37)),
        case("cef-TA38", Some(cef::ta38)),
        case("cef-TA45", Some(cef::ta45)),
        case("cef-4C-TA01-03", Some(cef::four_corner_ta01_03)),
        case("digg-TF-01", Some(digg::tf01)),
        case("digg-TF-02", Some(digg::tf02)),
        case("digg-TF-03", Some(digg::tf03)),
        case("digg-TF-04", Some(digg::tf04)),
        case("digg-TF-05", Some(digg::tf05)),
        case("digg-TF-06", Some(digg::tf06)),
        case("digg-TF-07", Some(digg::tf07)),
        Case {
            id: "digg-TF-08",
            run: Some(digg::tf08),
            long: true,
        },
        case("digg-TF-09", Some(digg::tf09)),
        case("digg-TF-10", Some(digg::tf10)),
        case("as4v2-TC00", Some(as4v2::tc00)),
        case("as4v2-TC01", Some(as4v2::tc01)),
        case("as4v2-TC02", Some(as4v2::tc02)),
        case("as4v2-TC03", Some(as4v2::tc03)),
    ];
    cases.extend(security::cases());
    cases.extend(interop::cases());
    cases
}

/// Submits to A, mapping the error to text.
pub async fn submit(node: &Node, submission: Submission) -> Result<Accepted, String> {
    node.submit(submission).await.map_err(|e| format!("submit: {e}"))
}

/// Polls `node`'s store until the message reaches a final state.
pub async fn final_record(node: &Node, accepted: &Accepted, within: Duration) -> Result<MessageRecord, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let record = node
            .store()
            .get(accepted.key)
            .await
            .map_err(|e| format!("store: {e}"))?
            .ok_or("the submitted message is not in the store")?;
        if record.state.is_final() {
            return Ok(record);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("not final within {within:?}: {:?}", record.state));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The inbound record at `node` for `message_id`, if stored.
pub async fn inbound(node: &Node, message_id: &str) -> Result<Option<MessageRecord>, String> {
    node.store()
        .get_by_message_id(Direction::Inbound, message_id)
        .await
        .map_err(|e| format!("store: {e}"))
}

/// The receipt A stored for a delivered message (evidence), checked to be a signed NRR receipt.
pub async fn signed_receipt(node: &Node, record: &MessageRecord) -> Result<String, String> {
    let evidence = node
        .store()
        .evidence(record.key)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let receipts: Vec<_> = evidence.iter().filter(|e| e.kind == EvidenceKind::Receipt).collect();
    if receipts.len() != 1 {
        return Err(format!("{} receipts stored, expected 1", receipts.len()));
    }
    let text = String::from_utf8_lossy(&receipts[0].bytes).into_owned();
    for needed in ["Receipt", "NonRepudiationInformation", "SignatureValue"] {
        if !text.contains(needed) {
            return Err(format!("the stored receipt lacks {needed}"));
        }
    }
    Ok(text)
}

pub fn expect_state(record: &MessageRecord, state: State) -> Result<(), String> {
    if record.state == state {
        Ok(())
    } else {
        Err(format!(
            "state {:?}, expected {state:?} (last error: {})",
            record.state,
            record.last_error.as_deref().unwrap_or("none")
        ))
    }
}

pub fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}
