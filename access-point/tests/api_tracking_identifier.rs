//! The `trackingIdentifier` message property (eDelivery four-corner profile) through the local API, on two access
//! points made by `init` and linked with `add_peer_from`, on 127.0.0.1: a raw submission's `tracking_identifier`
//! reaches B unchanged (stored meta and B's `GET /api/v1/messages/{id}`), next to originalSender/finalRecipient,
//! while From/To name the access points; blank, overlong and control-character values are answered 422 naming the
//! fault, with nothing stored.

mod support;

use std::time::Duration;

use access_point::api::client::{SubmitOptions, UploadPayload};
use access_point::api::ClientError;
use access_point::msh::Node;
use access_point::store::{Direction, ListQuery, State};
use support::outcome_of;

const SENDER: &str = "0203:ap0001-dev.example";
const RECIPIENT: &str = "0203:ap0002-dev.example";

fn raw_metadata(tracking_identifier: &str) -> serde_json::Value {
    serde_json::json!({
        "to": "AP0002-DEV",
        "pmode": "sdk-message",
        "original_sender": SENDER,
        "final_recipient": RECIPIENT,
        "tracking_identifier": tracking_identifier,
    })
}

async fn outbound_count(node: &Node) -> usize {
    node.store()
        .list(ListQuery {
            direction: Some(Direction::Outbound),
            ..ListQuery::default()
        })
        .await
        .unwrap()
        .records
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracking_identifier_reaches_b_unchanged_and_a_bad_one_is_refused_with_422() {
    let root = tempfile::tempdir().unwrap();
    let aps = support::two_linked_aps(root.path());
    let (config_a, config_b) = (aps.a, aps.b);
    let a = support::start_shared(&config_a).await;
    let b = support::start_shared(&config_b).await;
    let (server_a, client_a) = support::api_for(&a).await;
    let (server_b, client_b) = support::api_for(&b).await;
    let mut outcomes = a.subscribe();
    let payload = root.path().join("order.xml");
    std::fs::write(&payload, b"<order>4c</order>").unwrap();
    let uploads = [UploadPayload {
        path: payload.clone(),
        mime_type: "text/xml".into(),
    }];
    let none = SubmitOptions::default();

    let tracking_identifier = "urn:example:tracking:Ärende-2026/42 #7";
    let accepted = client_a
        .submit_with(&raw_metadata(tracking_identifier), &uploads, &none)
        .await
        .unwrap();
    let message_id = accepted.response.message_id.clone();
    let outcome = outcome_of(&mut outcomes, &message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");

    let received = b
        .store()
        .get_by_message_id(Direction::Inbound, &message_id)
        .await
        .unwrap()
        .expect("stored at B");
    assert_eq!(received.meta.tracking_identifier.as_deref(), Some(tracking_identifier));
    assert_eq!(received.meta.original_sender.as_deref(), Some(SENDER));
    assert_eq!(received.meta.final_recipient.as_deref(), Some(RECIPIENT));
    assert_eq!(
        (received.meta.from.id.as_str(), received.meta.to.id.as_str()),
        ("AP0001-DEV", "AP0002-DEV")
    );
    let view_b = client_b
        .message(&message_id)
        .await
        .unwrap()
        .expect("B shows the message");
    assert_eq!(view_b.tracking_identifier.as_deref(), Some(tracking_identifier));
    let view_a = client_a
        .message(&message_id)
        .await
        .unwrap()
        .expect("A shows the message");
    assert_eq!(view_a.tracking_identifier.as_deref(), Some(tracking_identifier));

    // Without one, none is sent, stored or shown.
    let mut plain = raw_metadata("");
    plain.as_object_mut().unwrap().remove("tracking_identifier");
    let untracked = client_a.submit_with(&plain, &uploads, &none).await.unwrap();
    let outcome = outcome_of(&mut outcomes, &untracked.response.message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    let view_b = client_b.message(&untracked.response.message_id).await.unwrap().unwrap();
    assert_eq!(view_b.tracking_identifier, None);

    let stored_before = outbound_count(&a).await;
    let overlong = "t".repeat(256);
    for (value, expected) in [
        ("", "trackingIdentifier is empty"),
        ("  ", "trackingIdentifier is empty"),
        (overlong.as_str(), "trackingIdentifier has 256 characters, at most 255"),
        ("ab\ncd", "control character U+000A at character 2"),
        ("tab\there", "control character U+0009 at character 3"),
    ] {
        let error = client_a
            .submit_with(&raw_metadata(value), &uploads, &none)
            .await
            .expect_err("a bad trackingIdentifier is refused");
        let ClientError::Problem {
            status,
            problem_type,
            detail,
        } = error
        else {
            panic!("expected a problem answer for {value:?}, got {error}");
        };
        assert_eq!(
            (status.as_u16(), problem_type.as_str()),
            (422, "urn:sdk-ap:problem:invalid-submission"),
            "{value:?}: {detail}"
        );
        assert!(detail.contains(expected), "{value:?}: {detail}");
    }
    assert_eq!(
        outbound_count(&a).await,
        stored_before,
        "nothing stored for a refused submission"
    );

    server_a.shutdown().await;
    server_b.shutdown().await;
}
