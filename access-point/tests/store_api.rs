//! Behaviour of the sled store through the `Store` trait: lifecycles, refused transitions, duplicate detection,
//! the retry schedule and leases, recovery, listing, counts, errors and retention.

use std::sync::Arc;
use std::time::Duration;

use access_point::store::*;

const DAY: Duration = Duration::from_secs(86_400);

fn meta(message_id: &str) -> MessageMeta {
    MessageMeta {
        message_id: message_id.to_string(),
        pmode_id: "sdk-default".into(),
        from: Party {
            id: "0203:sender".into(),
            id_type: Some("urn:oasis:names:tc:ebcore:partyid-type:iso6523".into()),
            role: "initiator".into(),
        },
        to: Party {
            id: "0203:receiver".into(),
            id_type: None,
            role: "responder".into(),
        },
        service: "urn:sdk:service".into(),
        service_type: None,
        action: "urn:sdk:action".into(),
        conversation_id: "conv-1".into(),
        ref_to_message_id: None,
        original_sender: Some("0203:orig".into()),
        final_recipient: Some("0203:final".into()),
        tracking_identifier: None,
    }
}

async fn open(dir: &std::path::Path) -> SledStore {
    SledStore::open(StoreSettings::with_data_dir(dir)).await.unwrap()
}

async fn payload(store: &dyn Store, key: MessageKey, body: &[u8]) -> PayloadPart {
    let mut src = body;
    store
        .payload_files()
        .write_part(key, 0, "part-0@test", "application/xml", &mut src, 1 << 20)
        .await
        .unwrap()
}

async fn submit(store: &dyn Store, message_id: &str) -> MessageRecord {
    let key = store.allocate_key().unwrap();
    let part = payload(store, key, message_id.as_bytes()).await;
    let new = NewOutbound {
        key,
        meta: meta(message_id),
        payloads: vec![part],
        actor: "api:test".into(),
    };
    store.insert_outbound(new).await.unwrap().durable().await.unwrap()
}

async fn receive(store: &dyn Store, message_id: &str, receipt: &[u8], window: Duration) -> InboundInsert {
    let key = store.allocate_key().unwrap();
    let part = payload(store, key, b"<doc/>").await;
    let new = NewInbound {
        key,
        meta: meta(message_id),
        payloads: vec![part],
        receipt: receipt.to_vec(),
        duplicate_window: window,
        actor: "receiver".into(),
    };
    let outcome = store.insert_inbound(new).await.unwrap().durable().await.unwrap();
    if matches!(outcome, InboundInsert::Duplicate { .. }) {
        store.payload_files().remove_message(key).await.unwrap();
    }
    outcome
}

#[tokio::test]
async fn outbound_lifecycle_with_retry_and_receipt_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let rec = submit(&store, "m1@test").await;
    assert_eq!(rec.state, State::Submitted);
    assert_eq!(
        store.get_by_message_id(Direction::Outbound, "m1@test").await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        store.get_by_message_id(Direction::Inbound, "m1@test").await.unwrap(),
        None
    );
    assert!(store.next_due().await.unwrap().is_some());

    let now = Timestamp::now();
    let claimed = store.claim_due(now, 10, "sender-task").await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].claimed_from, State::Submitted);
    assert_eq!(claimed[0].record.state, State::Sending);
    assert_eq!(claimed[0].record.attempts, 1);
    assert!(
        store.claim_due(now, 10, "sender-task").await.unwrap().is_empty(),
        "a leased message is not due"
    );

    let retry_at = now.plus(Duration::from_secs(60));
    let t = Transition::new(rec.key, State::Sending, State::WaitingRetry, "sender-task")
        .reason("HTTP 503")
        .error("peer answered 503")
        .retry_at(retry_at)
        .for_attempt(1);
    let waiting = store.transition(t).await.unwrap().durable().await.unwrap();
    assert_eq!(waiting.next_attempt_at, Some(retry_at));
    assert_eq!(waiting.last_error.as_deref(), Some("peer answered 503"));
    assert!(
        store.claim_due(now, 10, "sender-task").await.unwrap().is_empty(),
        "not due before retry_at"
    );
    let again = store.claim_due(retry_at, 10, "sender-task").await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].claimed_from, State::WaitingRetry);
    assert_eq!(again[0].record.attempts, 2);

    let stale = Transition::new(rec.key, State::Sending, State::Delivered, "old-sender").for_attempt(1);
    assert!(matches!(
        store.transition(stale).await,
        Err(StoreError::StaleAttempt {
            expected: 1,
            actual: 2,
            ..
        })
    ));

    let done = Transition::new(rec.key, State::Sending, State::Delivered, "sender-task")
        .evidence(EvidenceKind::Receipt, b"<eb:Receipt/>".to_vec())
        .for_attempt(2);
    let delivered = store.transition(done).await.unwrap().durable().await.unwrap();
    assert_eq!(delivered.state, State::Delivered);
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "a delivered message leaves the schedule"
    );

    let history = store.history(rec.key).await.unwrap();
    let steps: Vec<_> = history.iter().map(|h| (h.from, h.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, State::Submitted),
            (Some(State::Submitted), State::Sending),
            (Some(State::Sending), State::WaitingRetry),
            (Some(State::WaitingRetry), State::Sending),
            (Some(State::Sending), State::Delivered),
        ]
    );
    assert_eq!(history[0].actor, "api:test");
    assert_eq!(history[2].reason, "HTTP 503");
    let evidence = store.evidence(rec.key).await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(
        (evidence[0].kind, evidence[0].bytes.as_slice()),
        (EvidenceKind::Receipt, &b"<eb:Receipt/>"[..])
    );

    let counts = store.counts().await.unwrap();
    assert_eq!(counts.get(State::Delivered), 1);
    assert_eq!(counts.total(Direction::Outbound), 1);
    assert_eq!(
        counts.get(State::Sending) + counts.get(State::Submitted) + counts.get(State::WaitingRetry),
        0
    );
    assert_eq!(counts.to_json()["outbound"]["delivered"], 1);
    let status = StatusReport::read(&store, 10).await.unwrap().to_json();
    assert_eq!(status["outbound"]["total"], 1);
    assert_eq!(status["inbound"]["total"], 0);
    assert_eq!(status["last_errors"][0]["message_id"], "m1@test");
    assert_eq!(status["last_errors"][0]["state"], "waiting_retry");
    assert!(status["last_errors"][0]["at"].as_str().unwrap().ends_with('Z'));
    let errors = store.last_errors(5).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].message_id.as_str(), errors[0].error.as_str()),
        ("m1@test", "peer answered 503")
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn refused_transitions_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let rec = submit(&store, "m2@test").await;

    let illegal = Transition::new(rec.key, State::Submitted, State::Delivered, "x");
    assert!(matches!(
        store.transition(illegal).await,
        Err(StoreError::IllegalTransition(IllegalTransition {
            from: State::Submitted,
            to: State::Delivered
        }))
    ));
    let wrong_from = Transition::new(rec.key, State::WaitingRetry, State::Sending, "x");
    assert!(matches!(
        store.transition(wrong_from).await,
        Err(StoreError::UnexpectedState {
            expected: State::WaitingRetry,
            actual: State::Submitted,
            ..
        })
    ));
    store.claim_due(Timestamp::now(), 1, "s").await.unwrap();
    let no_time = Transition::new(rec.key, State::Sending, State::WaitingRetry, "s");
    assert!(matches!(
        store.transition(no_time).await,
        Err(StoreError::MissingRetryTime(_))
    ));
    let missing = Transition::new(MessageKey(u64::MAX), State::Sending, State::Failed, "s");
    assert!(matches!(store.transition(missing).await, Err(StoreError::NotFound(_))));
    let cross = Transition::new(rec.key, State::Sending, State::Acknowledged, "s");
    assert!(matches!(
        store.transition(cross).await,
        Err(StoreError::IllegalTransition(_))
    ));

    let after = store.get(rec.key).await.unwrap().unwrap();
    assert_eq!(after.state, State::Sending);
    assert_eq!(store.history(rec.key).await.unwrap().len(), 2);
    let failed = Transition::new(rec.key, State::Sending, State::Failed, "s").error("EBMS:0004");
    store.transition(failed).await.unwrap().durable().await.unwrap();
    let back = Transition::new(rec.key, State::Failed, State::Sending, "s");
    assert!(
        matches!(store.transition(back).await, Err(StoreError::IllegalTransition(_))),
        "final states are final"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn outbound_message_id_and_key_are_unique_and_payload_paths_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let first = submit(&store, "dup-out@test").await;
    let key = store.allocate_key().unwrap();
    assert_ne!(key, first.key);
    let new = NewOutbound {
        key,
        meta: meta("dup-out@test"),
        payloads: vec![],
        actor: "api:test".into(),
    };
    assert!(matches!(
        store.insert_outbound(new).await,
        Err(StoreError::InvalidRecord(_))
    ));
    let reuse = NewOutbound {
        key: first.key,
        meta: meta("other@test"),
        payloads: vec![],
        actor: "api:test".into(),
    };
    assert!(matches!(
        store.insert_outbound(reuse).await,
        Err(StoreError::InvalidRecord(_))
    ));
    let mut foreign = first.payloads[0].clone();
    foreign.file = format!("payloads/{}/0.bin", first.key.to_hex());
    let key2 = store.allocate_key().unwrap();
    let bad = NewOutbound {
        key: key2,
        meta: meta("m3@test"),
        payloads: vec![foreign],
        actor: "api:test".into(),
    };
    assert!(matches!(
        store.insert_outbound(bad).await,
        Err(StoreError::InvalidRecord(_))
    ));
    assert_eq!(store.counts().await.unwrap().total(Direction::Outbound), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn inbound_duplicate_gets_the_same_receipt_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let InboundInsert::Inserted(first) = receive(&store, "in-1@peer", b"receipt-1", DAY).await else {
        panic!("first arrival must be inserted")
    };
    assert_eq!(first.state, State::Received);
    let InboundInsert::Duplicate { existing, receipt } = receive(&store, "in-1@peer", b"receipt-2", DAY).await else {
        panic!("second arrival must be a duplicate")
    };
    assert_eq!(existing.key, first.key);
    assert_eq!(
        receipt.unwrap().bytes,
        b"receipt-1",
        "a duplicate gets the receipt sent the first time"
    );
    assert_eq!(store.counts().await.unwrap().get(State::Received), 1);
    let (dup, dup_receipt) = store
        .find_duplicate("in-1@peer", Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (dup.key, dup_receipt.unwrap().bytes),
        (first.key, b"receipt-1".to_vec())
    );
    assert!(store
        .find_duplicate("in-1@peer", Timestamp::now().plus(DAY * 2))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_duplicate("never@peer", Timestamp::now())
        .await
        .unwrap()
        .is_none());

    // The local side takes it.
    let fetched = Transition::new(first.key, State::Received, State::Fetched, "api:reader");
    store.transition(fetched).await.unwrap().durable().await.unwrap();
    let acked = Transition::new(first.key, State::Fetched, State::Acknowledged, "api:reader");
    store.transition(acked).await.unwrap().durable().await.unwrap();
    // Still a duplicate after delivery to the local side.
    assert!(matches!(
        receive(&store, "in-1@peer", b"r", DAY).await,
        InboundInsert::Duplicate { .. }
    ));
    store.close().await.unwrap();
}

#[tokio::test]
async fn duplicate_window_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert!(matches!(
        receive(&store, "w@peer", b"r1", Duration::from_millis(1)).await,
        InboundInsert::Inserted(_)
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let InboundInsert::Inserted(second) = receive(&store, "w@peer", b"r2", DAY).await else {
        panic!("outside the window the message is new")
    };
    assert_eq!(
        store
            .get_by_message_id(Direction::Inbound, "w@peer")
            .await
            .unwrap()
            .unwrap()
            .key,
        second.key
    );
    assert_eq!(store.counts().await.unwrap().get(State::Received), 2);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_one_message_are_inserted_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(dir.path()).await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            receive(&*store, "race@peer", format!("receipt-{i}").as_bytes(), DAY).await
        }));
    }
    let mut inserted = Vec::new();
    let mut receipts = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            InboundInsert::Inserted(r) => inserted.push(r),
            InboundInsert::Duplicate { receipt, .. } => receipts.push(receipt.unwrap().bytes),
        }
    }
    assert_eq!(inserted.len(), 1);
    let first_receipt = store.evidence(inserted[0].key).await.unwrap()[0].bytes.clone();
    assert!(receipts.iter().all(|r| *r == first_receipt));
    assert_eq!(store.counts().await.unwrap().get(State::Received), 1);
    let page = store
        .list(ListQuery {
            direction: Some(Direction::Inbound),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn expired_lease_is_taken_over_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings {
        send_lease_secs: 0,
        ..StoreSettings::with_data_dir(dir.path())
    };
    let store = SledStore::open(settings).await.unwrap();
    let rec = submit(&store, "lease@test").await;
    let t0 = Timestamp::now();
    assert_eq!(store.claim_due(t0, 1, "sender-a").await.unwrap().len(), 1);
    let later = t0.plus(Duration::from_millis(10));
    let retaken = store.claim_due(later, 1, "sender-b").await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].claimed_from, State::WaitingRetry);
    assert_eq!(retaken[0].record.attempts, 2);
    let history = store.history(rec.key).await.unwrap();
    assert!(history
        .iter()
        .any(|h| h.actor == "store:lease" && h.to == State::WaitingRetry));
    assert_eq!(history.last().unwrap().actor, "sender-b");
    assert_eq!(store.counts().await.unwrap().get(State::Sending), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn recover_returns_sending_to_waiting_retry_and_sweeps_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let key_kept;
    {
        let store = open(dir.path()).await;
        let rec = submit(&store, "rec@test").await;
        key_kept = rec.key;
        store.claim_due(Timestamp::now(), 1, "sender-task").await.unwrap();
        // A payload staged for a message never inserted, and an interrupted write.
        let orphan = store.allocate_key().unwrap();
        payload(&store, orphan, b"orphan").await;
        std::fs::write(
            store.payload_files().message_dir(rec.key).join(".tmp-1-interrupted"),
            b"half",
        )
        .unwrap();
        store.close().await.unwrap();
    }
    let store = open(dir.path()).await;
    let report = store.recover().await.unwrap();
    assert_eq!(
        report,
        RecoveryReport {
            leases_released: 1,
            temp_files_removed: 1,
            orphan_payload_dirs_removed: 1
        }
    );
    let rec = store.get(key_kept).await.unwrap().unwrap();
    assert_eq!(rec.state, State::WaitingRetry);
    assert!(store
        .payload_files()
        .verify_part(rec.key, &rec.payloads[0])
        .await
        .unwrap());
    assert_eq!(
        store.history(key_kept).await.unwrap().last().unwrap().actor,
        "store:recover"
    );
    assert_eq!(
        store.claim_due(Timestamp::now(), 5, "sender-task").await.unwrap().len(),
        1,
        "due again at once"
    );
    assert_eq!(
        store.recover().await.unwrap(),
        RecoveryReport {
            leases_released: 1,
            ..RecoveryReport::default()
        }
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn listing_pages_newest_first_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for i in 0..25 {
        submit(&store, &format!("list-{i:02}@test")).await;
    }
    for i in 0..5 {
        receive(&store, &format!("list-in-{i}@peer"), b"r", DAY).await;
    }
    let mut seen = Vec::new();
    let mut query = ListQuery {
        direction: Some(Direction::Outbound),
        limit: 10,
        ..ListQuery::default()
    };
    loop {
        let page = store.list(query.clone()).await.unwrap();
        assert!(page.records.len() <= 10);
        seen.extend(page.records.iter().map(|r| r.meta.message_id.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let expected: Vec<_> = (0..25).rev().map(|i| format!("list-{i:02}@test")).collect();
    assert_eq!(seen, expected);

    let mut seen_oldest_first = Vec::new();
    let mut query = ListQuery {
        state: Some(State::Submitted),
        limit: 7,
        oldest_first: true,
        ..ListQuery::default()
    };
    loop {
        let page = store.list(query.clone()).await.unwrap();
        seen_oldest_first.extend(page.records.iter().map(|r| r.meta.message_id.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let expected_oldest_first: Vec<_> = expected.iter().rev().cloned().collect();
    assert_eq!(seen_oldest_first, expected_oldest_first);

    let received = store
        .list(ListQuery {
            state: Some(State::Received),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(received.records.len(), 5);
    let contradictory = ListQuery {
        state: Some(State::Received),
        direction: Some(Direction::Outbound),
        ..ListQuery::default()
    };
    assert!(store.list(contradictory).await.unwrap().records.is_empty());
    let future = ListQuery {
        since: Some(Timestamp::now().plus(DAY)),
        ..ListQuery::default()
    };
    assert!(store.list(future).await.unwrap().records.is_empty());
    let all = store.list(ListQuery::default()).await.unwrap();
    assert_eq!(all.records.len(), 30);
    store.close().await.unwrap();
}

#[tokio::test]
async fn purge_removes_old_final_messages_with_their_files_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = StoreSettings::with_data_dir(dir.path());
    settings.retention.delivered_days = Some(1);
    settings.retention.acknowledged_days = Some(1);
    let store = SledStore::open(settings).await.unwrap();
    let old = submit(&store, "old@test").await;
    store.claim_due(Timestamp::now(), 1, "s").await.unwrap();
    let delivered =
        Transition::new(old.key, State::Sending, State::Delivered, "s").evidence(EvidenceKind::Receipt, b"r".to_vec());
    store.transition(delivered).await.unwrap().durable().await.unwrap();
    let pending = submit(&store, "pending@test").await;
    let InboundInsert::Inserted(inbound) = receive(&store, "in@peer", b"r", Duration::from_secs(3600)).await else {
        panic!()
    };
    let old_file = store.payload_files().path_of(old.key, &old.payloads[0]).unwrap();
    assert!(old_file.exists());

    assert_eq!(
        store.purge(Timestamp::now()).await.unwrap(),
        PurgeReport::default(),
        "nothing is old yet"
    );
    let report = store.purge(Timestamp::now().plus(DAY * 2)).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            messages: 1,
            payload_files: 1,
            expired_duplicate_entries: 1
        }
    );
    assert!(store.get(old.key).await.unwrap().is_none());
    assert!(store
        .get_by_message_id(Direction::Outbound, "old@test")
        .await
        .unwrap()
        .is_none());
    assert!(store.history(old.key).await.unwrap().is_empty());
    assert!(store.evidence(old.key).await.unwrap().is_empty());
    assert!(!old_file.exists());
    assert!(
        store.get(pending.key).await.unwrap().is_some(),
        "in-flight messages are never purged"
    );
    assert!(
        store.get(inbound.key).await.unwrap().is_some(),
        "received messages are kept (no retention set)"
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (
            counts.get(State::Delivered),
            counts.get(State::Submitted),
            counts.get(State::Received)
        ),
        (0, 1, 1)
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let key;
    {
        let store = open(dir.path()).await;
        key = submit(&store, "persist@test").await.key;
        store.close().await.unwrap();
    }
    let store = open(dir.path()).await;
    let rec = store.get(key).await.unwrap().unwrap();
    assert_eq!(rec.meta, meta("persist@test"));
    assert_ne!(
        store.allocate_key().unwrap(),
        key,
        "keys are never reused after a restart"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_second_opener_is_told_the_store_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let second = SledStore::open(StoreSettings::with_data_dir(dir.path())).await;
    assert!(matches!(second, Err(StoreError::InUse(_))), "{:?}", second.err());
    store.close().await.unwrap();
}

#[tokio::test]
async fn dropping_the_store_releases_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    submit(&store, "drop@test").await;
    drop(store);
    // The committer ends asynchronously; give it a bounded moment, then the database must open again.
    let mut reopened = None;
    for _ in 0..100 {
        match SledStore::open(StoreSettings::with_data_dir(dir.path())).await {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(StoreError::InUse(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("{e}"),
        }
    }
    let store = reopened.expect("the database stayed locked after the store was dropped");
    assert!(store
        .get_by_message_id(Direction::Outbound, "drop@test")
        .await
        .unwrap()
        .is_some());
    store.close().await.unwrap();
}
