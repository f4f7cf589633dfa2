//! Model-based check of the sled store: random sequences of submissions, receptions (with repeated MessageIds),
//! claims, state changes (legal and illegal) and purges, compared after every step with a plain in-memory model of
//! the lifecycle, and checked for index consistency (counts, per-state listing, history, schedule).

use std::collections::BTreeMap;
use std::time::Duration;

use access_point::store::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Submit,
    Receive(u8),
    Claim(u8),
    Change { pick: u8, to: u8, error: bool },
    Purge { days_ahead: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Submit),
        3 => (0u8..6).prop_map(Op::Receive),
        2 => (1u8..4).prop_map(Op::Claim),
        5 => (any::<u8>(), 0u8..8, any::<bool>()).prop_map(|(pick, to, error)| Op::Change { pick, to, error }),
        1 => (0u8..4).prop_map(|days_ahead| Op::Purge { days_ahead }),
    ]
}

fn meta(id: &str) -> MessageMeta {
    MessageMeta {
        message_id: id.into(),
        pmode_id: "p".into(),
        from: Party {
            id: "a".into(),
            id_type: None,
            role: "i".into(),
        },
        to: Party {
            id: "b".into(),
            id_type: None,
            role: "r".into(),
        },
        service: "s".into(),
        service_type: None,
        action: "a".into(),
        conversation_id: "c".into(),
        ref_to_message_id: None,
        original_sender: None,
        final_recipient: None,
        tracking_identifier: None,
    }
}

async fn check_consistency(store: &SledStore, model: &BTreeMap<MessageKey, State>) {
    let counts = store.counts().await.unwrap();
    for state in State::ALL {
        let expected = model.values().filter(|s| **s == state).count() as u64;
        assert_eq!(counts.get(state), expected, "counter of {state}");
        let listed = store
            .list(ListQuery {
                state: Some(state),
                ..ListQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.records.len() as u64, expected, "listing of {state}");
    }
    assert_eq!(
        store.list(ListQuery::default()).await.unwrap().records.len(),
        model.len()
    );
    for (key, state) in model {
        let rec = store.get(*key).await.unwrap().expect("record in the model is missing");
        assert_eq!(rec.state, *state);
        let history = store.history(*key).await.unwrap();
        assert_eq!(history.last().unwrap().to, *state);
        let scheduled = matches!(state, State::Submitted | State::WaitingRetry | State::Sending);
        assert_eq!(
            rec.next_attempt_at.is_some() || rec.lease_until.is_some(),
            scheduled,
            "{key} schedule"
        );
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = StoreSettings::with_data_dir(dir.path());
    settings.retention.delivered_days = Some(1);
    settings.retention.failed_days = Some(2);
    settings.retention.acknowledged_days = Some(1);
    let store = SledStore::open(settings.clone()).await.unwrap();
    let mut model: BTreeMap<MessageKey, State> = BTreeMap::new();
    let mut inbound_first: BTreeMap<u8, MessageKey> = BTreeMap::new();
    let mut submitted = 0u32;
    for op in ops {
        match op {
            Op::Submit => {
                let key = store.allocate_key().unwrap();
                let new = NewOutbound {
                    key,
                    meta: meta(&format!("out-{submitted}")),
                    payloads: vec![],
                    actor: "t".into(),
                };
                submitted += 1;
                store.insert_outbound(new).await.unwrap().durable().await.unwrap();
                model.insert(key, State::Submitted);
            }
            Op::Receive(n) => {
                let key = store.allocate_key().unwrap();
                let new = NewInbound {
                    key,
                    meta: meta(&format!("in-{n}")),
                    payloads: vec![],
                    receipt: vec![n],
                    duplicate_window: Duration::from_secs(3600),
                    actor: "receiver".into(),
                };
                match store.insert_inbound(new).await.unwrap().durable().await.unwrap() {
                    InboundInsert::Inserted(_) => {
                        let live = inbound_first.get(&n).is_some_and(|k| model.contains_key(k));
                        assert!(!live, "in-{n} inserted twice within its window");
                        inbound_first.insert(n, key);
                        model.insert(key, State::Received);
                    }
                    InboundInsert::Duplicate { existing, receipt } => {
                        assert_eq!(Some(&existing.key), inbound_first.get(&n));
                        assert_eq!(receipt.unwrap().bytes, vec![n]);
                    }
                }
            }
            Op::Claim(limit) => {
                let claimed = store
                    .claim_due(Timestamp::now().plus(Duration::from_secs(7200)), limit.into(), "s")
                    .await;
                for c in claimed.unwrap() {
                    let before = model.insert(c.record.key, State::Sending).unwrap();
                    // From Sending only when its lease (300 s) ended before the claim time (2 h ahead).
                    assert!(
                        matches!(before, State::Submitted | State::WaitingRetry | State::Sending),
                        "claimed from {before}"
                    );
                    let expected_from = if before == State::Sending {
                        State::WaitingRetry
                    } else {
                        before
                    };
                    assert_eq!(c.claimed_from, expected_from);
                }
            }
            Op::Change { pick, to, error } => {
                if model.is_empty() {
                    continue;
                }
                let (key, from) = model
                    .iter()
                    .nth(pick as usize % model.len())
                    .map(|(k, s)| (*k, *s))
                    .unwrap();
                let to = State::ALL[to as usize];
                let mut t = Transition::new(key, from, to, "t").retry_at(Timestamp::now());
                if error {
                    t = t.error("boom");
                }
                match store.transition(t).await {
                    Ok(written) => {
                        assert!(from.check_transition(to).is_ok(), "{from} -> {to} was accepted");
                        assert_eq!(written.durable().await.unwrap().state, to);
                        model.insert(key, to);
                    }
                    Err(StoreError::IllegalTransition(_)) => assert!(from.check_transition(to).is_err()),
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            Op::Purge { days_ahead } => {
                let now = Timestamp::now().plus(Duration::from_secs(u64::from(days_ahead) * 86_400 + 60));
                let report = store.purge(now).await.unwrap();
                let before = model.len();
                if u64::from(days_ahead) * 86_400 + 60 >= 3600 {
                    // The purge's clock is past every duplicate window: all entries expire.
                    inbound_first.clear();
                }
                model.retain(|_, state| match settings.retention.retention_for(*state) {
                    Some(keep) => keep.as_secs() > u64::from(days_ahead) * 86_400 + 60,
                    None => true,
                });
                assert_eq!(report.messages as usize, before - model.len());
            }
        }
        check_consistency(&store, &model).await;
    }
    store.close().await.unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_store_follows_the_lifecycle_model(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(ops));
    }
}
