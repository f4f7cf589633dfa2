//! DIGG's message-client API (`/v1/sdk/messages`) on two access points on 127.0.0.1: a client of A sends an SDK
//! message through it, A delivers it over AS4, a client of B lists it by functional address, fetches it whole and
//! deletes it, and A's client sees the status move to WAITING_FOR_RECEIPT. Every answer is checked against DIGG's
//! own OpenAPI file (`../shared/sdk-spec/api/sdk-api-restful.yml`): the status code is one the operation lists, and
//! the body validates against the operation's schema (problem answers against DIGG's `Events` schema). Scoped callers
//! see and send only within their scope.

mod api_test_support;

use std::time::Duration;

use access_point::api::auth::{Caller, Permission, Scope, ScopeEntry};
use access_point::api::digg;
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
    assert!(errors.is_empty(), "{method} {path} {}: {errors:#?}\n{}", answer.status, answer.json());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digg_client_sends_and_the_other_side_lists_fetches_and_deletes() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = two_linked_aps(dir.path());
    let a = RunningAp::start(&config_a).await;
    let b = RunningAp::start(&config_b).await;

    // Send: 201 with Location, the new message SCHEDULED.
    let sent = a.post_json("/v1/sdk/messages", &create_document("Beslut i ärende 1")).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&sent.body));
    check_against_digg(&spec, "/sdk/messages", "post", &sent);
    let location = sent.headers[http::header::LOCATION].to_str().unwrap().to_string();
    let id = sent.json()["data"]["id"].as_str().unwrap().to_string();
    assert!(location.starts_with("/v1/sdk/messages/"), "{location}");
    assert_eq!(sent.json()["data"]["attributes"]["messageStatus"], "SCHEDULED");
    let sdk_message_id = sent.json()["data"]["attributes"]["messageId"].as_str().unwrap().to_string();

    // A's client watches the status until the AS4 receipt is in (WAITING_FOR_RECEIPT: the kvittens is awaited).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status_at_a = loop {
        let answer = a.get(&location).await;
        assert_eq!(answer.status, StatusCode::OK);
        check_against_digg(&spec, "/sdk/messages/{messageId}", "get", &answer);
        let status = answer.json()["data"]["attributes"]["messageStatus"].as_str().unwrap().to_string();
        if status == "WAITING_FOR_RECEIPT" || tokio::time::Instant::now() > deadline {
            break answer.json();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status_at_a["data"]["attributes"]["messageStatus"], "WAITING_FOR_RECEIPT", "{status_at_a}");
    let issues = status_at_a["data"]["attributes"]["events"]["eventIssues"].as_array().unwrap();
    assert_eq!(issues[0]["typeCode"], "WAITING_FOR_RECEIPT", "newest event first: {issues:?}");

    // B's client lists its functional address's inbox: the message, without digitalDocument.
    let list_path = format!("/v1/sdk/messages?filter%5BrecipientAttention.subOrganization.extension%5D={RECIPIENT_FA}");
    let listed = b.get(&list_path).await;
    assert_eq!(listed.status, StatusCode::OK);
    check_against_digg(&spec, "/sdk/messages", "get", &listed);
    let data = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(data[0]["id"], id.as_str(), "the resource id is the AS4 MessageId on both sides");
    assert_eq!(data[0]["attributes"]["messageStatus"], "NEW");
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
    let by_status = b.get("/v1/sdk/messages?filter[messageStatus]=NEW").await;
    assert_eq!(by_status.json()["data"].as_array().unwrap().len(), 1);

    // Scopes: a client of another functional address of B sees nothing and cannot fetch or delete it.
    let other_fa = scoped(PARTICIPANT_B, Some("sdk:inkorg:other"), vec![Permission::Read]);
    let answer = as_caller(&b, &other_fa, Method::GET, "/v1/sdk/messages", None).await;
    assert_eq!(answer.json()["data"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        let answer = as_caller(&b, &other_fa, method.clone(), &location, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        check_against_digg(&spec, "/sdk/messages/{messageId}", &method.as_str().to_ascii_lowercase(), &answer);
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
    assert_eq!(attributes["recipientAttention"]["attentionPerson"][0]["label"], "Anna Andersson");
    assert_eq!(attributes["digitalDocument"], create_document("")["data"]["attributes"]["digitalDocument"]);

    // A sent message is not deleted on request (its evidence is kept): 400.
    let answer = a.call(Method::DELETE, &location, None, Vec::new()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages/{messageId}", "delete", &answer);

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
async fn refused_requests_answer_with_digg_problems() {
    let spec = digg_spec();
    let dir = tempfile::tempdir().unwrap();
    let (config_a, _) = two_linked_aps(dir.path());
    let a = RunningAp::start(&config_a).await;

    let mut missing_label = create_document("x");
    missing_label["data"]["attributes"].as_object_mut().unwrap().remove("label");
    let mut bad_uuid = create_document("x");
    bad_uuid["data"]["attributes"]["messageId"] = "not-a-uuid".into();
    let mut with_status = create_document("x");
    with_status["data"]["attributes"]["messageStatus"] = "NEW".into();
    let mut too_long = create_document("x");
    too_long["data"]["attributes"]["label"] = "x".repeat(300).into();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{".to_vec(), "body"),
        ("no label", missing_label.to_string().into_bytes(), "body"),
        ("messageId not a UUID", bad_uuid.to_string().into_bytes(), "data.attributes"),
        ("status set by the client", with_status.to_string().into_bytes(), "data.attributes.messageStatus"),
        ("label too long", too_long.to_string().into_bytes(), "data.attributes"),
    ];
    for (what, body, location) in cases {
        let answer = a.call(Method::POST, "/v1/sdk/messages", Some("application/json"), body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{what}: {}", String::from_utf8_lossy(&answer.body));
        check_against_digg(&spec, "/sdk/messages", "post", &answer);
        let problem = answer.json();
        assert_eq!(problem["type"], "urn:problem-type:sdk:badRequest", "{what}");
        assert_eq!(problem["detail"], "MESSAGE_EXCHANGE_ERROR", "{what}");
        assert_eq!(problem["eventIssues"][0]["in"], location, "{what}: {problem}");
        if what == "messageId not a UUID" {
            assert!(problem["eventIssues"][0]["title"].as_str().unwrap().contains("MessageId"), "{problem}");
        }
    }
    // Without a token: 401 in DIGG's format.
    if a.operator_token.is_some() {
        let answer = call(a.addr(), None, Method::GET, "/v1/sdk/messages", None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        check_against_digg(&spec, "/sdk/messages", "get", &answer);
        assert_eq!(answer.json()["type"], "urn:problem-type:sdk:unauthorized");
    }
    let answer = a.call(Method::POST, "/v1/sdk/messages", Some("text/plain"), b"{}".to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages", "post", &answer);

    let answer = a.get("/v1/sdk/messages?filter[colour]=red").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    check_against_digg(&spec, "/sdk/messages", "get", &answer);
    let answer = a.get("/v1/sdk/messages?filter[creationDateTimeStart]=igår").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    for method in [Method::GET, Method::DELETE] {
        let answer = a.call(method.clone(), "/v1/sdk/messages/no-such-message", None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        check_against_digg(&spec, "/sdk/messages/{messageId}", &method.as_str().to_ascii_lowercase(), &answer);
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
