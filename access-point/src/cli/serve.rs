//! `sdk-ap serve --config FILE`: runs the access point until SIGTERM or SIGINT.
//!
//! Start: load and validate the configuration, open and recover the store, start the AS4 server and the sender
//! task, then mark the node ready and log what listens where, the party id and the certificates with their expiry.
//! Stop (SIGTERM / SIGINT): not ready, stop accepting, drain requests in flight, let the sender finish its current
//! attempts, flush and close the store. A second signal during shutdown exits at once (messages stay safe: nothing is
//! acknowledged before it is on disk, and the next start recovers).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::msh::{Node, NodeOptions};

/// Run the access point (AS4 server and sender) until SIGTERM or SIGINT.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The node configuration file (written by `sdk-ap init`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SDK_AP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let node = match Node::start(config, NodeOptions::default()).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    log_startup(&node);
    let node = std::sync::Arc::new(node);
    let api = match crate::api::ApiServer::start(node.clone()).await {
        Ok(api) => {
            tracing::info!(listen = %api.base_url(), "local API ready");
            api
        }
        Err(e) => {
            tracing::error!("cannot start the local API: {e}");
            eprintln!("error: {e}");
            if let Ok(node) = std::sync::Arc::try_unwrap(node) {
                node.shutdown().await;
            }
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!("shutting down: draining requests in flight and the sender's current attempts");
    api.shutdown().await;
    // Connection tasks drop their handle on the node just after the API's graceful shutdown returns.
    let mut node = node;
    let mut tries = 0;
    let node = loop {
        match std::sync::Arc::try_unwrap(node) {
            Ok(n) => break n,
            Err(shared) if tries < 100 => {
                node = shared;
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(_) => {
                tracing::error!("the node is still shared after the API stopped; exiting (the next start recovers)");
                return ExitCode::FAILURE;
            }
        }
    };
    let shutdown = node.shutdown();
    tokio::pin!(shutdown);
    tokio::select! {
        report = &mut shutdown => {
            tracing::info!(drained = report.server.drained, cut = report.server.cut, "stopped; store flushed");
            ExitCode::SUCCESS
        }
        _ = wait_for_signal() => {
            tracing::warn!("second signal: exiting without waiting (the next start recovers)");
            ExitCode::from(130)
        }
    }
}

fn log_startup(node: &Node) {
    let config = node.config();
    let scheme = if config.server.tls { "https" } else { "http" };
    tracing::info!(
        party_id = %config.node.party_id,
        listen = %format!("{scheme}://{}/as4", node.local_addr()),
        public_endpoint = %config.server.endpoint_url(),
        data_dir = %config.node.data_dir.display(),
        served_participants = ?config.node.served_participants,
        pmodes = ?node.pmodes().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        peers = ?config.peers.iter().map(|p| format!("{} {}", p.party_id, p.endpoint)).collect::<Vec<_>>(),
        "sdk-ap ready"
    );
    if let Ok(identity) = config.identity() {
        let now = time::OffsetDateTime::now_utc();
        let pairs = [
            ("message", Some(&identity.message)),
            ("tls", identity.tls.as_ref()),
            ("ed25519", identity.ed25519.as_ref()),
            ("x25519", identity.x25519.as_ref()),
        ];
        for (role, pair) in pairs {
            if let Some(info) = pair.and_then(|p| p.info().ok()) {
                let days = info.days_to_expiry(now);
                if days < 30 {
                    tracing::warn!(certificate = role, subject = %info.subject, not_after = %info.not_after, days_left = days,
                        "certificate expires soon");
                } else {
                    tracing::info!(certificate = role, subject = %info.subject, issuer = %info.issuer,
                        not_after = %info.not_after, days_left = days, "certificate");
                }
            }
        }
    }
    let recovery = node.recovery();
    tracing::info!(
        leases_released = recovery.leases_released,
        orphan_payload_dirs_removed = recovery.orphan_payload_dirs_removed,
        "store opened and recovered"
    );
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
