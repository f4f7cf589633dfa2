//! DIGG's message-client API (`/v1/sdk/messages`) on two access points on 127.0.0.1: a client of A sends an SDK
//! message through it, A delivers it over AS4, a client of B lists it by functional address (RETRIEVED), fetches it
//! whole, B sends the kvittens (RECEIPT_SENT, then NEW once its AS4 receipt is in), B's client deletes it, and A's
//! client sees the status move to WAITING_FOR_RECEIPT and then ACCEPTED (or REJECTED with the kvittens' reasons in
//! `events.eventIssues`), also through the `messageStatus` filter. Every answer is checked against DIGG's
//! own OpenAPI file (`../shared/sdk-spec/api/sdk-api-restful.yml`): the status code is one the operation lists, and
//! the body validates against the operation's schema (problem answers against DIGG's `Events` schema). Scoped callers
//! see and send only within their scope.

mod api_test_support;

use std::time::Duration;

use access_point::api::auth::{Caller, Permission, Scope, ScopeEntry};
use access_point::api::digg;
use access_point::sdk::inbound::{send_kvittens, KvittensRequest};
use access_point::sdk::kvittens::{ReasonCode, RejectionReason, ResponseCode};
use api_test_support::*;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

const SENDER_FA: &str = "sdk:utkorg:0203:ap0001-dev.example";
const RECIPIENT_FA: &str = "sdk:inkorg:0203:ap0002-dev.example";

/// DIGG's OpenAPI file as JSON.
fn digg_spec() -> Value {
    let path = shared_dir().join("sdk-spec/api/sdk-api-restful.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("DIGG's yml parses")
}

/// Checks an answer against DIGG's file: `status` must be listed for the operation, and a JSON body must validate
/// against the response schema (or, for an error without one, against DIGG's `Events` problem schema).
fn check_against_digg(spec: &Value, path: &str, method: &str, answer: &Answer) {
    let operation = &spec["paths"][path][method];
    assert!(operation.is_object(), "DIGG's file has no {method} {path}");
    let response = &operation["responses"][answer.status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path} answered {}, which DIGG's file does not list: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let schema = match response.pointer("/content/application~1json/schema") {
        Some(schema) => schema.clone(),
        None if answer.status.as_u16() >= 400 => json!({"$ref": "#/components/schemas/Events"}),
        None if answer.body.is_empty() => return,
        // 201: DIGG's file declares no body; ours is the outputData of the new message.
        None => json!({"$ref": "#/components/schemas/outputData"}),
    };
    let errors = schema_errors(spec, &schema, &answer.json());
    assert!(
        errors.is_empty(),
        "{method} {path} {}: {errors:#?}\n{}",
        answer.status,
        answer.json()
    );
}

fn create_document(label: &str) -> Value {
    json!({
        "data": {
            "type": "messages",
            "attributes": {
                "confidentiality": true,
                "label": label,
                "sender": PARTICIPANT_A,
                "recipient": PARTICIPANT_B,
                "generatingSystem": {"root": "urn:example:system", "extension": "case-system-1"},
                "senderAttention": {
                    "subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": SENDER_FA, "label": "Utkorg"}
                },
                "recipientAttention": {
                    "subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": RECIPIENT_FA, "label": "Inkorg"},
                    "attentionPerson": [{"root": "1.2.752.29.6.2.1", "extension": "SE2321000016-0001", "label": "Anna Andersson"}],
                    "referenceId": [{"root": "1.2.752.129.2.1.3.1", "extension": "19121212-1212", "label": "Tolvan Tolvansson"}]
                },
                "digitalDocument": [{
                    "documentId": "brev-1",
                    "documentName": "Brev",
                    "index": "1",
                    "contentTextBody": ["Hej, här kommer beslutet."],
                    "contentFiles": [{"fileName": "beslut.pdf", "contentType": "application/pdf", "content": "JVBERi0xLjQKJcfs"}]
                }]
            }
        }
    })
}

fn scoped(organisation: &str, functional_address: Option<&str>, permissions: Vec<Permission>) -> Caller {
    Caller {
        actor: "token:test".into(),
        scope: Scope::Entries(vec![ScopeEntry {
            organisation: organisation.into(),
            functional_address: functional_address.map(Into::into),
            permissions,
        }]),
    }
}

/// Polls `path` on `ap` (every answer checked against DIGG's file) until its `messageStatus` is one of `want`;
/// returns the last answer's JSON (the caller asserts the status, so a timeout fails with the answer shown). A
/// `404` counts as not there yet (a receiving side before the message arrived).
async fn wait_for_status(spec: &Value, ap: &RunningAp, path: &str, want: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = ap.get(path).await;
        assert!(
            [StatusCode::OK, StatusCode::NOT_FOUND].contains(&answer.status),
            "{}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        check_against_digg(spec, "/sdk/messages/{messageId}", "get", &answer);
        let json = answer.json();
        let status = json["data"]["attributes"]["messageStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if want.contains(&status.as_str()) || tokio::time::Instant::now() > deadline {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ids listed by `GET /v1/sdk/messages?{query}` on `ap` (checked against DIGG's file).
async fn listed_ids(spec: &Value, ap: &RunningAp, query: &str) -> Vec<String> {
    let answer = ap.get(&format!("/v1/sdk/messages?{query}")).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{query}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    check_against_digg(spec, "/sdk/messages", "get", &answer);
    let json = answer.json();
    json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// B's side sends a kvittens for the received message `id` (as the inbox API `POST /api/v1/inbox/{id}/kvittens`
/// does), so that it travels back to A over AS4.
async fn kvittens_from(ap: &RunningAp, id: &str, response: ResponseCode, reasons: Vec<RejectionReason>) {
    let request = KvittensRequest {
        message_id: id.to_string(),
        response,
        reasons,
        actor: "token:test".into(),
    };
    send_kvittens(&ap.node, request).await.expect("kvittens submitted");
}

/// Calls the DIGG router directly with `caller` (the listener authenticates before routing; this picks the caller).
async fn as_caller(ap: &RunningAp, caller: &Caller, method: Method, path: &str, body: Option<&Value>) -> Answer {
    let mut request = http::Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = digg::route(&ap.node, caller, request.body(Full::new(Bytes::from(bytes))).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body }
}

/// `POST /v1/sdk/messages` of [`create_document`]`(label)` through `ap`, which must answer 201.
async fn send_message(ap: &RunningAp, label: &str) -> Answer {
    let sent = ap.post_json("/v1/sdk/messages", &create_document(label)).await;
    assert_eq!(
        sent.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&sent.body)
    );
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digg_client_sends_and_the_other_side_lists_fetches_and_deletes() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = two_linked_aps(dir.path());
    let a = RunningAp::start(&config_a).await;
    let b = RunningAp::start(&config_b).await;

    // Send: 201 with Location, the new message SCHEDULED.
    let sent = send_message(&a, "Beslut i ärende 1").await;
    check_against_digg(&spec, "/sdk/messages", "post", &sent);
    let location = sent.headers[http::header::LOCATION].to_str().unwrap().to_string();
    let id = sent.json()["data"]["id"].as_str().unwrap().to_string();
    assert!(location.starts_with("/v1/sdk/messages/"), "{location}");
    assert_eq!(sent.json()["data"]["attributes"]["messageStatus"], "SCHEDULED");
    let sdk_message_id = sent.json()["data"]["attributes"]["messageId"]
        .as_str()
        .unwrap()
        .to_string();

    // A's client watches the status until the AS4 receipt is in (WAITING_FOR_RECEIPT: the kvittens is awaited).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status_at_a = loop {
        let answer = a.get(&location).await;
        assert_eq!(answer.status, StatusCode::OK);
        check_against_digg(&spec, "/sdk/messages/{messageId}", "get", &answer);
        let status = answer.json()["data"]["attributes"]["messageStatus"]
            .as_str()
            .unwrap()
            .to_string();
        if status == "WAITING_FOR_RECEIPT" || tokio::time::Instant::now() > deadline {
            break answer.json();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status_at_a["data"]["attributes"]["messageStatus"], "WAITING_FOR_RECEIPT",
        "{status_at_a}"
    );
    let issues = status_at_a["data"]["attributes"]["events"]["eventIssues"]
        .as_array()
        .unwrap();
    assert_eq!(
        issues[0]["typeCode"], "WAITING_FOR_RECEIPT",
        "newest event first: {issues:?}"
    );

    // B's client lists its functional address's inbox: the message, without digitalDocument.
    let list_path = format!("/v1/sdk/messages?filter%5BrecipientAttention.subOrganization.extension%5D={RECIPIENT_FA}");
    let listed = b.get(&list_path).await;
    assert_eq!(listed.status, StatusCode::OK);
    check_against_digg(&spec, "/sdk/messages", "get", &listed);
    let data = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(
        data[0]["id"],
        id.as_str(),
        "the resource id is the AS4 MessageId on both sides"
    );
    // Received and validated, no kvittens yet: RETRIEVED (B1.4.2: "validerat och kommer kvitteras").
    assert_eq!(data[0]["attributes"]["messageStatus"], "RETRIEVED");
    assert_eq!(data[0]["attributes"]["messageId"], sdk_message_id.as_str());
    assert!(data[0]["attributes"].get("digitalDocument").is_none());
    // Other filters: another functional address, another status, a later start time: nothing.
    for query in [
        "filter[recipientAttention.subOrganization.extension]=sdk:inkorg:other".to_string(),
        "filter[messageStatus]=MESSAGE_EXCHANGE_ERROR".to_string(),
        "filter[creationDateTimeStart]=2999-01-01T00:00:00Z".to_string(),
    ] {
        let answer = b.get(&format!("/v1/sdk/messages?{query}")).await;
        check_against_digg(&spec, "/sdk/messages", "get", &answer);
        assert_eq!(answer.json()["data"], json!([]), "{query}");
    }
    assert_eq!(
        listed_ids(&spec, &b, "filter[messageStatus]=RETRIEVED").await,
        vec![id.clone()]
    );
    assert!(listed_ids(&spec, &b, "filter[messageStatus]=NEW").await.is_empty());

    // Scopes: a client of another functional address of B sees nothing and cannot fetch or delete it.
    let other_fa = scoped(PARTICIPANT_B, Some("sdk:inkorg:other"), vec![Permission::Read]);
    let answer = as_caller(&b, &other_fa, Method::GET, "/v1/sdk/messages", None).await;
    assert_eq!(answer.json()["data"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        let answer = as_caller(&b, &other_fa, method.clone(), &location, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        check_against_digg(
            &spec,
            "/sdk/messages/{messageId}",
            &method.as_str().to_ascii_lowercase(),
            &answer,
        );
    }
    let own_fa = scoped(PARTICIPANT_B, Some(RECIPIENT_FA), vec![Permission::Read]);
    let answer = as_caller(&b, &own_fa, Method::GET, "/v1/sdk/messages", None).await;
    assert_eq!(answer.json()["data"].as_array().unwrap().len(), 1);
    // A client that may only read for A cannot send as A; one that may send for another function cannot either.
    for caller in [
        scoped(PARTICIPANT_A, Some(SENDER_FA), vec![Permission::Read]),
        scoped(PARTICIPANT_A, Some("sdk:utkorg:other"), vec![Permission::Send]),
    ] {
        let doc = create_document("Obehörig");
        let answer = as_caller(&a, &caller, Method::POST, "/v1/sdk/messages", Some(&doc)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        check_against_digg(&spec, "/sdk/messages", "post", &answer);
    }

    // B fetches it whole: the documents as sent.
    let fetched = b.get(&location).await;
    assert_eq!(fetched.status, StatusCode::OK);
    check_against_digg(&spec, "/sdk/messages/{messageId}", "get", &fetched);
    let attributes = &fetched.json()["data"]["attributes"];
    assert_eq!(attributes["label"], "Beslut i ärende 1");
    assert_eq!(attributes["confidentiality"], true);
    assert_eq!(attributes["sender"], PARTICIPANT_A);
    assert_eq!(attributes["senderAttention"]["subOrganization"]["extension"], SENDER_FA);
    assert_eq!(
        attributes["recipientAttention"]["attentionPerson"][0]["label"],
        "Anna Andersson"
    );
    assert_eq!(
        attributes["digitalDocument"],
        create_document("")["data"]["attributes"]["digitalDocument"]
    );

    // A sent message is not deleted on request (its evidence is kept): 400.
    let answer = a.call(Method::DELETE, &location, None, Vec::new()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages/{messageId}", "delete", &answer);

    // Fetching does not change the status, and RETRIEVED is not final: B's client cannot delete it yet.
    assert_eq!(attributes["messageStatus"], "RETRIEVED");
    let early = b.call(Method::DELETE, &location, None, Vec::new()).await;
    assert_eq!(
        early.status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&early.body)
    );
    check_against_digg(&spec, "/sdk/messages/{messageId}", "delete", &early);

    // B sends the kvittens ACCEPTED: RECEIPT_SENT while it travels, NEW once A's AS4 receipt for it is in.
    kvittens_from(&b, &id, ResponseCode::Accepted, Vec::new()).await;
    let first = b.get(&location).await;
    check_against_digg(&spec, "/sdk/messages/{messageId}", "get", &first);
    let first_status = first.json()["data"]["attributes"]["messageStatus"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ["RECEIPT_SENT", "NEW"].contains(&first_status.as_str()),
        "{first_status}"
    );
    let at_b = wait_for_status(&spec, &b, &location, &["NEW"]).await;
    assert_eq!(at_b["data"]["attributes"]["messageStatus"], "NEW", "{at_b}");
    assert_eq!(
        at_b["data"]["attributes"]["events"]["eventIssues"][0]["typeCode"], "NEW",
        "{at_b}"
    );
    assert_eq!(
        listed_ids(&spec, &b, "filter[messageStatus]=NEW").await,
        vec![id.clone()]
    );
    assert!(listed_ids(&spec, &b, "filter[messageStatus]=RETRIEVED")
        .await
        .is_empty());

    // A's client sees the kvittens: ACCEPTED, by id and through the status filter.
    let at_a = wait_for_status(&spec, &a, &location, &["ACCEPTED"]).await;
    assert_eq!(at_a["data"]["attributes"]["messageStatus"], "ACCEPTED", "{at_a}");
    let events = &at_a["data"]["attributes"]["events"];
    assert_eq!(events["title"], "ACCEPTED");
    assert_eq!(events["eventIssues"][0]["typeCode"], "ACCEPTED", "{events}");
    assert_eq!(
        listed_ids(&spec, &a, "filter[messageStatus]=ACCEPTED").await,
        vec![id.clone()]
    );
    assert!(listed_ids(&spec, &a, "filter[messageStatus]=WAITING_FOR_RECEIPT")
        .await
        .is_empty());

    // B deletes it: 202, then it is gone (404) and no longer listed.
    let deleted = b.call(Method::DELETE, &location, None, Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    check_against_digg(&spec, "/sdk/messages/{messageId}", "delete", &deleted);
    let gone = b.get(&location).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    check_against_digg(&spec, "/sdk/messages/{messageId}", "get", &gone);
    let again = b.call(Method::DELETE, &location, None, Vec::new()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(b.get(&list_path).await.json()["data"], json!([]));

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvittens_outcomes_show_as_accepted_and_rejected_with_reasons() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = two_linked_aps(dir.path());
    let a = RunningAp::start(&config_a).await;
    let b = RunningAp::start(&config_b).await;

    let mut ids = Vec::new();
    for label in ["Accepteras", "Avvisas"] {
        let sent = send_message(&a, label).await;
        ids.push(sent.json()["data"]["id"].as_str().unwrap().to_string());
    }
    let paths: Vec<String> = ids.iter().map(|id| digg::read::message_path(id)).collect();
    // Both delivered (AS4 receipt in), no kvittens yet: WAITING_FOR_RECEIPT on A, RETRIEVED on B.
    for path in &paths {
        let at_a = wait_for_status(&spec, &a, path, &["WAITING_FOR_RECEIPT"]).await;
        assert_eq!(
            at_a["data"]["attributes"]["messageStatus"], "WAITING_FOR_RECEIPT",
            "{at_a}"
        );
        let at_b = wait_for_status(&spec, &b, path, &["RETRIEVED"]).await;
        assert_eq!(at_b["data"]["attributes"]["messageStatus"], "RETRIEVED", "{at_b}");
    }
    let mut waiting = listed_ids(&spec, &a, "filter[messageStatus]=WAITING_FOR_RECEIPT").await;
    waiting.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(waiting, all);

    kvittens_from(&b, &ids[0], ResponseCode::Accepted, Vec::new()).await;
    let reason = RejectionReason {
        location: "/Nyttolast/Typkod".into(),
        code: ReasonCode::BusinessRuleError,
        detail_code: Some("RegelID-123".into()),
        text: "Typkoden måste vara A eller B".into(),
    };
    kvittens_from(&b, &ids[1], ResponseCode::Rejected, vec![reason]).await;

    let accepted = wait_for_status(&spec, &a, &paths[0], &["ACCEPTED"]).await;
    assert_eq!(
        accepted["data"]["attributes"]["messageStatus"], "ACCEPTED",
        "{accepted}"
    );
    let rejected = wait_for_status(&spec, &a, &paths[1], &["REJECTED"]).await;
    let attributes = &rejected["data"]["attributes"];
    assert_eq!(attributes["messageStatus"], "REJECTED", "{rejected}");
    // The kvittens' reason as DIGG's example "Meddelandet avvisat" shows it: code, rule id, text, LineID.
    let events = &attributes["events"];
    assert_eq!(events["title"], "REJECTED");
    assert_eq!(events["detail"], "Message REJECTED by receiver");
    let issues = events["eventIssues"].as_array().unwrap();
    assert_eq!(issues[0]["typeCode"], "REJECTED", "{issues:#?}");
    assert_eq!(issues[1]["typeCode"], "BV", "{issues:#?}");
    assert_eq!(issues[1]["title"], "RegelID-123");
    assert_eq!(issues[1]["detail"], "Typkoden måste vara A eller B");
    assert_eq!(issues[1]["in"], "/Nyttolast/Typkod");
    assert!(
        issues.iter().any(|i| i["typeCode"] == "WAITING_FOR_RECEIPT"),
        "{issues:#?}"
    );

    // The status filter decides on the kvittens, not only on our state (both are `delivered`).
    assert_eq!(
        listed_ids(&spec, &a, "filter[messageStatus]=ACCEPTED").await,
        vec![ids[0].clone()]
    );
    assert_eq!(
        listed_ids(&spec, &a, "filter[messageStatus]=REJECTED").await,
        vec![ids[1].clone()]
    );
    assert!(listed_ids(&spec, &a, "filter[messageStatus]=WAITING_FOR_RECEIPT")
        .await
        .is_empty());
    let combined =
        format!("filter[messageStatus]=REJECTED&filter[senderAttention.subOrganization.extension]={SENDER_FA}");
    assert_eq!(listed_ids(&spec, &a, &combined).await, vec![ids[1].clone()]);

    // On B both kvittens were delivered: NEW (final) for both, the rejected one included.
    for path in &paths {
        let at_b = wait_for_status(&spec, &b, path, &["NEW"]).await;
        assert_eq!(at_b["data"]["attributes"]["messageStatus"], "NEW", "{at_b}");
    }
    let mut new = listed_ids(&spec, &b, "filter[messageStatus]=NEW").await;
    new.sort();
    assert_eq!(new, all);

    a.stop().await;
    b.stop().await;
}

/// A deployment whose clients use only DIGG's API: with `[sdk] auto_accept` B's access point sends the kvittens
/// itself (B1.4.2's message service does), so B's client sees NEW and may delete, and A's client sees ACCEPTED,
/// without any call outside `/v1/sdk`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auto_accept_a_digg_only_client_sees_new_and_the_sender_accepted() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = two_linked_aps(dir.path());
    let mut text = std::fs::read_to_string(&config_b).unwrap();
    assert!(!text.contains("[sdk]"), "init writes no [sdk] table");
    text.push_str("\n[sdk]\nauto_accept = true\n");
    std::fs::write(&config_b, text).unwrap();
    let a = RunningAp::start(&config_a).await;
    let b = RunningAp::start(&config_b).await;

    let sent = send_message(&a, "Automatiskt kvitterat").await;
    let id = sent.json()["data"]["id"].as_str().unwrap().to_string();
    let path = digg::read::message_path(&id);

    let at_b = wait_for_status(&spec, &b, &path, &["NEW"]).await;
    assert_eq!(at_b["data"]["attributes"]["messageStatus"], "NEW", "{at_b}");
    assert_eq!(
        listed_ids(&spec, &b, "filter[messageStatus]=NEW").await,
        vec![id.clone()]
    );
    let at_a = wait_for_status(&spec, &a, &path, &["ACCEPTED"]).await;
    assert_eq!(at_a["data"]["attributes"]["messageStatus"], "ACCEPTED", "{at_a}");
    let deleted = b.call(Method::DELETE, &path, None, Vec::new()).await;
    assert_eq!(
        deleted.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    check_against_digg(&spec, "/sdk/messages/{messageId}", "delete", &deleted);

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_answer_with_digg_problems() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, _) = two_linked_aps(dir.path());
    let a = RunningAp::start(&config_a).await;

    let mut missing_label = create_document("x");
    missing_label["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("label");
    let mut bad_uuid = create_document("x");
    bad_uuid["data"]["attributes"]["messageId"] = "not-a-uuid".into();
    let mut with_status = create_document("x");
    with_status["data"]["attributes"]["messageStatus"] = "NEW".into();
    let mut too_long = create_document("x");
    too_long["data"]["attributes"]["label"] = "x".repeat(300).into();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{".to_vec(), "body"),
        ("no label", missing_label.to_string().into_bytes(), "body"),
        (
            "messageId not a UUID",
            bad_uuid.to_string().into_bytes(),
            "data.attributes",
        ),
        (
            "status set by the client",
            with_status.to_string().into_bytes(),
            "data.attributes.messageStatus",
        ),
        ("label too long", too_long.to_string().into_bytes(), "data.attributes"),
    ];
    for (what, body, location) in cases {
        let answer = a
            .call(Method::POST, "/v1/sdk/messages", Some("application/json"), body)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        check_against_digg(&spec, "/sdk/messages", "post", &answer);
        let problem = answer.json();
        assert_eq!(problem["type"], "urn:problem-type:sdk:badRequest", "{what}");
        assert_eq!(problem["detail"], "MESSAGE_EXCHANGE_ERROR", "{what}");
        assert_eq!(problem["eventIssues"][0]["in"], location, "{what}: {problem}");
        if what == "messageId not a UUID" {
            assert!(
                problem["eventIssues"][0]["title"]
                    .as_str()
                    .unwrap()
                    .contains("MessageId"),
                "{problem}"
            );
        }
    }
    // Without a token: 401 in DIGG's format.
    if a.operator_token.is_some() {
        let answer = call(a.addr(), None, Method::GET, "/v1/sdk/messages", None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        check_against_digg(&spec, "/sdk/messages", "get", &answer);
        assert_eq!(answer.json()["type"], "urn:problem-type:sdk:unauthorized");
    }
    let answer = a
        .call(Method::POST, "/v1/sdk/messages", Some("text/plain"), b"{}".to_vec())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages", "post", &answer);

    let answer = a.get("/v1/sdk/messages?filter[colour]=red").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages", "get", &answer);
    let answer = a.get("/v1/sdk/messages?filter[creationDateTimeStart]=igår").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    for method in [Method::GET, Method::DELETE] {
        let answer = a
            .call(method.clone(), "/v1/sdk/messages/no-such-message", None, Vec::new())
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        check_against_digg(
            &spec,
            "/sdk/messages/{messageId}",
            &method.as_str().to_ascii_lowercase(),
            &answer,
        );
    }
    a.stop().await;
}

#[test]
fn the_schema_checker_finds_what_breaks_digg_schemas() {
    let spec = digg_spec();
    let output = json!({"$ref": "#/components/schemas/outputData"});
    let good = json!({
        "meta": {"version": "sdk api 1.0.0"},
        "links": {"self": "/v1/sdk/messages/x"},
        "data": {"type": "messages", "id": "x", "attributes": {
            "messageStatus": "NEW", "creationDateTime": "2024-01-01T00:00:00.1Z", "messageId": "m",
            "conversationId": "c", "confidentiality": false, "label": "l", "sender": "s", "recipient": "r"}}
    });
    assert_eq!(schema_errors(&spec, &output, &good), Vec::<String>::new());
    for (pointer, value) in [
        ("/data/attributes/messageStatus", json!("DONE")),
        ("/data/attributes/confidentiality", json!("no")),
        ("/meta/version", json!("1.0.0")),
        ("/data/type", json!("letters")),
        ("/data/attributes/label", json!("x".repeat(257))),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        assert!(!schema_errors(&spec, &output, &bad).is_empty(), "{pointer}");
    }
    let mut missing = good.clone();
    missing["data"]["attributes"].as_object_mut().unwrap().remove("label");
    assert!(!schema_errors(&spec, &output, &missing).is_empty());
    let events = json!({"$ref": "#/components/schemas/Events"});
    assert!(schema_errors(&spec, &events, &json!({"status": 400, "eventIssues": [{"in": "x"}]})).is_empty());
    assert!(!schema_errors(&spec, &events, &json!({"status": 600})).is_empty());
    assert!(!schema_errors(&spec, &events, &json!({"eventIssues": [{"in": 5}]})).is_empty());
}
