//! A running access point: configuration → keys, trust stores, P-Modes, store (recovered) → the AS4 server with the
//! receive pipeline and the sender task. [`Node::start`] brings it all up; [`Node::shutdown`] takes it down in the
//! safe order (stop accepting and drain, stop the sender after its current attempts, flush and close the store).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pmode::PModeSet;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::events::EventBus;
use super::outcome::Outcome;
use super::receive::Receiver;
use super::resolver::{RecipientResolver, StaticPeers};
use super::scheduler::{Sender, SenderSettings};
use super::send::As4Deliverer;
use super::submit::{self, Accepted, Submission, SubmitError};
use crate::config::{Config, ConfigError};
use crate::ebms::MessageIdGenerator;
use crate::pki::{NodeIdentity, TrustStore};
use crate::store::{RecoveryReport, SledStore, Store, StoreError, StoreSettings};
use crate::transport::{serve, ApMetrics, As4Client, Readiness, RunningServer, ServerSettings, ShutdownReport};
use crate::wss::message::OpenLimits;

/// Folder under the data directory for spooled (in-flight) message bodies and payloads.
pub const SPOOL_DIR: &str = "spool";
/// Capacity of the outcome channel: a subscriber that falls further behind misses outcomes (they stay in the store).
pub const OUTCOME_CHANNEL_CAPACITY: usize = 1024;

/// What the pipelines share.
pub(crate) struct NodeShared {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub identity: NodeIdentity,
    pub message_trust: TrustStore,
    pub pmodes: PModeSet,
    pub open_limits: OpenLimits,
    pub spool_dir: PathBuf,
    pub ids: MessageIdGenerator,
    pub metrics: Option<Arc<ApMetrics>>,
    pub events: EventBus,
    /// `[sdk] e2e_anchors` / `e2e_crls`, loaded once at start (`None`: signed XHEs are not verified here).
    pub e2e_trust: Option<TrustStore>,
    /// `[sdk] e2e_key` / `e2e_cert` (or the message key with `e2e_use_message_key`), loaded once at start.
    pub e2e_key: Option<crate::pki::KeyPair>,
    /// `[sdk] e2e_signers` (read once at start) and the discovery client for CertPub signer lookups.
    pub signers: Arc<crate::sdk::signer_identity::SignerRegistry>,
    /// Background work (SDK classification) that [`Node::shutdown`] waits for, so the store is released on return.
    pub background: Arc<BackgroundTasks>,
}

/// Counts a node's background tasks; once closing, no new one starts (recovery at the next start picks the work up).
#[derive(Debug, Default)]
pub(crate) struct BackgroundTasks {
    running: std::sync::atomic::AtomicUsize,
    closing: std::sync::atomic::AtomicBool,
    idle: tokio::sync::Notify,
}

impl BackgroundTasks {
    /// Registers a task about to start; `false` when the node is shutting down (the task must not run).
    pub fn start(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.running.fetch_add(1, SeqCst);
        if self.closing.load(SeqCst) {
            self.finish();
            return false;
        }
        true
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks a task started with [`BackgroundTasks::start`] as done.
    pub fn finish(&self) {
        if self.running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Refuses new tasks and waits (at most `within`) until the running ones are done; `false` on timeout.
    pub async fn close(&self, within: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.closing.store(true, SeqCst);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.idle.notified();
            if self.running.load(SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.running.load(SeqCst) == 0;
            }
        }
    }
}

/// Choices made in code rather than in the configuration file (tests, tools, a future discovery resolver).
#[derive(Clone, Default)]
pub struct NodeOptions {
    /// Replaces `[sender]` of the configuration.
    pub sender: Option<SenderSettings>,
    /// Replaces the P-Modes of the configuration (`[pmodes]`).
    pub pmodes: Option<PModeSet>,
    /// Replaces the static `[[peers]]` resolver.
    pub resolver: Option<Arc<dyn RecipientResolver>>,
    /// Store settings; by default those of the store module with `node.data_dir`.
    pub store: Option<StoreSettings>,
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("P-Modes: {0}")]
    PModes(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeShutdown {
    pub server: ShutdownReport,
}

/// A running access point.
pub struct Node {
    shared: Arc<NodeShared>,
    /// The sender's resolver, also asked at submit time for submissions that name only the final recipient.
    resolver: Arc<dyn RecipientResolver>,
    wake: Arc<Notify>,
    outcomes: broadcast::Sender<Outcome>,
    readiness: Readiness,
    metrics: Arc<ApMetrics>,
    server: std::sync::Mutex<Option<RunningServer>>,
    local_addr: SocketAddr,
    sender_stop: CancellationToken,
    sender_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    stopped: std::sync::atomic::AtomicBool,
    recovery: RecoveryReport,
}

/// The P-Modes a configuration enables: the named built-in profiles plus the P-Mode files.
pub fn load_pmodes(config: &Config) -> Result<PModeSet, NodeError> {
    let mut set = PModeSet::default();
    for name in &config.pmodes.builtin {
        let (file, text) = match name.as_str() {
            "sdk" => ("<builtin>/sdk.toml", pmode::builtin::SDK_PROFILE_TOML),
            "edelivery-as4-2.0" => (
                "<builtin>/edelivery-as4-2.0.toml",
                pmode::builtin::EDELIVERY_AS4_V2_TOML,
            ),
            other => {
                return Err(NodeError::Config(config.error(
                    "pmodes.builtin",
                    format!("unknown built-in profile {other:?} (known: sdk, edelivery-as4-2.0)"),
                )))
            }
        };
        let loaded = PModeSet::from_toml_str(text, file).map_err(|e| NodeError::PModes(e.to_string()))?;
        set.merge(loaded).map_err(|e| NodeError::PModes(e.to_string()))?;
    }
    if !config.pmodes.files.is_empty() {
        let files = PModeSet::load_files(&config.pmodes.files).map_err(|e| NodeError::PModes(e.to_string()))?;
        set.merge(files).map_err(|e| NodeError::PModes(e.to_string()))?;
    }
    Ok(set)
}

/// `[limits]` as the WS-Security open limits.
fn open_limits(config: &Config) -> OpenLimits {
    let mut limits = OpenLimits::default();
    let l = &config.limits;
    limits.xml = l.xml_parse_limits();
    limits.max_decompressed_bytes = l.max_decompressed_bytes;
    limits.mime.max_attachment_bytes = l.max_payload_bytes;
    limits.mime.max_parts = usize::try_from(l.max_mime_parts).unwrap_or(usize::MAX);
    limits.mime.max_soap_bytes = usize::try_from(l.max_soap_part_bytes).unwrap_or(usize::MAX);
    limits.mime.max_header_bytes = usize::try_from(l.max_mime_header_bytes).unwrap_or(usize::MAX);
    limits.mime.max_total_bytes = l.max_message_bytes;
    limits.message_id_policy = match config.server.received_message_ids {
        crate::config::ReceivedMessageIds::Lenient => crate::ebms::MessageIdPolicy::Lenient,
        crate::config::ReceivedMessageIds::Rfc2822 => crate::ebms::MessageIdPolicy::Rfc2822,
    };
    limits
}

impl Node {
    /// Validates the configuration, opens and recovers the store, starts the AS4 server and the sender task, and
    /// marks the node ready.
    pub async fn start(config: Config, options: NodeOptions) -> Result<Node, NodeError> {
        config.validate()?;
        let identity = config.identity()?;
        let message_trust = config.message_trust_store()?;
        let tls_trust = config.tls_trust_store()?;
        let e2e_trust = config.sdk_e2e_trust_store()?;
        let e2e_key = config.sdk_e2e_key_pair()?;
        let pmodes = match options.pmodes {
            Some(p) => p,
            None => load_pmodes(&config)?,
        };
        // The send path's discovery client (and its cache) also answers the CertPub lookups of XHE signers.
        let mut shared_discovery = None;
        let resolver: Arc<dyn RecipientResolver> = match options.resolver {
            Some(r) => r,
            None => {
                let peers = StaticPeers::from_config(&config)?;
                match super::discovery_resolver::from_config(&config, &message_trust)? {
                    Some(discovery) => {
                        shared_discovery = Some(discovery.discovery().clone());
                        Arc::new(super::ChainedResolver::new(peers, Arc::new(discovery)))
                    }
                    None => Arc::new(peers),
                }
            }
        };
        let signers = Arc::new(crate::sdk::signer_identity::SignerRegistry::load(
            &config,
            shared_discovery,
        )?);
        let data_dir = config.node.data_dir.clone();
        let spool_dir = data_dir.join(SPOOL_DIR);
        std::fs::create_dir_all(&spool_dir).map_err(|source| NodeError::Io {
            context: format!("creating {}", spool_dir.display()),
            source,
        })?;
        clear_spool(&spool_dir);
        let store_settings = options.store.unwrap_or_else(|| StoreSettings::with_data_dir(&data_dir));
        let store: Arc<dyn Store> = Arc::new(SledStore::open(store_settings).await?);
        let recovery = store.recover().await?;
        if recovery != RecoveryReport::default() {
            tracing::info!(
                leases_released = recovery.leases_released,
                temp_files_removed = recovery.temp_files_removed,
                orphan_payload_dirs_removed = recovery.orphan_payload_dirs_removed,
                "store recovered"
            );
        }
        let sender_settings = options
            .sender
            .unwrap_or_else(|| SenderSettings::from_config(&config.sender));
        let domain = config.node.party_id.to_ascii_lowercase();
        let ids = MessageIdGenerator::new(&domain)
            .or_else(|_| MessageIdGenerator::new("sdk-ap.invalid"))
            .map_err(|e| NodeError::PModes(e.to_string()))?;
        let metrics = Arc::new(ApMetrics::new());
        metrics.publish_certificate_expiry(&identity, time::OffsetDateTime::now_utc());
        let server_settings = ServerSettings::from_config(&config, &identity, &tls_trust)?;
        let client = As4Client::from_config(&config, &identity, &tls_trust, Some(metrics.clone()))?;
        let replay_events = usize::try_from(config.api.events.replay_events).unwrap_or(usize::MAX);
        let shared = Arc::new(NodeShared {
            open_limits: open_limits(&config),
            config,
            store: store.clone(),
            identity,
            message_trust,
            pmodes,
            spool_dir,
            ids,
            metrics: Some(metrics.clone()),
            events: EventBus::with_replay_capacity(replay_events),
            background: Arc::new(BackgroundTasks::default()),
            e2e_trust,
            e2e_key,
            signers,
        });
        // Received messages a crash left unclassified (the inbox and kvittens layer runs after the receipt).
        crate::sdk::inbound::spawn_recovery(shared.clone());
        let readiness = Readiness::new(false);
        let receiver = Arc::new(Receiver { shared: shared.clone() });
        let server = serve(server_settings, receiver, metrics.clone(), readiness.clone()).await?;
        let local_addr = server.local_addr();

        let wake = Arc::new(Notify::new());
        let (outcomes, _) = broadcast::channel(OUTCOME_CHANNEL_CAPACITY);
        let deliverer = Arc::new(As4Deliverer {
            shared: shared.clone(),
            resolver: resolver.clone(),
            client,
        });
        let sender = Arc::new(Sender {
            store: store.clone(),
            deliverer,
            settings: sender_settings,
            wake: wake.clone(),
            outcomes: outcomes.clone(),
            metrics: Some(metrics.clone()),
        });
        let sender_stop = CancellationToken::new();
        // Subscribed before the sender starts, so no outcome goes by unseen.
        super::events::spawn_outcome_bridge(outcomes.subscribe(), shared.events.clone(), sender_stop.clone());
        let sender_task = tokio::spawn(sender.run(sender_stop.clone()));
        spawn_queue_gauges(store.clone(), metrics.clone(), sender_stop.clone());
        readiness.set(true);
        Ok(Node {
            shared,
            resolver,
            wake,
            outcomes,
            readiness,
            metrics,
            server: std::sync::Mutex::new(Some(server)),
            local_addr,
            sender_stop,
            sender_task: std::sync::Mutex::new(Some(sender_task)),
            stopped: std::sync::atomic::AtomicBool::new(false),
            recovery,
        })
    }

    /// Accepts a message for sending: stored durably (`Submitted`) before this returns, then sent by the sender task.
    pub async fn submit(&self, submission: Submission) -> Result<Accepted, SubmitError> {
        let shared = &self.shared;
        let ctx = submit::SubmitContext {
            store: &*shared.store,
            pmodes: &shared.pmodes,
            our_party_id: &shared.config.node.party_id,
            our_party_type: &shared.config.node.party_id_type,
            ids: &shared.ids,
            max_payload_bytes: shared.config.limits.max_payload_bytes,
            resolver: &*self.resolver,
        };
        let accepted = submit::submit(&ctx, submission).await?;
        self.wake.notify_one();
        Ok(accepted)
    }

    /// Outcomes (Delivered / Failed) of outbound messages from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        self.outcomes.subscribe()
    }

    /// What the pipelines share (for the SDK business layer).
    pub(crate) fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    /// The event bus (inbox, delivered, failed, kvittens) that the API streams to message systems.
    pub fn events(&self) -> &EventBus {
        &self.shared.events
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn pmodes(&self) -> &PModeSet {
        &self.shared.pmodes
    }

    pub fn metrics(&self) -> &Arc<ApMetrics> {
        &self.metrics
    }

    /// Where the AS4 server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What recovery repaired at start.
    pub fn recovery(&self) -> RecoveryReport {
        self.recovery
    }

    /// Stops accepting and drains requests in flight, stops the sender after its current attempts, flushes and
    /// closes the store. Takes `&self` so a node shared with the local API (`Arc<Node>`) can be stopped; calls
    /// after the first do nothing. The store's database lock is released when the `Node` is dropped (a restart in
    /// the same process drops the old node first).
    pub async fn shutdown(&self) -> NodeShutdown {
        if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return NodeShutdown::default();
        }
        self.readiness.set(false);
        let server = self.server.lock().map(|mut s| s.take()).unwrap_or(None);
        let server = match server {
            Some(s) => s.shutdown().await,
            None => ShutdownReport::default(),
        };
        self.sender_stop.cancel();
        let task = self.sender_task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = task.await;
        }
        // A classification still running holds the store; what it leaves undone is redone at the next start.
        if !self.shared.background.close(BACKGROUND_DRAIN).await {
            tracing::warn!("background classification still running after {BACKGROUND_DRAIN:?}; closing anyway");
        }
        if let Err(e) = self.shared.store.close().await {
            tracing::error!(error = %e, "closing the store");
        }
        NodeShutdown { server }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A node dropped without shutdown (a test that panicked) must not leave its tasks running.
        self.sender_stop.cancel();
        if let Ok(server) = self.server.lock() {
            if let Some(server) = server.as_ref() {
                server.shutdown_token().cancel();
            }
        }
    }
}

/// How long shutdown waits for background classification before closing the store anyway.
const BACKGROUND_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Removes leftovers of interrupted receives and sends (spool files are never referenced by the store).
fn clear_spool(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How often the queue-depth gauges are refreshed from the store's counters.
pub const QUEUE_GAUGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps `sdkap_queue_depth{queue="send"}` (submitted + waiting + sending) and `{queue="inbox"}` (received, not yet
/// fetched) current until the node stops. The store keeps these counts as counters, so a refresh is cheap.
fn spawn_queue_gauges(store: Arc<dyn Store>, metrics: Arc<ApMetrics>, stop: CancellationToken) {
    use crate::store::State;
    tokio::spawn(async move {
        loop {
            if let Ok(counts) = store.counts().await {
                let send = counts.get(State::Submitted) + counts.get(State::WaitingRetry) + counts.get(State::Sending);
                metrics.queue_depth.with(&["send"]).set(send as f64);
                metrics
                    .queue_depth
                    .with(&["inbox"])
                    .set(counts.get(State::Received) as f64);
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(QUEUE_GAUGE_INTERVAL) => {}
            }
        }
    });
}

#[cfg(test)]
mod background_tests {
    use super::BackgroundTasks;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn close_waits_for_running_tasks_and_refuses_new_ones() {
        let tasks = Arc::new(BackgroundTasks::default());
        assert!(tasks.start());
        let worker = tasks.clone();
        let done = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            worker.finish();
        });
        let started = std::time::Instant::now();
        assert!(tasks.close(Duration::from_secs(10)).await);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "close returned before the task finished"
        );
        assert!(!tasks.start(), "no task starts once closing");
        done.await.unwrap();

        let stuck = BackgroundTasks::default();
        assert!(stuck.start());
        assert!(
            !stuck.close(Duration::from_millis(50)).await,
            "a task that never finishes times the wait out"
        );
    }
}
