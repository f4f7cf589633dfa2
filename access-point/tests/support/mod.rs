//! Shared setup of integration tests that run two access points on 127.0.0.1: A (`AP0001-DEV`) and B (`AP0002-DEV`)
//! made by `init` and linked both ways with `peers add` ([`two_linked_aps`]), started in-process as [`Node`]s with
//! short retry intervals ([`start_node`]), or as `sdk-ap serve` processes ([`Server`], [`cli_init`]).
//!
//! Each test file includes it with `mod support;` (the conformance crate with
//! `#[path = "../../access-point/tests/support/mod.rs"] mod support;`), so it uses only crates every including test
//! has, and the `sdk-ap` binary path is passed in (`env!("CARGO_BIN_EXE_sdk-ap")` exists only in access-point).
#![allow(dead_code)] // each test uses a part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::{Node, NodeOptions, Outcome, SenderSettings, Submission, SubmittedPayload};
use pmode::{PModeSet, Profile, RetryPolicy};
use tokio::sync::broadcast;

pub const A_PARTY: &str = "AP0001-DEV";
pub const B_PARTY: &str = "AP0002-DEV";
/// The participants `init` makes each AP serve.
pub const A_PARTICIPANT: &str = "0203:ap0001-dev.example";
pub const B_PARTICIPANT: &str = "0203:ap0002-dev.example";
pub const SDK_ACTION: &str = pmode::builtin::SDK_MESSAGE_ACTION;
pub const SDK_SERVICE: &str = pmode::builtin::SDK_SERVICE;
pub const SDK_SERVICE_TYPE: &str = "urn:fdc:digg.se:edelivery:process";
/// How long a test waits for a server process to come up or stop.
pub const PROCESS_WAIT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The configuration files and ports of A and B.
#[derive(Debug, Clone)]
pub struct TwoAps {
    pub a: PathBuf,
    pub b: PathBuf,
    pub a_api_port: u16,
    pub b_api_port: u16,
}

/// A and B made by `init` in `root/a` and `root/b` (not linked).
pub fn two_aps(root: &Path) -> TwoAps {
    let mut made = Vec::new();
    for (name, party) in [("a", A_PARTY), ("b", B_PARTY)] {
        let api_port = free_port();
        let outcome = init(&InitArgs {
            dir: root.join(name),
            party: party.into(),
            port: free_port(),
            api_port: Some(api_port),
            force: false,
        })
        .unwrap();
        made.push((outcome.config_file, api_port));
    }
    let (b, b_api_port) = made.pop().unwrap();
    let (a, a_api_port) = made.pop().unwrap();
    TwoAps {
        a,
        b,
        a_api_port,
        b_api_port,
    }
}

/// A and B made by `init` and linked both ways (each trusts the other's PKI and lists it in `[[peers]]`).
pub fn two_linked_aps(root: &Path) -> TwoAps {
    let aps = two_aps(root);
    add_peer_from(&aps.a, &aps.b).unwrap();
    add_peer_from(&aps.b, &aps.a).unwrap();
    aps
}

/// The built-in SDK P-Modes and the ebMS test service, retrying every second at most `max_retries` times.
pub fn quick_retry_pmodes(max_retries: u32) -> PModeSet {
    let mut all = pmode::builtin::sdk_profile();
    all.push(pmode::builtin::ebms_test_service(Profile::Sdk));
    for p in &mut all {
        p.reception_awareness.retry = RetryPolicy::Constant {
            max_retries,
            interval_seconds: 1,
        };
    }
    PModeSet::from_pmodes(all, "<test>").unwrap()
}

/// Node options with [`quick_retry_pmodes`] and a sender that looks for due messages every 200 ms.
pub fn quick_options(max_retries: u32) -> NodeOptions {
    NodeOptions {
        pmodes: Some(quick_retry_pmodes(max_retries)),
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    }
}

/// Starts a node from a configuration file with [`quick_options`].
pub async fn start_node(config: &Path, max_retries: u32) -> Node {
    Node::start(Config::load(config).unwrap(), quick_options(max_retries))
        .await
        .unwrap()
}

/// An SDK message from A's participant to `final_recipient`, addressed to AP `to_party` (`None`: resolved by the AP).
pub fn sdk_submission(to_party: Option<&str>, final_recipient: &str, payloads: Vec<SubmittedPayload>) -> Submission {
    Submission {
        to_party: to_party.map(Into::into),
        to_party_type: None,
        pmode_id: None,
        service: SDK_SERVICE.into(),
        service_type: Some(SDK_SERVICE_TYPE.into()),
        action: SDK_ACTION.into(),
        original_sender: A_PARTICIPANT.into(),
        final_recipient: final_recipient.into(),
        conversation_id: None,
        tracking_identifier: None,
        payloads,
        actor: "test".into(),
    }
}

/// Outcomes received while waiting for another message (message ids are unique, so one map serves every test of a
/// binary): messages sent together may finish in any order, and a receiver only sees each outcome once.
static SEEN_OUTCOMES: std::sync::Mutex<Option<std::collections::HashMap<String, Outcome>>> =
    std::sync::Mutex::new(None);

/// Waits for the final outcome of `message_id` (panics after `within`); outcomes of other messages that arrive
/// meanwhile are kept for their own `outcome_of`.
pub async fn outcome_of(outcomes: &mut broadcast::Receiver<Outcome>, message_id: &str, within: Duration) -> Outcome {
    let take_seen = |id: &str| {
        let mut seen = SEEN_OUTCOMES.lock().unwrap_or_else(|e| e.into_inner());
        seen.get_or_insert_with(Default::default).remove(id)
    };
    if let Some(outcome) = take_seen(message_id) {
        return outcome;
    }
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let next = tokio::time::timeout(left, outcomes.recv())
            .await
            .unwrap_or_else(|_| panic!("no outcome for {message_id} within {within:?}"))
            .expect("outcome channel open");
        if next.message_id == message_id {
            return next;
        }
        let mut seen = SEEN_OUTCOMES.lock().unwrap_or_else(|e| e.into_inner());
        seen.get_or_insert_with(Default::default)
            .insert(next.message_id.clone(), next);
    }
}

/// Runs the `sdk-ap` binary `bin` with `args`.
pub fn sdk_ap(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

/// The standard output of a successful run (panics with both outputs otherwise).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sdk-ap init --dir DIR --party PARTY --port PORT --api-port API_PORT`; returns the configuration file.
pub fn cli_init(bin: &str, dir: &Path, party: &str, port: u16, api_port: u16) -> PathBuf {
    ok(&sdk_ap(
        bin,
        &[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--party",
            party,
            "--port",
            &port.to_string(),
            "--api-port",
            &api_port.to_string(),
        ],
    ));
    dir.join("sdk-ap.toml")
}

/// An `sdk-ap serve` process, killed when dropped.
pub struct Server(pub Child);

impl Server {
    /// Starts `bin serve --config CONFIG` and waits until its local API accepts connections.
    pub fn start(bin: &str, config: &Path, api_port: u16) -> Server {
        let child = Command::new(bin)
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server(child);
        let deadline = Instant::now() + PROCESS_WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
            assert!(Instant::now() < deadline, "the API on port {api_port} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + PROCESS_WAIT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An SDK UserMessage from A to B with this MessageId (any printable id: tests of received-id checks use bare UUIDs).
pub fn sdk_user_message(message_id: &str) -> access_point::ebms::UserMessage {
    use access_point::ebms::{MessageId, Property};
    let mut user = access_point::ebms::test_support::sample_user_message(0);
    user.message_info.message_id = MessageId::parse_lenient(message_id).unwrap();
    user.collaboration_info.agreement_ref = None;
    user.message_properties = vec![
        Property::typed("originalSender", "iso6523-actorid-upis", A_PARTICIPANT),
        Property::typed("finalRecipient", "iso6523-actorid-upis", B_PARTICIPANT),
    ];
    user
}

/// Seals an SDK message with `signer` (A's message key unless given) and POSTs the same body to B `times` times
/// over A's TLS identity; returns the response bodies.
pub async fn post_sealed(
    dir: &Path,
    a_toml: &Path,
    b: &Node,
    message_id: &str,
    signer: Option<&access_point::pki::KeyPair>,
    times: usize,
) -> Vec<Vec<u8>> {
    use access_point::transport::{As4Client, OutgoingBody};
    use access_point::wss::message::{seal, SealParams};
    let config = Config::load(a_toml).unwrap();
    let identity = config.identity().unwrap();
    let tls_trust = config.tls_trust_store().unwrap();
    let client = As4Client::from_config(&config, &identity, &tls_trust, None).unwrap();
    let b_cert = access_point::pki::load_certificate(&b.config().keys.message.cert).unwrap();
    let pmodes = quick_retry_pmodes(1);
    let pmode = pmodes.get(pmode::builtin::SDK_MESSAGE_ID).unwrap();
    let params = SealParams {
        pmode,
        signer: signer.unwrap_or(&identity.message),
        receiver_encryption_cert: Some(&b_cert),
        spool_dir: dir,
    };
    let sealed = seal(&sdk_user_message(message_id), &[], &params).await.unwrap();
    let url = b.config().server.endpoint_url();
    let mut bodies = Vec::new();
    for _ in 0..times {
        let file = tokio::fs::File::from_std(sealed.body.reopen().unwrap());
        let response = client
            .post(
                &url,
                &sealed.content_type,
                &http::HeaderMap::new(),
                OutgoingBody::file(file).await.unwrap(),
            )
            .await
            .unwrap();
        assert!(response.status.is_success(), "{}", response.status);
        bodies.push(response.bytes().await.unwrap().to_vec());
    }
    bodies
}

/// Starts a node from a configuration file with its own P-Modes and a sender that looks for due messages every
/// 200 ms, shared (`Arc`) so that an API server can hold it too.
pub async fn start_shared(config: &Path) -> std::sync::Arc<Node> {
    let options = NodeOptions {
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    };
    std::sync::Arc::new(Node::start(Config::load(config).unwrap(), options).await.unwrap())
}

/// Starts a node with default options and its local API on an ephemeral 127.0.0.1 port.
pub async fn start_with_api(config: &Path) -> (std::sync::Arc<Node>, access_point::api::ApiServer) {
    let node = std::sync::Arc::new(
        Node::start(Config::load(config).unwrap(), NodeOptions::default())
            .await
            .unwrap(),
    );
    let api = access_point::api::ApiServer::start_on(node.clone(), "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    (node, api)
}

/// Appends `text` to a configuration file.
pub fn append_to_config(config: &Path, text: &str) {
    let mut content = std::fs::read_to_string(config).unwrap();
    content.push_str(text);
    std::fs::write(config, content).unwrap();
}

/// Polls `check` every 100 ms for at most `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The SDK classification of the inbound message `message_id` (`None`: not received or not classified yet).
pub async fn classification_of(node: &Node, message_id: &str) -> Option<access_point::store::Classification> {
    let record = node
        .store()
        .get_by_message_id(access_point::store::Direction::Inbound, message_id)
        .await
        .unwrap()?;
    node.store().classification(record.key).await.unwrap()
}

/// `len` pseudo-random bytes from `seed` (xorshift): test content that does not compress.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The lines of a node's API audit log, parsed.
pub fn audit_lines(config: &Config) -> Vec<serde_json::Value> {
    let path = config.node.data_dir.join("audit/api-audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An SDK submission through the API from `from_org`'s functional address `from_fa` to B's `socialtjanst`, with
/// `document` as its one file; the AS4 MessageId.
pub async fn submit_sdk(
    client: &access_point::api::ApiClient,
    document: &Path,
    from_org: &str,
    from_fa: &str,
) -> Result<String, access_point::api::ClientError> {
    use access_point::api::client::{SubmitOptions, UploadPayload};
    let metadata = serde_json::json!({
        "format": "sdk",
        "sender": {"participant": from_org, "functional_address": from_fa},
        "recipient": {"participant": B_PARTICIPANT, "functional_address": "socialtjanst"},
        "subject": "Begäran om yttrande",
    });
    let files = [UploadPayload {
        path: document.to_path_buf(),
        mime_type: "application/xml".into(),
    }];
    client
        .submit_with(&metadata, &files, &SubmitOptions::default())
        .await
        .map(|a| a.response.message_id)
}

/// An SDK message from A's participant to B's, as the XML payload of an XHE envelope with id `id` (SDK message v3
/// document type, the built-in SDK process and document ids, the test federation).
pub fn sdk_message_xhe(id: String, message: &access_point::sdk::message_v3::SdkMessage) -> access_point::sdk::xhe::Xhe {
    use access_point::sdk::xhe::{BusinessScope, Participant, PayloadContent, Xhe, XhePayload};
    let rendered = message.render().unwrap();
    let fragment = rendered[rendered.find("?>").unwrap() + 2..].trim().to_string();
    Xhe {
        id,
        creation_date_time: "2026-11-24T10:00:00.0Z".into(),
        scope: BusinessScope {
            document_id: SDK_ACTION.strip_prefix("busdox-docid-qns::").unwrap().into(),
            document_id_scheme: "busdox-docid-qns".into(),
            process_id: SDK_SERVICE.into(),
            process_id_scheme: SDK_SERVICE_TYPE.into(),
            federation_id: "urn:fdc:digg.se:edelivery:federation:test".into(),
        },
        from: Participant::sdk(A_PARTICIPANT),
        to: Participant::sdk(B_PARTICIPANT),
        payload: XhePayload {
            document_type_code: access_point::sdk::message_v3::MESSAGE_V3_DOCUMENT_TYPE.into(),
            content_type_code: "application/xml".into(),
            handling_service_id: None,
            content: PayloadContent::Xml(fragment),
        },
    }
}

/// An SDK message from A's participant to `function` at B's participant, with these files (name, MIME type,
/// bytes) in one document, in an XHE envelope ([`sdk_message_xhe`]); the message id is a fresh UUID.
pub fn a_to_b_sdk_xhe(function: &str, files: &[(&str, &str, Vec<u8>)]) -> access_point::sdk::xhe::Xhe {
    use access_point::sdk::message_v3::{
        Attention, ContentFile, DigitalDocument, FileContent, InstanceId, MessageHeader, Party, SdkMessage,
        SubOrganization, FUNCTIONAL_ADDRESS_ROOT,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let message = SdkMessage {
        header: MessageHeader {
            creation_date_time: "2026-11-24T10:00:00.0Z".into(),
            message_id: id.clone(),
            conversation_id: id.clone(),
            ref_to_message_id: None,
            label: Some("Ansökan om bygglov".into()),
            confidentiality: false,
            generating_system: None,
            recipient: Party {
                id: InstanceId::new("iso6523-actorid-upis", B_PARTICIPANT),
                label: None,
                attention: Some(Attention {
                    persons: vec![],
                    sub_organization: SubOrganization {
                        id: InstanceId::new(FUNCTIONAL_ADDRESS_ROOT, function),
                        label: None,
                    },
                    references: vec![],
                }),
            },
            sender: Party {
                id: InstanceId::new("iso6523-actorid-upis", A_PARTICIPANT),
                label: None,
                attention: None,
            },
        },
        documents: vec![DigitalDocument {
            document_id: "doc-1".into(),
            document_name: Some("Ansökan".into()),
            index: None,
            files: files
                .iter()
                .map(|(name, mime, bytes)| ContentFile {
                    file_name: name.to_string(),
                    content_type: mime.to_string(),
                    content: FileContent::Bytes(bytes.clone()),
                })
                .collect(),
            texts: vec!["Se bifogade filer.".into()],
        }],
    };
    sdk_message_xhe(id, &message)
}

/// The local API of `node` on an ephemeral 127.0.0.1 port, and a client holding the operator token.
pub async fn api_for(
    node: &std::sync::Arc<Node>,
) -> (access_point::api::ApiServer, access_point::api::client::ApiClient) {
    let server = access_point::api::ApiServer::start_on(node.clone(), "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let client = access_point::api::client::ApiClient::new(server.local_addr())
        .with_config_token(node.config(), None)
        .unwrap();
    (server, client)
}

/// A submission to B of the XHE `xhe` (written to `dir/name`) as the SDK message part `cid:message`.
pub fn xhe_submission(dir: &Path, name: &str, xhe: &[u8], original_sender: &str, final_recipient: &str) -> Submission {
    let path = dir.join(name);
    std::fs::write(&path, xhe).unwrap();
    Submission {
        to_party: Some(B_PARTY.into()),
        to_party_type: None,
        pmode_id: None,
        service: SDK_SERVICE.into(),
        service_type: Some(SDK_SERVICE_TYPE.into()),
        action: SDK_ACTION.into(),
        original_sender: original_sender.into(),
        final_recipient: final_recipient.into(),
        conversation_id: None,
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path,
            mime_type: "text/xml".into(),
            content_id: Some("message".into()),
        }],
        actor: "test".into(),
    }
}
