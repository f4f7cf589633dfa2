//! The local federation a run uses: two of our access points (A sends, B receives) with their own dev PKIs under a
//! temporary directory, linked as peers the way `sdk-ap init` + `sdk-ap peers add` link them, with short P-Mode
//! retry intervals so outage cases finish in seconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::{Node, NodeOptions, Outcome, SenderSettings, Submission, SubmittedPayload};
use pmode::{PModeSet, Profile, RetryPolicy};
use tokio::sync::broadcast;

pub const SDK_SERVICE_TYPE: &str = "urn:fdc:digg.se:edelivery:process";
pub const TEST_SERVICE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/service";
pub const TEST_ACTION: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/test";
pub const A_PARTY: &str = "AP0001-DEV";
pub const B_PARTY: &str = "AP0002-DEV";
/// The final recipient B serves.
pub const SERVED: &str = "0203:ap0002-dev.example";
pub const ORIGINAL_SENDER: &str = "0203:ap0001-dev.example";
/// Retries used by every P-Mode of the run: `RETRIES` attempts after the first, `RETRY_INTERVAL_SECONDS` apart.
pub const RETRIES: u32 = 3;
pub const RETRY_INTERVAL_SECONDS: u64 = 1;

/// A running pair of linked access points.
pub struct Federation {
    pub root: PathBuf,
    pub a_config: PathBuf,
    pub b_config: PathBuf,
    pub a: Node,
    pub b: Option<Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("setting up {what}: {detail}")]
    Setup { what: &'static str, detail: String },
}

fn setup(what: &'static str) -> impl Fn(String) -> FederationError {
    move |detail| FederationError::Setup { what, detail }
}

fn free_port() -> Result<u16, FederationError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| setup("a free port")(e.to_string()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| setup("a free port")(e.to_string()))
}

/// The built-in SDK P-Modes plus the ebMS test service, with short retry intervals.
pub fn quick_retry_pmodes() -> PModeSet {
    let mut all = pmode::builtin::sdk_profile();
    all.push(pmode::builtin::ebms_test_service(Profile::Sdk));
    all.push(as4v2_pmode());
    for p in &mut all {
        p.reception_awareness.retry = RetryPolicy::Constant {
            max_retries: RETRIES,
            interval_seconds: RETRY_INTERVAL_SECONDS,
        };
    }
    PModeSet::from_pmodes(all, "<conformance>").expect("the built-in P-Modes are valid")
}

/// Service, action and id of the run's eDelivery AS4 2.0 P-Mode (as4v2-TC02/TC03): Ed25519 signatures, X25519 +
/// HKDF + AES-128 key wrap, AES-128-GCM payloads. Its own service and action, so SDK traffic never matches it.
pub const AS4V2_SERVICE: &str = "urn:fdc:sdk-ap:conformance:as4v2";
pub const AS4V2_ACTION: &str = "urn:fdc:sdk-ap:conformance:as4v2:payload";
pub const AS4V2_PMODE_ID: &str = "conformance-edelivery-as4-2.0";

/// The eDelivery AS4 2.0 common-profile P-Mode both access points of the run hold.
pub fn as4v2_pmode() -> pmode::PMode {
    pmode::builtin::edelivery_as4_v2(
        AS4V2_PMODE_ID,
        pmode::Service {
            value: AS4V2_SERVICE.into(),
            service_type: None,
        },
        AS4V2_ACTION,
    )
}

pub async fn start_node(config: &Path) -> Result<Node, FederationError> {
    let options = NodeOptions {
        pmodes: Some(quick_retry_pmodes()),
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    };
    let config = Config::load(config).map_err(|e| setup("loading a configuration")(e.to_string()))?;
    Node::start(config, options)
        .await
        .map_err(|e| setup("starting a node")(e.to_string()))
}

/// Creates two access points under `root` and links them both ways; returns their configuration files.
pub fn create_linked_pair(root: &Path) -> Result<(PathBuf, PathBuf), FederationError> {
    let mut files = Vec::new();
    for (name, party) in [("a", A_PARTY), ("b", B_PARTY)] {
        let outcome = init(&InitArgs {
            dir: root.join(name),
            party: party.into(),
            port: free_port()?,
            api_port: Some(free_port()?),
            force: false,
        })
        .map_err(|e| setup("init")(e.to_string()))?;
        files.push(outcome.config_file);
    }
    add_peer_from(&files[0], &files[1]).map_err(|e| setup("linking A to B")(e.to_string()))?;
    add_peer_from(&files[1], &files[0]).map_err(|e| setup("linking B to A")(e.to_string()))?;
    Ok((files[0].clone(), files[1].clone()))
}

impl Federation {
    /// Creates and starts a linked pair under `root` (B started unless `start_b` is false).
    pub async fn start(root: &Path, start_b: bool) -> Result<Federation, FederationError> {
        std::fs::create_dir_all(root).map_err(|e| setup("the federation directory")(e.to_string()))?;
        let (a_config, b_config) = create_linked_pair(root)?;
        let b = if start_b {
            Some(start_node(&b_config).await?)
        } else {
            None
        };
        let a = start_node(&a_config).await?;
        Ok(Federation {
            root: root.to_path_buf(),
            a_config,
            b_config,
            a,
            b,
        })
    }

    /// The receiving node; panics are avoided by callers checking `b.is_some()` via this accessor.
    pub fn b(&self) -> Result<&Node, String> {
        self.b
            .as_ref()
            .ok_or_else(|| "access point B is not running".to_string())
    }

    pub async fn start_b(&mut self) -> Result<(), FederationError> {
        if self.b.is_none() {
            self.b = Some(start_node(&self.b_config).await?);
        }
        Ok(())
    }

    pub async fn shutdown(self) {
        self.a.shutdown().await;
        if let Some(b) = self.b {
            b.shutdown().await;
        }
    }

    /// A directory for a case's payload files.
    pub fn scratch(&self, case: &str) -> Result<PathBuf, String> {
        let dir = self.root.join("scratch").join(case);
        std::fs::create_dir_all(&dir).map_err(|e| format!("scratch dir: {e}"))?;
        Ok(dir)
    }
}

/// An SDK business submission from A to B for `final_recipient`.
pub fn sdk_submission(final_recipient: &str, payloads: Vec<SubmittedPayload>) -> Submission {
    Submission {
        to_party: Some(B_PARTY.into()),
        to_party_type: None,
        pmode_id: None,
        service: pmode::builtin::SDK_SERVICE.into(),
        service_type: Some(SDK_SERVICE_TYPE.into()),
        action: pmode::builtin::SDK_MESSAGE_ACTION.into(),
        original_sender: ORIGINAL_SENDER.into(),
        final_recipient: final_recipient.into(),
        conversation_id: Some(format!("conformance-{}", uuid::Uuid::new_v4())),
        tracking_identifier: None,
        payloads,
        actor: "conformance".into(),
    }
}

/// A submission to the ebMS test service of B.
pub fn test_service_submission() -> Submission {
    Submission {
        service: TEST_SERVICE.into(),
        service_type: None,
        action: TEST_ACTION.into(),
        original_sender: String::new(),
        final_recipient: String::new(),
        ..sdk_submission("", vec![])
    }
}

pub fn payload_file(dir: &Path, name: &str, mime_type: &str, bytes: &[u8]) -> Result<SubmittedPayload, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(SubmittedPayload {
        path,
        mime_type: mime_type.into(),
        content_id: None,
    })
}

/// Waits for the final outcome of `message_id` on `outcomes`.
pub async fn outcome_of(
    outcomes: &mut broadcast::Receiver<Outcome>,
    message_id: &str,
    within: Duration,
) -> Result<Outcome, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, outcomes.recv()).await {
            Err(_) => return Err(format!("no outcome for {message_id} within {within:?}")),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => return Err(format!("outcome channel: {e}")),
            Ok(Ok(next)) if next.message_id == message_id => return Ok(next),
            Ok(Ok(_)) => continue,
        }
    }
}
