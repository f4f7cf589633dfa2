//! `sdk-ap demo`: a two-organisation SDK federation in one process, for a first look.
//!
//! Under a temporary folder (or `--dir`): two development access points with their own PKIs, made as `sdk-ap init`
//! makes them, AP0001-DEV serving "Region Exempel" and AP0002-DEV serving "Exempel kommun", and the local federation
//! simulator (address book, signed SMP, SML zone) that lists both. Each access point trusts the other's development
//! CA but has no static `[[peers]]` entry: it finds the recipient through SML → SMP like in production. Then one
//! message goes from Region Exempel / Socialtjänst to Exempel kommun / Äldreomsorg through Region Exempel's local
//! API, and the demo shows each step: the message accepted, the recipient found, the message in the recipient's
//! access point, the AS4 receipt back at the sender. It then keeps running (Ctrl-C stops it) and prints the curl
//! commands that look further; `--exit-after SECONDS` stops it on its own (used by the test).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::client::UploadPayload;
use crate::api::submit::SubmitRequest;
use crate::api::{ApiClient, ApiServer};
use crate::cli::init::{init, InitArgs, TRUST_ANCHORS_DIR, TRUST_CRLS_DIR};
use crate::config::Config;
use crate::msh::{Node, NodeOptions};
use crate::store::State;

/// How long the demo waits for the message to be delivered.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Start a two-organisation SDK federation in this process and send one message with an attachment through it.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the federation's files (configurations, keys, stores) in this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Stop this many seconds after the message went through, instead of waiting for Ctrl-C.
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
    #[error("{step}: {detail}")]
    Step { step: &'static str, detail: String },
}

fn step(step: &'static str) -> impl Fn(String) -> DemoError {
    move |detail| DemoError::Step { step, detail }
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
            eprintln!("sdk-ap demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn free_port() -> Result<u16, DemoError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| step("a free port")(e.to_string()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| step("a free port")(e.to_string()))
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
            .map_err(|e| step("exchanging development CAs")(format!("{} → {}: {e}", from.display(), to.display())))
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

/// Points an `init` configuration at the organisation it serves and at the simulator.
fn configure(file: &Path, org: &Organisation, smp_ca: &Path, sml_zone: &str, dns: SocketAddr) -> Result<(), DemoError> {
    let fail = step("writing the demo configuration");
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
         dns_servers = [{}]\n",
        quote(sml_zone),
        quote(&dns.to_string())
    );
    std::fs::write(file, text).map_err(|e| fail(format!("{}: {e}", file.display())))
}

/// The business document and its attachment, written to `dir`.
fn write_payloads(dir: &Path) -> Result<Vec<UploadPayload>, DemoError> {
    let fail = step("writing the message's files");
    let document = dir.join("meddelande.xml");
    let attachment = dir.join("genomforandeplan.txt");
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Meddelande xmlns=\"urn:sdk-ap:demo\">\n  \
         <Avsandare organisation=\"{}\" funktionsadress=\"{}\">{} / {}</Avsandare>\n  \
         <Mottagare organisation=\"{}\" funktionsadress=\"{}\">{} / {}</Mottagare>\n  \
         <Rubrik>Samordnad individuell plan</Rubrik>\n  \
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

/// A running access point of the demo with its local API.
struct DemoAp {
    node: Arc<Node>,
    api: ApiServer,
}

impl DemoAp {
    async fn start(config_file: &Path) -> Result<DemoAp, DemoError> {
        let config = Config::load(config_file).map_err(|e| step("loading a configuration")(e.to_string()))?;
        let node = Node::start(config, NodeOptions::default())
            .await
            .map_err(|e| step("starting an access point")(e.to_string()))?;
        let node = Arc::new(node);
        let api = ApiServer::start(node.clone())
            .await
            .map_err(|e| step("starting a local API")(e.to_string()))?;
        Ok(DemoAp { node, api })
    }

    fn client(&self) -> ApiClient {
        ApiClient::new(self.api.local_addr())
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
                .map_err(|e| step("a temporary folder")(e.to_string()))?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&root).map_err(|e| step("the demo folder")(format!("{}: {e}", root.display())))?;

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
        .map_err(|e| step("creating an access point")(e.to_string()))?;
        files.push(outcome.config_file);
    }
    let (a_dir, b_dir) = (root.join(SENDER.folder), root.join(RECIPIENT.folder));
    trust_each_other(&a_dir, &b_dir, RECIPIENT.party)?;
    trust_each_other(&b_dir, &a_dir, SENDER.party)?;
    println!(
        "[1/5] Created two access points with development PKIs under {}",
        root.display()
    );
    for org in [&SENDER, &RECIPIENT] {
        println!(
            "      {} serves {} ({}), functional address {} {}",
            org.party, org.name, org.participant, org.functional_address, org.functional_address_name
        );
    }

    // 2. The federation: address book, SMP and SML listing both.
    let loaded = |file: &Path| Config::load(file).map_err(|e| step("loading a configuration")(e.to_string()));
    let (a_config, b_config) = (loaded(&files[0])?, loaded(&files[1])?);
    let federation_file = root.join("federation.toml");
    let federation = federation_toml(&[(&SENDER, &a_config), (&RECIPIENT, &b_config)]);
    std::fs::write(&federation_file, &federation).map_err(|e| step("the federation file")(e.to_string()))?;
    let sim_config = federation_sim::config::FederationConfig::from_toml(&federation, &root)
        .map_err(|e| step("the federation file")(e.to_string()))?;
    let sim = federation_sim::FederationSim::start(sim_config)
        .await
        .map_err(|e| step("starting the federation simulator")(e.to_string()))?;
    let smp_ca = root.join("smp-ca.pem");
    std::fs::write(&smp_ca, sim.smp_ca_pem()).map_err(|e| step("the SMP CA")(e.to_string()))?;
    for (file, org) in files.iter().zip([&SENDER, &RECIPIENT]) {
        configure(file, org, &smp_ca, sim.sml_zone(), sim.dns_addr())?;
    }
    println!("[2/5] Federation simulator running ({})", federation_file.display());
    println!("      address book {}", sim.address_book_url());
    println!("      SMP          {}", sim.smp_url());
    println!("      SML zone     {} (DNS on {})", sim.sml_zone(), sim.dns_addr());

    // 3. Both access points serving.
    let b = DemoAp::start(&files[1]).await?;
    let a = DemoAp::start(&files[0]).await?;
    println!("[3/5] Access points running (mutual TLS between them, local APIs on loopback)");
    for (org, ap) in [(&SENDER, &a), (&RECIPIENT, &b)] {
        println!(
            "      {} ({}): AS4 {}, API http://{}/api/v1",
            org.party,
            org.name,
            ap.node.config().server.endpoint_url(),
            ap.api.local_addr()
        );
    }

    let outcome = send_and_follow(&root, &a, &b).await;
    match &outcome {
        Ok(message_id) => {
            println!();
            println!("Look further (the federation keeps running):");
            let (a_api, b_api) = (a.api.local_addr(), b.api.local_addr());
            println!("  curl -s http://{a_api}/api/v1/messages/{message_id}   # sender side: state, history, receipt");
            println!("  curl -s http://{b_api}/api/v1/messages/{message_id}   # recipient side: stored payloads");
            println!("  curl -s http://{b_api}/api/v1/status                  # counts by direction and state");
            println!(
                "  curl -s '{}/organisations'                            # the address book",
                sim.address_book_url()
            );
            println!(
                "  sdk-ap status --config {}   # the same from the command line",
                files[1].display()
            );
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
        Err(_) => {}
    }
    a.stop().await;
    b.stop().await;
    drop(sim);
    outcome.map(|_| println!("Demo finished: the federation is stopped."))
}

/// Sends the message from Region Exempel and follows it to the receipt; returns its MessageId.
async fn send_and_follow(root: &Path, a: &DemoAp, b: &DemoAp) -> Result<String, DemoError> {
    let scratch = root.join("outbox");
    std::fs::create_dir_all(&scratch).map_err(|e| step("the outbox folder")(e.to_string()))?;
    let payloads = write_payloads(&scratch)?;
    let request = SubmitRequest {
        // No `to`: the receiving access point is found from the final recipient through SML and SMP.
        pmode: Some("sdk-message".into()),
        original_sender: SENDER.participant.into(),
        final_recipient: RECIPIENT.participant.into(),
        conversation_id: Some(format!("demo-{}", uuid::Uuid::new_v4())),
        ..SubmitRequest::default()
    };
    let started = Instant::now();
    let accepted = a
        .client()
        .submit(&request, &payloads)
        .await
        .map_err(|e| step("submitting through Region Exempel's local API")(e.to_string()))?;
    let id = accepted.message_id;
    let sizes: Vec<String> = payloads
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
        .collect();
    println!(
        "[4/5] Sent {id}\n      from {} / {} to {} / {}: {}",
        SENDER.name,
        SENDER.functional_address_name,
        RECIPIENT.name,
        RECIPIENT.functional_address_name,
        sizes.join(" + ")
    );

    // Follow both sides until the sender holds the receipt.
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    let mut shown_arrival = false;
    loop {
        if !shown_arrival {
            if let Ok(Some(view)) = b.client().message(&id).await {
                let parts: Vec<String> = view
                    .payloads
                    .iter()
                    .map(|p| format!("{} {} bytes", p.mime_type, p.size))
                    .collect();
                println!(
                    "      arrived at {} ({}): state {:?}, {} payload(s): {}",
                    RECIPIENT.party,
                    RECIPIENT.name,
                    view.state,
                    view.payloads.len(),
                    parts.join(", ")
                );
                shown_arrival = true;
            }
        }
        let view = a
            .client()
            .message(&id)
            .await
            .map_err(|e| step("reading the message's state")(e.to_string()))?
            .ok_or_else(|| step("reading the message's state")(format!("{id} is not in the sender's store")))?;
        match view.state {
            State::Delivered => {
                let receipt = view
                    .receipt
                    .as_ref()
                    .ok_or_else(|| step("the AS4 receipt")(format!("{id} is Delivered but has no stored receipt")))?;
                if !shown_arrival {
                    continue;
                }
                println!(
                    "[5/5] AS4 receipt back at {} after {:.1} s: signed by {}, verified against the certificate the \
                     SMP published; {} bytes kept as evidence (sha256 {}…), attempt(s): {}",
                    SENDER.party,
                    started.elapsed().as_secs_f64(),
                    RECIPIENT.party,
                    receipt.bytes,
                    &receipt.sha256[..16.min(receipt.sha256.len())],
                    view.attempts
                );
                return Ok(id);
            }
            State::Failed => {
                return Err(step("delivery")(format!(
                    "{id} failed: {}",
                    view.last_error.unwrap_or_default()
                )))
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(step("delivery")(format!(
                "{id} not delivered within {DELIVERY_TIMEOUT:?} (state {:?}, last error {:?})",
                view.state, view.last_error
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
