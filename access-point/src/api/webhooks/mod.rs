//! Webhooks (`[[api.webhooks]]`): the node's events POSTed as signed JSON to message systems' endpoints.
//!
//! A dispatcher task reads the event bus and, for every webhook whose event types and scope (organisation,
//! functional address) cover an event, queues a delivery durably ([`queue`]). One worker per webhook sends due
//! deliveries one at a time: `POST` of the event JSON (the same document as the SSE `data:`) with the headers
//! `webhook-id` (the event id, the same on every attempt), `webhook-timestamp` (Unix seconds of the attempt) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` ([`signature`]). A 2xx answer delivers it;
//! anything else (another status, no connection, a timeout) is retried after `webhook_base_delay_ms` × 2^(n−1) (at
//! most `webhook_max_delay_ms`), and after `webhook_attempts` attempts the delivery is dead-lettered: moved to
//! `<data_dir>/webhooks/<hook>/dead/`, logged as an error and counted in
//! `sdkap_webhook_deliveries_total{outcome="dead_letter"}`.
//!
//! A delivery is durable once queued: a restart resumes pending ones. Events published while no dispatcher ran (or
//! that the dispatcher fell too far behind on, beyond the replay ring) are not queued; that is logged.

pub mod queue;
pub mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auth::{AddressRef, Caller, Permission, Scope, ScopeEntry};
use crate::config::{Config, ConfigError, EventsConfig, WebhookConfig};
use crate::msh::events::EventRecord;
use crate::msh::{EventBus, Node};
use crate::store::Timestamp;
use crate::transport::{As4Client, ClientSettings, OutgoingBody};
use queue::{Delivery, DeliveryFiles};
use signature::WebhookSecret;

/// Folder under the data directory holding each webhook's deliveries.
pub const WEBHOOKS_DIR: &str = "webhooks";
/// Largest webhook response body read (the answer is ignored beyond its status).
pub const MAX_WEBHOOK_RESPONSE_BYTES: u64 = 64 * 1024;
/// Files with the system's CA certificates, tried in order for an `https` webhook without `ca_file` (after the
/// `SSL_CERT_FILE` environment variable).
pub const SYSTEM_CA_FILES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Why webhooks did not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("webhooks: {context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// One configured webhook, ready to deliver.
struct Hook {
    url: String,
    /// The folder name under `webhooks/`: derived from the URL, so deliveries stay with their endpoint.
    key: String,
    config: WebhookConfig,
    secret: WebhookSecret,
    /// The scope as a caller, so that webhooks and the event stream filter with the same rule.
    scope: Caller,
    client: As4Client,
    files: DeliveryFiles,
    /// Pending deliveries by (due time, event id).
    due: Mutex<BTreeMap<(u64, u64), Delivery>>,
    wake: Notify,
}

impl Hook {
    fn wants(&self, record: &EventRecord) -> bool {
        let event = &record.event;
        self.config.wants(event.type_name())
            && self.scope.allows(
                Permission::Read,
                AddressRef {
                    organisation: event.organisation(),
                    functional_address: event.functional_address(),
                },
            )
    }

    fn pending(&self) -> usize {
        self.due.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn schedule(&self, delivery: Delivery) {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        due.insert((delivery.next_attempt_at_ms, delivery.event_id), delivery);
        drop(due);
        self.wake.notify_one();
    }
}

/// The running webhook tasks.
pub struct Webhooks {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Webhooks {
    /// Starts delivery for the node's `[[api.webhooks]]`; `None` when there are none. Pending deliveries of an
    /// earlier run are resumed.
    pub fn start(node: &Node) -> Result<Option<Webhooks>, WebhookError> {
        let config = node.config();
        if config.api.webhooks.is_empty() {
            return Ok(None);
        }
        let counter = node.metrics().registry.counter_vec_shared(
            "sdkap_webhook_deliveries_total",
            "Webhook deliveries by outcome (delivered, retry, dead_letter, dropped).",
            &["outcome"],
        );
        let root = config.node.data_dir.join(WEBHOOKS_DIR);
        let mut hooks = Vec::new();
        for (index, hook_config) in config.api.webhooks.iter().enumerate() {
            let hook = open_hook(config, index, hook_config, &root)?;
            hooks.push(Arc::new(hook));
        }
        report_unknown_hook_dirs(&root, &hooks);
        let stop = CancellationToken::new();
        let settings = Arc::new(config.api.events.clone());
        let mut tasks = Vec::new();
        // Subscribed before the workers start, so no event published from now on is missed.
        let subscription = node.events().subscribe_after(None);
        for hook in &hooks {
            tasks.push(tokio::spawn(run_worker(
                hook.clone(),
                settings.clone(),
                counter.clone(),
                stop.clone(),
            )));
        }
        let max_pending = usize::try_from(config.api.events.webhook_max_pending).unwrap_or(usize::MAX);
        tasks.push(tokio::spawn(run_dispatcher(
            node.events().clone(),
            subscription.receiver,
            hooks,
            Limits { max_pending, counter },
            stop.clone(),
        )));
        Ok(Some(Webhooks { stop, tasks }))
    }

    /// Stops the dispatcher and the workers (an attempt in flight is abandoned; it stays pending and is retried on
    /// the next start, so a receiver may see it twice: it deduplicates by `webhook-id`).
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn open_hook(config: &Config, index: usize, hook: &WebhookConfig, root: &Path) -> Result<Hook, WebhookError> {
    let setting = |name: &str| format!("api.webhooks[{index}].{name}");
    let text = std::fs::read_to_string(&hook.secret_file).map_err(|e| {
        config.error(
            &setting("secret_file"),
            format!("cannot read {}: {e}", hook.secret_file.display()),
        )
    })?;
    let secret = WebhookSecret::parse(&text).map_err(|e| config.error(&setting("secret_file"), e.to_string()))?;
    let tls = if hook.url.starts_with("https://") {
        Some(tls_config(hook).map_err(|message| config.error(&setting("ca_file"), message))?)
    } else {
        None
    };
    let settings = ClientSettings {
        connect_timeout: hook.timeout(),
        request_timeout: hook.timeout(),
        response_idle_timeout: hook.timeout(),
        max_response_bytes: MAX_WEBHOOK_RESPONSE_BYTES,
        // Only http://127.0.0.1 (or [::1]) passes the configuration check.
        allow_plain_http: true,
        ..ClientSettings::default()
    };
    let key = hook_key(&hook.url);
    let dir = root.join(&key);
    let files = DeliveryFiles::open(&dir).map_err(|source| WebhookError::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    let pending = files.load().map_err(|source| WebhookError::Io {
        context: format!("reading {}", files.pending_dir().display()),
        source,
    })?;
    if !pending.is_empty() {
        tracing::info!(url = %hook.url, pending = pending.len(), "webhooks: resuming pending deliveries");
    }
    let due = pending
        .into_values()
        .map(|d| ((d.next_attempt_at_ms, d.event_id), d))
        .collect();
    let scope = match &hook.organisation {
        None => Caller::unrestricted(format!("webhook:{key}")),
        Some(organisation) => Caller {
            actor: format!("webhook:{key}"),
            scope: Scope::Entries(vec![ScopeEntry {
                organisation: organisation.clone(),
                functional_address: hook.functional_address.clone(),
                permissions: vec![Permission::Read],
            }]),
        },
    };
    Ok(Hook {
        url: hook.url.clone(),
        key,
        config: hook.clone(),
        secret,
        scope,
        client: As4Client::new(settings, tls, None),
        files,
        due: Mutex::new(due),
        wake: Notify::new(),
    })
}

/// The first 16 hex digits of SHA-256 of the URL.
fn hook_key(url: &str) -> String {
    openssl::sha::sha256(url.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Server certificates of an https webhook are checked against `ca_file`, or the system's CA bundle.
fn tls_config(hook: &WebhookConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let file = match &hook.ca_file {
        Some(file) => file.clone(),
        None => system_ca_file().ok_or_else(|| {
            format!(
                "no system CA bundle found (SSL_CERT_FILE, {}); set ca_file",
                SYSTEM_CA_FILES.join(", ")
            )
        })?,
    };
    let certificates = crate::pki::load_certificates(&file).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    let der: Vec<_> = certificates
        .iter()
        .filter_map(|c| c.to_der().ok())
        .map(rustls::pki_types::CertificateDer::from)
        .collect();
    // A system bundle may hold a certificate webpki cannot use; the others still count.
    let (added, _ignored) = roots.add_parsable_certificates(der);
    if added == 0 {
        return Err(format!("{}: no usable CA certificate", file.display()));
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::transport::tls::edelivery_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn system_ca_file() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_CA_FILES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

fn report_unknown_hook_dirs(root: &Path, hooks: &[Arc<Hook>]) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !hooks.iter().any(|h| h.key == name) {
            tracing::warn!(
                dir = %entry.path().display(),
                "webhooks: deliveries of a webhook no longer configured (its URL changed or it was removed) are not sent"
            );
        }
    }
}

/// What bounds the dispatcher.
struct Limits {
    /// `[api.events] webhook_max_pending`.
    max_pending: usize,
    counter: crate::transport::metrics::CounterVec,
}

/// Queues every event a webhook wants, durably, in event order.
async fn run_dispatcher(
    bus: EventBus,
    mut receiver: broadcast::Receiver<Arc<EventRecord>>,
    hooks: Vec<Arc<Hook>>,
    limits: Limits,
    stop: CancellationToken,
) {
    let mut last_id = 0u64;
    loop {
        let records = tokio::select! {
            _ = stop.cancelled() => break,
            received = receiver.recv() => match received {
                Ok(record) => vec![record],
                Err(broadcast::error::RecvError::Lagged(_)) => match bus.records_after(last_id) {
                    Ok(records) => records,
                    Err(gap) => {
                        tracing::error!(
                            after = last_id,
                            resume_from = ?gap.newest,
                            "webhooks: events were missed (the dispatcher fell behind the replay ring); they are not delivered"
                        );
                        last_id = last_id.max(gap.newest.unwrap_or(0));
                        continue;
                    }
                },
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        for record in records {
            if record.id <= last_id {
                continue;
            }
            last_id = record.id;
            for hook in hooks.iter().filter(|h| h.wants(&record)) {
                if hook.pending() >= limits.max_pending {
                    limits.counter.with(&["dropped"]).inc();
                    tracing::error!(
                        url = %hook.url,
                        event_id = record.id,
                        max_pending = limits.max_pending,
                        "webhooks: too many deliveries pending for this endpoint; event not queued"
                    );
                    continue;
                }
                queue_delivery(hook, &record).await;
            }
        }
    }
}

async fn queue_delivery(hook: &Arc<Hook>, record: &EventRecord) {
    let delivery = Delivery {
        event_id: record.id,
        event_type: record.event.type_name().to_string(),
        body: record.to_json().to_string(),
        attempts: 0,
        next_attempt_at_ms: Timestamp::now().0,
        last_error: None,
    };
    let files = hook.files.clone();
    let stored = delivery.clone();
    match tokio::task::spawn_blocking(move || files.store(&stored)).await {
        Ok(Ok(())) => hook.schedule(delivery),
        Ok(Err(e)) => {
            tracing::error!(url = %hook.url, event_id = record.id, error = %e, "webhooks: cannot queue a delivery")
        }
        Err(e) => tracing::error!(url = %hook.url, event_id = record.id, error = %e, "webhooks: queueing task failed"),
    }
}

/// Sends due deliveries of one webhook, one at a time, until stopped.
async fn run_worker(
    hook: Arc<Hook>,
    settings: Arc<EventsConfig>,
    counter: crate::transport::metrics::CounterVec,
    stop: CancellationToken,
) {
    loop {
        let now = Timestamp::now().0;
        let next = {
            let due = hook.due.lock().unwrap_or_else(|p| p.into_inner());
            due.keys().next().copied()
        };
        match next {
            Some(key) if key.0 <= now => {
                let delivery = {
                    let mut due = hook.due.lock().unwrap_or_else(|p| p.into_inner());
                    due.remove(&key)
                };
                if let Some(delivery) = delivery {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = attempt(&hook, &settings, &counter, delivery) => {}
                    }
                }
            }
            Some(key) => {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = hook.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(key.0 - now)) => {}
                }
            }
            None => {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = hook.wake.notified() => {}
                }
            }
        }
    }
}

/// One attempt, then the delivery is removed, rescheduled or dead-lettered.
async fn attempt(
    hook: &Hook,
    settings: &EventsConfig,
    counter: &crate::transport::metrics::CounterVec,
    mut delivery: Delivery,
) {
    let result = post(hook, &delivery).await;
    delivery.attempts += 1;
    let files = hook.files.clone();
    match result {
        Ok(()) => {
            counter.with(&["delivered"]).inc();
            tracing::debug!(url = %hook.url, event_id = delivery.event_id, attempts = delivery.attempts, "webhook delivered");
            let done = delivery.clone();
            if let Err(e) = blocking(move || files.remove(&done)).await {
                tracing::error!(url = %hook.url, event_id = delivery.event_id, error = %e, "webhooks: cannot remove a delivered delivery (it may be sent again)");
            }
        }
        Err(reason) if delivery.attempts >= settings.webhook_attempts => {
            counter.with(&["dead_letter"]).inc();
            delivery.last_error = Some(reason.clone());
            tracing::error!(
                url = %hook.url,
                event_id = delivery.event_id,
                attempts = delivery.attempts,
                reason = %reason,
                dir = %hook.files.dead_dir().display(),
                "webhook delivery dead-lettered after its last attempt"
            );
            let dead = delivery.clone();
            if let Err(e) = blocking(move || files.dead_letter(&dead)).await {
                tracing::error!(url = %hook.url, event_id = delivery.event_id, error = %e, "webhooks: cannot dead-letter a delivery");
            }
        }
        Err(reason) => {
            counter.with(&["retry"]).inc();
            let wait = settings.webhook_delay_after(delivery.attempts);
            tracing::warn!(url = %hook.url, event_id = delivery.event_id, attempts = delivery.attempts, retry_in = ?wait, reason = %reason, "webhook delivery failed; will retry");
            delivery.last_error = Some(reason);
            delivery.next_attempt_at_ms = Timestamp::now().plus(wait).0;
            let stored = delivery.clone();
            match blocking(move || files.store(&stored)).await {
                Ok(()) => hook.schedule(delivery),
                Err(e) => {
                    // Still scheduled in memory; the file keeps its earlier state, so a restart retries it too.
                    tracing::error!(url = %hook.url, event_id = delivery.event_id, error = %e, "webhooks: cannot update a pending delivery");
                    hook.schedule(delivery);
                }
            }
        }
    }
}

async fn blocking(job: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> std::io::Result<()> {
    tokio::task::spawn_blocking(job).await.map_err(std::io::Error::other)?
}

/// The signed POST; `Err` carries why it did not count as delivered.
async fn post(hook: &Hook, delivery: &Delivery) -> Result<(), String> {
    let id = delivery.event_id.to_string();
    let timestamp = i64::try_from(Timestamp::now().0 / 1000).unwrap_or(i64::MAX);
    let signature = hook.secret.sign(&id, timestamp, delivery.body.as_bytes());
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("webhook-id", &id);
    put("webhook-timestamp", &timestamp.to_string());
    put("webhook-signature", &signature);
    put("user-agent", concat!("sdk-ap/", env!("CARGO_PKG_VERSION"), " webhooks"));
    let exchange = async {
        let response = hook
            .client
            .post(
                &hook.url,
                "application/json",
                &headers,
                OutgoingBody::bytes(delivery.body.clone()),
            )
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status;
        // Read (and bound) the answer so the connection can be reused.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    };
    match tokio::time::timeout(hook.config.timeout(), exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:?}", hook.config.timeout())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_keys_are_stable_per_url() {
        assert_eq!(hook_key("https://a.example/x"), hook_key("https://a.example/x"));
        assert_ne!(hook_key("https://a.example/x"), hook_key("https://a.example/y"));
        assert_eq!(hook_key("https://a.example/x").len(), 16);
    }
}
