//! The inbound SDK business layer on two real access points (127.0.0.1, mutual TLS): an SDK message with
//! attachments lands in the recipient's inbox, its attachment downloads byte for byte through the API, is
//! acknowledged, and the kvittens ACCEPTED travels back into the sender's message history; a malformed XHE is
//! dropped without a kvittens (TF-09); an XHE inconsistent with the AS4 header is answered REJECTED (TF-10);
//! DIGG's example message is accepted automatically with `[sdk] auto_accept`; a scoped caller cannot read another
//! functional address's inbox; a message stored but not classified before a crash is classified at the next start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::api::auth::{Caller, Permission, Scope, ScopeEntry};
use access_point::api::client::InboxFilter;
use access_point::api::inbox::KvittensBody;
use access_point::api::status::MessageView;
use access_point::api::{ApiClient, ApiServer};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::sdk::xhe::Xhe;
use access_point::store::{Classification, Direction, EvidenceKind, InboxQuery, ListQuery, State, Store};
use http_body_util::BodyExt;

mod support;

use support::{append_to_config, classification_of, eventually, noise, start_shared, xhe_submission};

const SENDER: &str = support::A_PARTICIPANT;
const RECIPIENT: &str = support::B_PARTICIPANT;
const FUNCTION: &str = "sdk.test.0203:ap0002-dev.example";
const OTHER_FUNCTION: &str = "sdk.test.other";
const DIGG_FROM: &str = "0203:testb.testbed.inera.se";
const DIGG_TO: &str = "0203:testa.testbed.inera.se";

fn digg_example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(
            "../../shared/sdk-spec/repo/Meddelandesystem/Meddelandetyper/sdk-meddelande-3/sdk-meddelande-v3.1/example",
        )
        .join(name)
}

/// Creates and links A and B; B also serves DIGG's example recipient, A its sender. `b_extra` is appended to B's
/// configuration.
fn two_linked_aps(root: &Path, b_extra: &str) -> (PathBuf, PathBuf) {
    let aps = support::two_aps(root);
    for (file, party, extra_participant) in [(&aps.a, "AP0001-DEV", DIGG_FROM), (&aps.b, "AP0002-DEV", DIGG_TO)] {
        let text = std::fs::read_to_string(file).unwrap();
        let own = format!("0203:{}.example", party.to_ascii_lowercase());
        let text = text.replacen(
            &format!("served_participants = [\"{own}\"]"),
            &format!("served_participants = [\"{own}\", \"{extra_participant}\"]"),
            1,
        );
        std::fs::write(file, text).unwrap();
    }
    if !b_extra.is_empty() {
        append_to_config(&aps.b, b_extra);
    }
    add_peer_from(&aps.a, &aps.b).unwrap();
    add_peer_from(&aps.b, &aps.a).unwrap();
    (aps.a, aps.b)
}

/// An SDK message from A's participant to `function` at B's, with these files, in an XHE envelope.
fn sdk_xhe(function: &str, files: &[(&str, &str, Vec<u8>)]) -> (String, Xhe) {
    let xhe = support::a_to_b_sdk_xhe(function, files);
    (xhe.render().unwrap(), xhe)
}

fn scoped(function: &str, permissions: Vec<Permission>) -> Caller {
    Caller {
        actor: "token:scoped".into(),
        scope: Scope::Entries(vec![ScopeEntry {
            organisation: RECIPIENT.into(),
            functional_address: Some(function.into()),
            permissions,
        }]),
    }
}

async fn body_bytes(response: http::Response<access_point::api::ApiBody>) -> Vec<u8> {
    response.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_fetch_ack_and_kvittens_accepted_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path(), "");
    let a = start_shared(&a_toml).await;
    let b = start_shared(&b_toml).await;
    let api = ApiServer::start(b.clone()).await.unwrap();
    let client = ApiClient::for_config(&Config::load(&b_toml).unwrap(), None).unwrap();
    let mut a_events = a.events().subscribe();

    let big = noise(700_000, 3);
    let (xhe_text, _) = sdk_xhe(
        FUNCTION,
        &[
            ("ritning.bin", "application/octet-stream", big.clone()),
            ("brev.txt", "text/plain", "Hej Åsa!".as_bytes().to_vec()),
        ],
    );
    let (other_text, _) = sdk_xhe(OTHER_FUNCTION, &[("x.txt", "text/plain", b"other".to_vec())]);
    let sent = a
        .submit(xhe_submission(
            tmp.path(),
            "m1.xml",
            xhe_text.as_bytes(),
            SENDER,
            RECIPIENT,
        ))
        .await
        .unwrap();
    eventually("first classification at B", Duration::from_secs(60), || {
        classification_of(&b, &sent.message_id)
    })
    .await;
    let other = a
        .submit(xhe_submission(
            tmp.path(),
            "m2.xml",
            other_text.as_bytes(),
            SENDER,
            RECIPIENT,
        ))
        .await
        .unwrap();
    for id in [&sent.message_id, &other.message_id] {
        let c = eventually("classification at B", Duration::from_secs(60), || {
            classification_of(&b, id)
        })
        .await;
        assert_eq!(c, Classification::Inbox);
    }

    // The list through the API (operator token: everything), oldest first.
    let page = client.inbox_list(&InboxFilter::default()).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|i| i.message_id.as_str()).collect();
    assert_eq!(ids, vec![sent.message_id.as_str(), other.message_id.as_str()]);
    let item = &page.items[0];
    assert_eq!(item.state, "new");
    assert_eq!(item.recipient, RECIPIENT);
    assert_eq!(item.sender, SENDER);
    assert_eq!(item.functional_address.as_deref(), Some(FUNCTION));
    assert_eq!(item.subject.as_deref(), Some("Ansökan om bygglov"));
    assert_eq!(item.attachments.len(), 2);
    assert_eq!(item.attachments[0].size, big.len() as u64);
    assert_eq!(item.attachments[1].content_type, "text/plain");
    // Filters and cursor pagination.
    let filtered = client
        .inbox_list(&InboxFilter {
            functional_address: Some(OTHER_FUNCTION.into()),
            ..InboxFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);
    assert_eq!(filtered.items[0].message_id, other.message_id);
    let first = client
        .inbox_list(&InboxFilter {
            limit: Some(1),
            ..InboxFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(first.items[0].message_id, sent.message_id);
    let second = client
        .inbox_list(&InboxFilter {
            limit: Some(1),
            cursor: first.next_cursor.clone(),
            ..InboxFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(second.items[0].message_id, other.message_id);

    // Attachments stream back byte for byte, with their type and name.
    let mut downloaded = Vec::new();
    let done = client
        .inbox_download(&sent.message_id, Some(0), &mut downloaded)
        .await
        .unwrap();
    assert!(downloaded == big, "attachment bytes differ");
    assert_eq!(done.content_type.as_deref(), Some("application/octet-stream"));
    assert!(done.content_disposition.unwrap().contains("filename=\"ritning.bin\""));
    let mut letter = Vec::new();
    client
        .inbox_download(&sent.message_id, Some(1), &mut letter)
        .await
        .unwrap();
    assert_eq!(letter, "Hej Åsa!".as_bytes());
    let mut document = Vec::new();
    client
        .inbox_download(&sent.message_id, None, &mut document)
        .await
        .unwrap();
    assert_eq!(document, xhe_text.as_bytes());
    assert!(client
        .inbox_download(&sent.message_id, Some(2), &mut Vec::new())
        .await
        .is_err());

    // A caller scoped to the other functional address sees neither the entry nor its files.
    let narrow = scoped(OTHER_FUNCTION, vec![Permission::Read]);
    let response = access_point::api::inbox::list(&b, &narrow, None).await;
    let listed: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let listed_ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, vec![other.message_id.as_str()]);
    // Outside the scope reads exactly like an unknown id (404, same detail), so ids do not leak.
    let denied = access_point::api::inbox::show(&b, &narrow, &sent.message_id).await;
    assert_eq!(denied.status(), http::StatusCode::NOT_FOUND);
    let denied_body = denied.into_body().collect().await.unwrap().to_bytes();
    let unknown = access_point::api::inbox::show(&b, &narrow, "no-such-id").await;
    assert_eq!(unknown.status(), http::StatusCode::NOT_FOUND);
    let unknown_body = unknown.into_body().collect().await.unwrap().to_bytes();
    let detail = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap()["detail"].clone();
    assert_eq!(
        detail(&denied_body),
        detail(&unknown_body)
            .as_str()
            .unwrap()
            .replace("no-such-id", &sent.message_id)
    );
    let denied = access_point::api::inbox::attachment(&b, &narrow, &sent.message_id, 0).await;
    assert_eq!(denied.status(), http::StatusCode::NOT_FOUND);
    let own = scoped(FUNCTION, vec![Permission::Read]);
    let allowed = access_point::api::inbox::attachment(&b, &own, &sent.message_id, 1).await;
    assert_eq!(allowed.status(), http::StatusCode::OK);
    assert_eq!(body_bytes(allowed).await, "Hej Åsa!".as_bytes());

    // Acknowledge, then the kvittens ACCEPTED goes back to A.
    let acked = client.inbox_ack(&sent.message_id, "acknowledged").await.unwrap();
    assert_eq!(acked["state"], "acknowledged");
    let answer = client
        .inbox_kvittens(
            &sent.message_id,
            &KvittensBody {
                response: "ACCEPTED".into(),
                reason_code: None,
                description: None,
            },
        )
        .await
        .unwrap();
    let again = client
        .inbox_kvittens(
            &sent.message_id,
            &KvittensBody {
                response: "ACCEPTED".into(),
                reason_code: None,
                description: None,
            },
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("inbox-conflict"), "{again}");
    let view = eventually("the kvittens in A's status", Duration::from_secs(60), || async {
        let view = MessageView::read(a.store().as_ref(), &sent.message_id).await.unwrap()?;
        view.history
            .iter()
            .any(|h| h.reason.starts_with("kvittens ACCEPTED"))
            .then_some(view)
    })
    .await;
    assert!(
        view.history.iter().any(|h| h.reason.contains(&answer.kvittens_id)),
        "{:?}",
        view.history
    );
    let record = a
        .store()
        .get_by_message_id(Direction::Outbound, &sent.message_id)
        .await
        .unwrap()
        .unwrap();
    let evidence = a.store().evidence(record.key).await.unwrap();
    assert!(evidence.iter().any(|e| e.kind == EvidenceKind::Kvittens));
    let published = eventually("KvittensReceived on A's event bus", Duration::from_secs(10), || {
        let mut found = None;
        while let Ok(event) = a_events.try_recv() {
            if let access_point::msh::ApEvent::KvittensReceived {
                message_id,
                response_code,
                ..
            } = event
            {
                if message_id == sent.message_id {
                    found = Some(response_code);
                }
            }
        }
        async move { found }
    })
    .await;
    assert_eq!(published, "ACCEPTED");
    // The kvittens message itself is not in A's inbox.
    assert!(a
        .store()
        .inbox_list(InboxQuery::default())
        .await
        .unwrap()
        .items
        .is_empty());
    api.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inconsistent_and_digg_example_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path(), "\n[sdk]\nauto_accept = true\n");
    let a = start_shared(&a_toml).await;
    let b = start_shared(&b_toml).await;

    // TF-09: a broken envelope (DIGG's example with a wrong customisation id) is dropped, no kvittens.
    let example = std::fs::read_to_string(digg_example("xhe_unencrypted_payload.xml")).unwrap();
    let broken = example.replace("urn:fdc:digg.se:edelivery:xhe:1", "urn:example:not-digg");
    let malformed = a
        .submit(xhe_submission(
            tmp.path(),
            "bad.xml",
            broken.as_bytes(),
            DIGG_FROM,
            DIGG_TO,
        ))
        .await
        .unwrap();
    // TF-10: the AS4 originalSender differs from the XHE FromParty: REJECTED.
    let renamed = example.replace(
        "7bc5576a-3f87-4cf5-a0c5-277da06fcacb",
        &uuid::Uuid::new_v4().to_string(),
    );
    let inconsistent = a
        .submit(xhe_submission(
            tmp.path(),
            "incons.xml",
            renamed.as_bytes(),
            SENDER,
            DIGG_TO,
        ))
        .await
        .unwrap();
    // DIGG's example as it is: accepted automatically ([sdk] auto_accept).
    let valid = a
        .submit(xhe_submission(
            tmp.path(),
            "ok.xml",
            example.as_bytes(),
            DIGG_FROM,
            DIGG_TO,
        ))
        .await
        .unwrap();

    let c = eventually("TF-09", Duration::from_secs(60), || {
        classification_of(&b, &malformed.message_id)
    })
    .await;
    assert!(
        matches!(&c, Classification::Dropped { reason } if reason.contains("R3-XHE") || reason.contains("XHE")),
        "{c:?}"
    );
    let record = b
        .store()
        .get_by_message_id(Direction::Inbound, &malformed.message_id)
        .await
        .unwrap()
        .unwrap();
    let history = b.store().history(record.key).await.unwrap();
    assert!(
        history.iter().any(|h| h.reason.starts_with("dropped: malformed XHE")),
        "{history:?}"
    );

    let c = eventually("TF-10", Duration::from_secs(60), || {
        classification_of(&b, &inconsistent.message_id)
    })
    .await;
    let Classification::Rejected {
        reason,
        kvittens_message_id,
    } = c
    else {
        panic!("{c:?}")
    };
    assert!(reason.contains("originalSender"), "{reason}");
    let rejected_kvittens = kvittens_message_id.unwrap();

    let c = eventually("DIGG example", Duration::from_secs(60), || {
        classification_of(&b, &valid.message_id)
    })
    .await;
    assert_eq!(c, Classification::Inbox);
    let record = b
        .store()
        .get_by_message_id(Direction::Inbound, &valid.message_id)
        .await
        .unwrap()
        .unwrap();
    let item = b.store().inbox_get(record.key).await.unwrap().unwrap();
    assert_eq!(
        item.entry.functional_address.as_deref(),
        Some("sdk.testbed.0203:testa.testbed.inera.se")
    );
    assert_eq!(item.entry.recipient, DIGG_TO);
    assert!(item.entry.attachments.is_empty());
    // Neither the dropped nor the rejected one is in the inbox.
    let inbox = b.store().inbox_list(InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.items.len(), 1);

    // B sent exactly two kvittens (REJECTED and the automatic ACCEPTED), none for the malformed message.
    let outbound = b
        .store()
        .list(ListQuery {
            direction: Some(Direction::Outbound),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(outbound.records.len(), 2, "{:?}", outbound.records);
    assert!(outbound
        .records
        .iter()
        .all(|r| r.meta.action == pmode::builtin::SDK_KVITTENS_ACTION));
    assert!(outbound.records.iter().any(|r| r.meta.message_id == rejected_kvittens));

    // Both arrive at A and are linked to the outbound messages they answer.
    for (id, verdict) in [
        (&inconsistent.message_id, "kvittens REJECTED"),
        (&valid.message_id, "kvittens ACCEPTED"),
    ] {
        eventually(verdict, Duration::from_secs(60), || async {
            let view = MessageView::read(a.store().as_ref(), id).await.unwrap()?;
            view.history.iter().any(|h| h.reason.starts_with(verdict)).then_some(())
        })
        .await;
    }
    let malformed_at_a = MessageView::read(a.store().as_ref(), &malformed.message_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!malformed_at_a.history.iter().any(|h| h.reason.contains("kvittens")));
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_unclassified_by_a_crash_is_classified_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_toml, b_toml) = two_linked_aps(tmp.path(), "");
    let config = Config::load(&b_toml).unwrap();
    let (xhe_text, xhe) = sdk_xhe(FUNCTION, &[("f.txt", "text/plain", b"kept".to_vec())]);
    // The state a crash right after the receipt leaves: stored and receipted, never classified.
    let message_id = format!("{}@ap0001-dev", uuid::Uuid::new_v4());
    {
        let store = access_point::store::SledStore::open(access_point::store::StoreSettings::with_data_dir(
            &config.node.data_dir,
        ))
        .await
        .unwrap();
        let key = store.allocate_key().unwrap();
        let part = store
            .payload_files()
            .write_part(key, 0, "message", "text/xml", &mut xhe_text.as_bytes(), u64::MAX)
            .await
            .unwrap();
        let party = |id: &str| access_point::store::Party {
            id: id.into(),
            id_type: Some(access_point::config::SDK_PARTY_ID_TYPE.into()),
            role: "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator".into(),
        };
        store
            .insert_inbound(access_point::store::NewInbound {
                key,
                meta: access_point::store::MessageMeta {
                    message_id: message_id.clone(),
                    pmode_id: pmode::builtin::SDK_MESSAGE_ID.into(),
                    from: party("AP0001-DEV"),
                    to: party("AP0002-DEV"),
                    service: pmode::builtin::SDK_SERVICE.into(),
                    service_type: Some("urn:fdc:digg.se:edelivery:process".into()),
                    action: xhe.scope.ebms_action(),
                    conversation_id: "c-1".into(),
                    ref_to_message_id: None,
                    original_sender: Some(SENDER.into()),
                    final_recipient: Some(RECIPIENT.into()),
                    tracking_identifier: None,
                },
                payloads: vec![part],
                receipt: b"<receipt/>".to_vec(),
                duplicate_window: Duration::from_secs(3600),
                actor: "receiver".into(),
            })
            .await
            .unwrap()
            .durable()
            .await
            .unwrap();
        assert_eq!(store.unclassified_inbound(10).await.unwrap(), vec![key]);
        store.close().await.unwrap();
    }
    let b = start_shared(&b_toml).await;
    let c = eventually("classification after restart", Duration::from_secs(30), || {
        classification_of(&b, &message_id)
    })
    .await;
    assert_eq!(c, Classification::Inbox);
    let page = b.store().inbox_list(InboxQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].state, State::Received);
    assert_eq!(page.items[0].entry.functional_address.as_deref(), Some(FUNCTION));
    assert!(b.store().unclassified_inbound(10).await.unwrap().is_empty());
    b.shutdown().await;
}
