//! `[server] received_message_ids`: a message whose MessageId is a bare UUID (what Domibus forwards from a back end,
//! as in DIGG's examples) is received and receipted under the default `lenient` policy, and refused with a signed
//! ebMS error, nothing stored, under `rfc2822`; an RFC 2822 id is received under both.

mod support;

use access_point::config::{Config, ReceivedMessageIds};
use access_point::msh::Node;
use access_point::store::Direction;

async fn receiver(b_toml: &std::path::Path, policy: Option<ReceivedMessageIds>) -> Node {
    let mut config = Config::load(b_toml).unwrap();
    assert_eq!(
        config.server.received_message_ids,
        ReceivedMessageIds::Lenient,
        "the default"
    );
    if let Some(policy) = policy {
        config.server.received_message_ids = policy;
    }
    Node::start(config, support::quick_options(1)).await.unwrap()
}

fn is_receipt(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("Receipt") && !text.contains(":Error ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_uuid_message_ids_are_received_unless_rfc2822_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let aps = support::two_linked_aps(tmp.path());
    let bare = uuid::Uuid::new_v4().to_string();
    let strict_id = format!("{}@ap0001-dev.example", uuid::Uuid::new_v4());

    let b = receiver(&aps.b, None).await;
    let answer = support::post_sealed(tmp.path(), &aps.a, &b, &bare, None, 1).await;
    assert!(is_receipt(&answer[0]), "{}", String::from_utf8_lossy(&answer[0]));
    let stored = b.store().get_by_message_id(Direction::Inbound, &bare).await.unwrap();
    assert_eq!(stored.map(|r| r.meta.message_id), Some(bare.clone()));
    b.shutdown().await;
    drop(b);

    let b = receiver(&aps.b, Some(ReceivedMessageIds::Rfc2822)).await;
    let other_bare = uuid::Uuid::new_v4().to_string();
    let answer = support::post_sealed(tmp.path(), &aps.a, &b, &other_bare, None, 1).await;
    let text = String::from_utf8_lossy(&answer[0]).into_owned();
    assert!(!is_receipt(&answer[0]) && text.contains("EBMS:00"), "{text}");
    assert!(text.contains("MessageId"), "the error names the field: {text}");
    assert!(b
        .store()
        .get_by_message_id(Direction::Inbound, &other_bare)
        .await
        .unwrap()
        .is_none());
    let answer = support::post_sealed(tmp.path(), &aps.a, &b, &strict_id, None, 1).await;
    assert!(is_receipt(&answer[0]), "{}", String::from_utf8_lossy(&answer[0]));
    b.shutdown().await;
}

#[test]
fn the_setting_is_read_from_the_server_section() {
    let tmp = tempfile::tempdir().unwrap();
    let aps = support::two_aps(tmp.path());
    let text = std::fs::read_to_string(&aps.b).unwrap();
    for (value, expected) in [
        ("rfc2822", Some(ReceivedMessageIds::Rfc2822)),
        ("lenient", Some(ReceivedMessageIds::Lenient)),
        ("loose", None),
    ] {
        let patched = text.replacen(
            "[server]\n",
            &format!("[server]\nreceived_message_ids = \"{value}\"\n"),
            1,
        );
        assert_ne!(patched, text, "the file has a [server] section");
        match (Config::from_toml(&patched, &aps.b), expected) {
            (Ok(c), Some(e)) => assert_eq!(c.server.received_message_ids, e),
            (Err(err), None) => assert!(err.to_string().contains("received_message_ids"), "{err}"),
            (other, e) => panic!("{value}: {other:?} vs {e:?}"),
        }
    }
}
