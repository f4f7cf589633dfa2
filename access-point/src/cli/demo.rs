//! `sdk-ap demo`: a two-organisation SDK federation in one process, for a first look.
//!
//! Under a temporary folder (or `--dir`): two development access points with their own PKIs, made as `sdk-ap init`
//! makes them, AP0001-DEV serving "Region Exempel" and AP0002-DEV serving "Exempel kommun", and the local federation
//! simulator (address book, signed SMP, SML zone) that lists both. Each access point trusts the other's development
//! CA but has no static `[[peers]]` entry: it finds the recipient through SML → SMP like in production.
//!
//! Then everything goes through the local APIs with the operator tokens `init` wrote, as a message system would:
//! Region Exempel / Socialtjänst submits a business document and one attachment in the SDK format of
//! `POST /api/v1/messages` (its access point builds the SDK message v3 and the XHE envelope); the message appears in
//! the inbox of Exempel kommun / Äldreomsorg (`GET /api/v1/inbox`), is fetched (document and attachments
//! downloaded, marked `fetched`) and answered with a kvittens ACCEPTED (`POST /api/v1/inbox/{id}/kvittens`; the
//! recipient does not auto-accept, so this step is explicit); finally the sender's status view of the message
//! (`GET /api/v1/messages/{id}`) shows the AS4 receipt and the kvittens in its history. Each step prints a numbered
//! milestone; a failure names its step. The federation then keeps running (Ctrl-C stops it) and the demo prints
//! where to point curl and a browser; `--exit-after SECONDS` stops it on its own (used by the test).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::client::{InboxFilter, SubmitOptions, UploadPayload};
use crate::api::inbox::{InboxItemView, KvittensBody};
use crate::api::server::percent_encode;
use crate::api::status::MessageView;
use crate::api::submit::{SdkAddress, SdkSubmitRequest, SubmitFormat};
use crate::api::tokens::ApiToken;
use crate::api::{ApiClient, ApiServer};
use crate::cli::init::{init, InitArgs, TRUST_ANCHORS_DIR, TRUST_CRLS_DIR};
use crate::config::Config;
use crate::msh::{Node, NodeOptions};
use crate::store::State;

/// How long the demo waits at most for each step that depends on the other access point (delivery, inbox,
/// receipt, kvittens).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the demo asks the APIs while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The number of numbered milestones the demo prints.
pub const MILESTONES: u8 = 9;
/// The subject (`messageHeader/label`) of the demo message.
pub const SUBJECT: &str = "Samordnad individuell plan";
/// The folder under the demo folder where the recipient's fetched files are written.
pub const FETCHED_DIR: &str = "inkorg";

/// Start a two-organisation SDK federation in this process and send one SDK message with an attachment through it,
/// from submission to the kvittens back at the sender.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the federation's files (configurations, keys, stores) in this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Stop this many seconds after the kvittens came back, instead of waiting for Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    pub exit_after: Option<u64>,
}

/// One organisation of the demo.
struct Organisation {
    name: &'static str,
    participant: &'static str,
    organisation_number: &'static str,
    functional_address: &'static str,
    functional_address_name: &'static str,
    party: &'static str,
    folder: &'static str,
}

const SENDER: Organisation = Organisation {
    name: "Region Exempel",
    participant: "0007:2321000099",
    organisation_number: "2321000099",
    functional_address: "SE2321000099-1",
    functional_address_name: "Socialtjänst",
    party: "AP0001-DEV",
    folder: "region-exempel",
};

const RECIPIENT: Organisation = Organisation {
    name: "Exempel kommun",
    participant: "0007:2120000142",
    organisation_number: "2120000142",
    functional_address: "SE2120000142-2",
    functional_address_name: "Äldreomsorg",
    party: "AP0002-DEV",
    folder: "exempel-kommun",
};

/// What went wrong; the demo prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Step `number` of [`MILESTONES`] failed while doing `what`.
    #[error("step {number}/{MILESTONES} ({what}): {detail}")]
    Step {
        number: u8,
        what: &'static str,
        detail: String,
    },
}

fn step(number: u8, what: &'static str) -> impl Fn(String) -> DemoError {
    move |detail| DemoError::Step { number, what, detail }
}

fn milestone(number: u8, text: std::fmt::Arguments<'_>) {
    println!("[{number}/{MILESTONES}] {text}");
}

pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdk-ap demo failed at {e}");
            ExitCode::FAILURE
        }
    }
}

fn free_port() -> Result<u16, DemoError> {
    let fail = step(1, "finding a free port");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| fail(e.to_string()))
}

/// The SMP document ids of the SDK message and the kvittens (the built-in P-Mode actions without their scheme).
fn sdk_documents() -> Vec<String> {
    [pmode::builtin::SDK_MESSAGE_ACTION, pmode::builtin::SDK_KVITTENS_ACTION]
        .iter()
        .map(|a| a.strip_prefix("busdox-docid-qns::").unwrap_or(a).to_string())
        .collect()
}

/// The simulator's federation file: both access points and both organisations with their functional addresses.
fn federation_toml(configs: &[(&Organisation, &Config)]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let documents = toml::Value::Array(sdk_documents().into_iter().map(toml::Value::String).collect()).to_string();
    let mut text = String::from("sml_zone = \"sml.demo.sdk.test\"\n");
    for (org, config) in configs {
        text.push_str(&format!(
            "\n[[access_points]]\nname = {}\nendpoint_url = {}\ncertificate = {}\n",
            quote(org.party),
            quote(&config.server.endpoint_url()),
            quote(&config.keys.message.cert.display().to_string()),
        ));
    }
    for (org, _) in configs {
        text.push_str(&format!(
            "\n[[organisations]]\nid = {}\nname = {}\norganisation_number = {}\nparticipant_id = {}\n\
             access_point = {}\ndocuments = {documents}\n\n[[organisations.functional_addresses]]\nid = {}\n\
             name = {}\n",
            quote(org.folder),
            quote(org.name),
            quote(org.organisation_number),
            quote(org.participant),
            quote(org.party),
            quote(org.functional_address),
            quote(org.functional_address_name),
        ));
    }
    text
}

/// Copies `other`'s development CA and its CRL into `dir`'s trust folders (what `sdk-ap peers add` does for trust),
/// without a `[[peers]]` entry: the endpoint and message certificate come from the SMP.
fn trust_each_other(dir: &Path, other: &Path, other_party: &str) -> Result<(), DemoError> {
    let copy = |from: PathBuf, to: PathBuf| {
        std::fs::copy(&from, &to)
            .map(|_| ())
            .map_err(|e| step(1, "exchanging development CAs")(format!("{} → {}: {e}", from.display(), to.display())))
    };
    copy(
        other.join("keys/ca.pem"),
        dir.join(TRUST_ANCHORS_DIR).join(format!("{other_party}-ca.pem")),
    )?;
    copy(
        other.join("keys/ca.crl.pem"),
        dir.join(TRUST_CRLS_DIR).join(format!("{other_party}-ca.crl.pem")),
    )
}

/// Points an `init` configuration at the organisation it serves and at the simulator, and says explicitly that
/// received messages are not accepted automatically: the demo sends the kvittens through the API.
fn configure(file: &Path, org: &Organisation, smp_ca: &Path, sml_zone: &str, dns: SocketAddr) -> Result<(), DemoError> {
    let fail = step(2, "writing the demo configuration");
    let text = std::fs::read_to_string(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    let default_served = format!(
        "served_participants = [\"0203:{}.example\"]",
        org.party.to_ascii_lowercase()
    );
    if !text.contains(&default_served) {
        return Err(fail(format!(
            "{}: no `{default_served}` line to replace",
            file.display()
        )));
    }
    if text.contains("\n[sdk]") || text.contains("\n[discovery]") {
        return Err(fail(format!(
            "{}: already has an [sdk] or [discovery] section",
            file.display()
        )));
    }
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let text = text
        .replace(
            &default_served,
            &format!("served_participants = [{}]  # {}", quote(org.participant), org.name),
        )
        .replacen(
            "[trust]\n",
            &format!(
                "[trust]\n# The simulator's SMP signing CA (sdk-ap demo).\nsmp_anchors = [{}]\n",
                quote(&smp_ca.display().to_string())
            ),
            1,
        );
    let text = format!(
        "{text}\n# The local federation simulator started by `sdk-ap demo`.\n[discovery]\nsml_zone = {}\n\
         dns_servers = [{}]\n\n# `sdk-ap demo` answers with a kvittens through the API \
         (POST /api/v1/inbox/{{id}}/kvittens).\n[sdk]\nauto_accept = false\n",
        quote(sml_zone),
        quote(&dns.to_string())
    );
    std::fs::write(file, text).map_err(|e| fail(format!("{}: {e}", file.display())))
}

/// The business document and its attachment, written to `dir`.
fn write_payloads(dir: &Path) -> Result<Vec<UploadPayload>, DemoError> {
    let fail = step(4, "writing the message's files");
    let document = dir.join("meddelande.xml");
    let attachment = dir.join("genomforandeplan.txt");
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Meddelande xmlns=\"urn:sdk-ap:demo\">\n  \
         <Avsandare organisation=\"{}\" funktionsadress=\"{}\">{} / {}</Avsandare>\n  \
         <Mottagare organisation=\"{}\" funktionsadress=\"{}\">{} / {}</Mottagare>\n  \
         <Rubrik>{SUBJECT}</Rubrik>\n  \
         <Text>Hej! Här kommer genomförandeplanen inför mötet på torsdag.</Text>\n</Meddelande>\n",
        SENDER.participant,
        SENDER.functional_address,
        SENDER.name,
        SENDER.functional_address_name,
        RECIPIENT.participant,
        RECIPIENT.functional_address,
        RECIPIENT.name,
        RECIPIENT.functional_address_name,
    );
    std::fs::write(&document, xml).map_err(|e| fail(e.to_string()))?;
    std::fs::write(
        &attachment,
        "Genomförandeplan (exempel)\n\n1. Hemtjänst tre gånger dagligen.\n2. Uppföljning om fyra veckor.\n",
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(vec![
        UploadPayload {
            path: document,
            mime_type: "application/xml".into(),
        },
        UploadPayload {
            path: attachment,
            mime_type: "text/plain".into(),
        },
    ])
}

/// The SDK submission of the demo message (`format` `sdk`: the access point builds the SDK message v3 and the
/// XHE envelope from these fields and the files).
fn sdk_request() -> SdkSubmitRequest {
    let address = |org: &Organisation| SdkAddress {
        participant: org.participant.into(),
        functional_address: org.functional_address.into(),
        functional_address_label: Some(org.functional_address_name.into()),
        label: Some(org.name.into()),
    };
    SdkSubmitRequest {
        format: SubmitFormat::Sdk,
        sender: Some(address(&SENDER)),
        recipient: Some(address(&RECIPIENT)),
        subject: Some(SUBJECT.into()),
        texts: vec!["Se bifogad genomförandeplan.".into()],
        // No `to`: the receiving access point is found from the recipient through SML and SMP.
        ..SdkSubmitRequest::default()
    }
}

/// A running access point of the demo with its local API and a client holding its operator token.
struct DemoAp {
    node: Arc<Node>,
    api: ApiServer,
    client: ApiClient,
    token_file: PathBuf,
}

impl DemoAp {
    async fn start(config_file: &Path) -> Result<DemoAp, DemoError> {
        let fail = |what| step(3, what);
        let config = Config::load(config_file).map_err(|e| fail("loading a configuration")(e.to_string()))?;
        // The operator token `init` wrote, read from the configured file: `SDK_AP_TOKEN`, which
        // `ApiClient::for_config` would prefer, may hold a token of some other access point.
        let token_file = config.api.client_token_file.clone().ok_or_else(|| {
            fail("reading the operator token")(format!("{}: no [api] client_token_file", config_file.display()))
        })?;
        let token = ApiToken::read_file(&token_file).map_err(|e| fail("reading the operator token")(e.to_string()))?;
        let node = Node::start(config, NodeOptions::default())
            .await
            .map_err(|e| fail("starting an access point")(e.to_string()))?;
        let node = Arc::new(node);
        let api = ApiServer::start(node.clone())
            .await
            .map_err(|e| fail("starting a local API")(e.to_string()))?;
        let client = ApiClient::new(api.local_addr()).with_token(token);
        Ok(DemoAp {
            node,
            api,
            client,
            token_file,
        })
    }

    fn api_url(&self) -> String {
        format!("http://{}/api/v1", self.api.local_addr())
    }

    async fn stop(self) {
        self.api.shutdown().await;
        let mut node = self.node;
        for _ in 0..100 {
            match Arc::try_unwrap(node) {
                Ok(n) => {
                    n.shutdown().await;
                    return;
                }
                Err(shared) => {
                    node = shared;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

async fn demo(args: DemoArgs) -> Result<(), DemoError> {
    let tmp;
    let root = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("sdk-ap-demo-")
                .tempdir()
                .map_err(|e| step(1, "creating a temporary folder")(e.to_string()))?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&root)
        .map_err(|e| step(1, "creating the demo folder")(format!("{}: {e}", root.display())))?;

    // 1. Two access points with their own development PKIs.
    let mut files = Vec::new();
    for org in [&SENDER, &RECIPIENT] {
        let outcome = init(&InitArgs {
            dir: root.join(org.folder),
            party: org.party.into(),
            port: free_port()?,
            api_port: Some(free_port()?),
            force: false,
        })
        .map_err(|e| step(1, "creating an access point")(e.to_string()))?;
        files.push(outcome.config_file);
    }
    let (a_dir, b_dir) = (root.join(SENDER.folder), root.join(RECIPIENT.folder));
    trust_each_other(&a_dir, &b_dir, RECIPIENT.party)?;
    trust_each_other(&b_dir, &a_dir, SENDER.party)?;
    milestone(
        1,
        format_args!(
            "Created two access points with development PKIs under {}",
            root.display()
        ),
    );
    for org in [&SENDER, &RECIPIENT] {
        println!(
            "      {} serves {} ({}), functional address {} {}",
            org.party, org.name, org.participant, org.functional_address, org.functional_address_name
        );
    }

    // 2. The federation: address book, SMP and SML listing both.
    let loaded = |file: &Path| Config::load(file).map_err(|e| step(2, "loading a configuration")(e.to_string()));
    let (a_config, b_config) = (loaded(&files[0])?, loaded(&files[1])?);
    let federation_file = root.join("federation.toml");
    let federation = federation_toml(&[(&SENDER, &a_config), (&RECIPIENT, &b_config)]);
    let fail = step(2, "starting the federation simulator");
    std::fs::write(&federation_file, &federation).map_err(|e| fail(e.to_string()))?;
    let sim_config =
        federation_sim::config::FederationConfig::from_toml(&federation, &root).map_err(|e| fail(e.to_string()))?;
    let sim = federation_sim::FederationSim::start(sim_config)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let smp_ca = root.join("smp-ca.pem");
    std::fs::write(&smp_ca, sim.smp_ca_pem()).map_err(|e| fail(e.to_string()))?;
    for (file, org) in files.iter().zip([&SENDER, &RECIPIENT]) {
        configure(file, org, &smp_ca, sim.sml_zone(), sim.dns_addr())?;
    }
    milestone(
        2,
        format_args!("Federation simulator running ({})", federation_file.display()),
    );
    println!("      address book {}", sim.address_book_url());
    println!("      SMP          {}", sim.smp_url());
    println!("      SML zone     {} (DNS on {})", sim.sml_zone(), sim.dns_addr());

    // 3. Both access points serving.
    let b = DemoAp::start(&files[1]).await?;
    let a = DemoAp::start(&files[0]).await?;
    milestone(
        3,
        format_args!("Access points running (mutual TLS between them, local APIs on loopback with bearer tokens)"),
    );
    for (org, ap) in [(&SENDER, &a), (&RECIPIENT, &b)] {
        println!(
            "      {} ({}): AS4 {}, API {}",
            org.party,
            org.name,
            ap.node.config().server.endpoint_url(),
            ap.api_url()
        );
    }

    let outcome = exchange(&root, &a, &b).await;
    if let Ok(message_id) = &outcome {
        print_look_further(message_id, &a, &b, &sim, &files);
        match args.exit_after {
            Some(seconds) => {
                println!("Stopping in {seconds} s (--exit-after).");
                tokio::time::sleep(Duration::from_secs(seconds)).await;
            }
            None => {
                println!("Press Ctrl-C to stop.");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    a.stop().await;
    b.stop().await;
    drop(sim);
    outcome.map(|_| println!("Demo finished: the federation is stopped."))
}

/// Where to look further: curl with each API's operator token, the browser on the simulator.
fn print_look_further(
    message_id: &str,
    a: &DemoAp,
    b: &DemoAp,
    sim: &federation_sim::FederationSim,
    files: &[PathBuf],
) {
    let id = percent_encode(message_id);
    let (a_api, b_api) = (a.api_url(), b.api_url());
    println!();
    println!("Look further (the federation keeps running):");
    println!("  Each local API wants its operator token (written by init, mode 0600):");
    println!("    A_TOKEN=$(cat {})", a.token_file.display());
    println!("    B_TOKEN=$(cat {})", b.token_file.display());
    println!(
        "  curl -s -H \"Authorization: Bearer $A_TOKEN\" {a_api}/messages/{id}   # sender: state, history, receipt"
    );
    println!("  curl -s -H \"Authorization: Bearer $B_TOKEN\" {b_api}/inbox   # recipient's inbox");
    println!("  curl -s -OJ -H \"Authorization: Bearer $B_TOKEN\" {b_api}/inbox/{id}/attachments/1   # the attachment");
    println!("  curl -s -H \"Authorization: Bearer $A_TOKEN\" {a_api}/status   # counts by direction and state");
    println!("  curl -s -H \"Authorization: Bearer $A_TOKEN\" {a_api}/openapi.json   # the API's OpenAPI document");
    println!("  In a browser (no token needed), the simulator's address book and SMP:");
    println!("    {}/organizations", sim.address_book_url());
    println!("    {}/iso6523-actorid-upis::{}", sim.smp_url(), RECIPIENT.participant);
    println!("  From the command line: sdk-ap status --config {}", files[0].display());
}

/// The message's files as `name (N bytes)`.
fn describe_files(payloads: &[UploadPayload]) -> String {
    payloads
        .iter()
        .map(|p| {
            let name = p
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let size = std::fs::metadata(&p.path).map(|m| m.len()).unwrap_or(0);
            format!("{name} ({size} bytes)")
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Steps 4 to 9: submit at Region Exempel, inbox, fetch and kvittens at Exempel kommun, receipt and kvittens back
/// at Region Exempel. Returns the message's AS4 MessageId.
async fn exchange(root: &Path, a: &DemoAp, b: &DemoAp) -> Result<String, DemoError> {
    // 4. The SDK submission.
    let outbox = root.join("utkorg");
    std::fs::create_dir_all(&outbox).map_err(|e| step(4, "creating the outbox folder")(e.to_string()))?;
    let payloads = write_payloads(&outbox)?;
    let metadata = serde_json::to_value(sdk_request()).map_err(|e| step(4, "the submission")(e.to_string()))?;
    let started = Instant::now();
    let accepted = a
        .client
        .submit_with(&metadata, &payloads, &SubmitOptions::default())
        .await
        .map_err(|e| step(4, "submitting through Region Exempel's local API")(e.to_string()))?
        .response;
    let id = accepted.message_id;
    milestone(
        4,
        format_args!(
            "Sent {id} (POST /api/v1/messages on {}, format sdk, P-Mode {})",
            SENDER.party, accepted.pmode_id
        ),
    );
    println!(
        "      from {} / {} to {} / {}",
        SENDER.name, SENDER.functional_address_name, RECIPIENT.name, RECIPIENT.functional_address_name
    );
    println!(
        "      {} built an SDK message v3 in an XHE envelope from {}",
        SENDER.party,
        describe_files(&payloads)
    );

    // 5. In the recipient's inbox.
    let item = wait_for_inbox(a, b, &id).await?;
    let files: Vec<String> = item
        .attachments
        .iter()
        .map(|f| format!("{} ({}, {} bytes)", f.file_name, f.content_type, f.size))
        .collect();
    milestone(
        5,
        format_args!(
            "In {}'s inbox after {:.1} s (GET /api/v1/inbox on {}): state {}",
            RECIPIENT.name,
            started.elapsed().as_secs_f64(),
            RECIPIENT.party,
            item.state
        ),
    );
    println!(
        "      subject \"{}\", from {} / {} to {} / {}",
        item.subject.as_deref().unwrap_or(""),
        item.sender,
        item.sender_functional_address.as_deref().unwrap_or("-"),
        item.recipient,
        item.functional_address.as_deref().unwrap_or("-")
    );
    println!("      files: {}", files.join(", "));

    // 6. Fetched: every file and the whole envelope downloaded, the entry marked fetched.
    let fetched = fetch(b, &item, &root.join(FETCHED_DIR), &payloads).await?;
    milestone(
        6,
        format_args!(
            "Fetched through {}'s API into {} (state now {})",
            RECIPIENT.party,
            root.join(FETCHED_DIR).display(),
            fetched.state
        ),
    );
    println!("      {}", fetched.summary);

    // 7. The kvittens ACCEPTED, sent by the recipient's message system through the API.
    let answer = b
        .client
        .inbox_kvittens(
            &id,
            &KvittensBody {
                response: "ACCEPTED".into(),
                reason_code: None,
                description: None,
            },
        )
        .await
        .map_err(|e| step(7, "sending the kvittens through Exempel kommun's local API")(e.to_string()))?;
    milestone(
        7,
        format_args!(
            "Kvittens ACCEPTED sent by {} / {} (POST /api/v1/inbox/{{id}}/kvittens on {})",
            RECIPIENT.name, RECIPIENT.functional_address_name, RECIPIENT.party
        ),
    );
    println!(
        "      kvittens {}, AS4 message {} back to {} (explicit: [sdk] auto_accept = false)",
        answer.kvittens_id, answer.message_id, SENDER.party
    );

    // 8. The AS4 receipt at the sender.
    let view = wait_at_sender(a, &id, 8, "waiting for the AS4 receipt at the sender", |v| {
        v.state == State::Delivered && v.receipt.is_some()
    })
    .await?;
    let receipt = view
        .receipt
        .as_ref()
        .ok_or_else(|| step(8, "the AS4 receipt")(format!("{id} has no stored receipt")))?;
    milestone(
        8,
        format_args!(
            "AS4 receipt at {} (GET /api/v1/messages/{{id}}): state {:?} after {} attempt(s)",
            SENDER.party, view.state, view.attempts
        ),
    );
    println!(
        "      signed by {}, verified against the certificate its SMP published; {} bytes kept as evidence \
         (sha256 {}…), received {}",
        RECIPIENT.party,
        receipt.bytes,
        &receipt.sha256[..16.min(receipt.sha256.len())],
        receipt.at
    );

    // 9. The kvittens in the sender's status view.
    let view = wait_at_sender(a, &id, 9, "waiting for the kvittens at the sender", |v| {
        v.history.iter().any(|h| h.reason.starts_with("kvittens ACCEPTED"))
    })
    .await?;
    milestone(
        9,
        format_args!(
            "Kvittens ACCEPTED in the sender's message history after {:.1} s (GET /api/v1/messages/{{id}} on {})",
            started.elapsed().as_secs_f64(),
            SENDER.party
        ),
    );
    for h in &view.history {
        let from = h.from.map(|s| format!("{s:?}")).unwrap_or_else(|| "-".into());
        println!("      {}  {from} → {:?}  {}  {}", h.at, h.to, h.actor, h.reason);
    }
    Ok(id)
}

/// Polls the recipient's inbox until the message is listed under the recipient's functional address; fails at
/// once when the sender gave up or the recipient's classifier dropped or rejected the message.
async fn wait_for_inbox(a: &DemoAp, b: &DemoAp, id: &str) -> Result<InboxItemView, DemoError> {
    let fail = step(5, "waiting for the message in the recipient's inbox");
    let filter = InboxFilter {
        participant: Some(RECIPIENT.participant.into()),
        functional_address: Some(RECIPIENT.functional_address.into()),
        ..InboxFilter::default()
    };
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let page = b.client.inbox_list(&filter).await.map_err(|e| fail(e.to_string()))?;
        if let Some(item) = page.items.into_iter().find(|i| i.message_id == id) {
            return Ok(item);
        }
        let sent = a.client.message(id).await.map_err(|e| fail(e.to_string()))?;
        if let Some(view) = &sent {
            if view.state == State::Failed {
                return Err(fail(format!(
                    "{id} failed at the sender: {}",
                    view.last_error.as_deref().unwrap_or("no reason recorded")
                )));
            }
        }
        if let Some(received) = b.client.message(id).await.map_err(|e| fail(e.to_string()))? {
            if let Some(h) = received
                .history
                .iter()
                .find(|h| h.reason.starts_with("dropped") || h.reason.contains("REJECTED"))
            {
                return Err(fail(format!(
                    "the recipient's access point did not file it: {}",
                    h.reason
                )));
            }
        }
        if Instant::now() >= deadline {
            let state = sent.map(|v| format!("{:?}, last error {:?}", v.state, v.last_error));
            return Err(fail(format!(
                "not in the inbox within {STEP_TIMEOUT:?} (at the sender: {})",
                state.unwrap_or_else(|| "unknown".into())
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What step 6 fetched.
struct Fetched {
    state: String,
    summary: String,
}

/// Downloads every file of the inbox entry (and the whole XHE envelope) into `dir`, checks each file against what
/// was sent, and marks the entry fetched.
async fn fetch(b: &DemoAp, item: &InboxItemView, dir: &Path, sent: &[UploadPayload]) -> Result<Fetched, DemoError> {
    let fail = step(6, "fetching the message through the recipient's API");
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    if item.attachments.len() != sent.len() {
        return Err(fail(format!(
            "the inbox lists {} file(s), {} were sent",
            item.attachments.len(),
            sent.len()
        )));
    }
    let mut parts = Vec::new();
    for (file, original) in item.attachments.iter().zip(sent) {
        // Only the last path component of a name chosen by the sender is used.
        let name = Path::new(&file.file_name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("file-{}", file.index));
        let path = dir.join(&name);
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let done = b
            .client
            .inbox_download(&item.message_id, Some(file.index), &mut out)
            .await
            .map_err(|e| fail(format!("{name}: {e}")))?;
        let (got, want) = (std::fs::read(&path), std::fs::read(&original.path));
        match (got, want) {
            (Ok(got), Ok(want)) if got == want => {}
            (Ok(_), Ok(_)) => return Err(fail(format!("{name} differs from the file sent"))),
            (got, want) => return Err(fail(format!("{name}: {:?}", got.err().or(want.err())))),
        }
        parts.push(format!("{name} {} bytes", done.bytes));
    }
    let envelope = dir.join("xhe-envelope.xml");
    let mut out = tokio::fs::File::create(&envelope)
        .await
        .map_err(|e| fail(format!("{}: {e}", envelope.display())))?;
    let done = b
        .client
        .inbox_download(&item.message_id, None, &mut out)
        .await
        .map_err(|e| fail(format!("the XHE envelope: {e}")))?;
    b.client
        .inbox_ack(&item.message_id, "fetched")
        .await
        .map_err(|e| fail(format!("marking it fetched: {e}")))?;
    let shown = b
        .client
        .inbox_show(&item.message_id)
        .await
        .map_err(|e| fail(format!("reading it back: {e}")))?;
    Ok(Fetched {
        state: shown.state,
        summary: format!(
            "{} (identical to what was sent), the XHE envelope {} bytes",
            parts.join(", "),
            done.bytes
        ),
    })
}

/// Polls the sender's status view of `id` until `done` holds; fails at once when the message failed or a
/// kvittens REJECTED came back.
async fn wait_at_sender(
    a: &DemoAp,
    id: &str,
    number: u8,
    what: &'static str,
    done: impl Fn(&MessageView) -> bool,
) -> Result<MessageView, DemoError> {
    let fail = step(number, what);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let view = a
            .client
            .message(id)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("{id} is not in the sender's store")))?;
        if done(&view) {
            return Ok(view);
        }
        if view.state == State::Failed {
            return Err(fail(format!(
                "{id} failed: {}",
                view.last_error.as_deref().unwrap_or("no reason recorded")
            )));
        }
        if let Some(h) = view.history.iter().find(|h| h.reason.starts_with("kvittens REJECTED")) {
            return Err(fail(h.reason.clone()));
        }
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "not within {STEP_TIMEOUT:?} (state {:?}, last error {:?})",
                view.state, view.last_error
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_submission_is_an_sdk_document_between_the_two_functional_addresses() {
        let json = serde_json::to_value(sdk_request()).unwrap();
        assert_eq!(json["format"], "sdk");
        assert_eq!(json["sender"]["participant"], SENDER.participant);
        assert_eq!(json["sender"]["functional_address"], SENDER.functional_address);
        assert_eq!(json["recipient"]["participant"], RECIPIENT.participant);
        assert_eq!(json["recipient"]["functional_address"], RECIPIENT.functional_address);
        assert!(
            json.get("to").is_none(),
            "the recipient's access point comes from discovery"
        );
    }

    #[test]
    fn errors_name_their_step() {
        let e = step(5, "waiting for the message in the recipient's inbox")("gone".into());
        assert_eq!(
            e.to_string(),
            "step 5/9 (waiting for the message in the recipient's inbox): gone"
        );
    }
}
