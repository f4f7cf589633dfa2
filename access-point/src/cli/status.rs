//! `sdk-ap status --config FILE [--json]`: message counts by direction and state and the last errors.
//!
//! Asks the running server through the local API; when nothing listens there it opens the store itself (sled allows
//! one process per store, so a store locked by another process without a reachable API is reported as such).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::status::STATUS_LAST_ERRORS;
use crate::api::{ApiClient, ClientError};
use crate::config::Config;
use crate::store::{SledStore, StatusReport, Store, StoreError, StoreSettings};

/// Print message counts and the last errors.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The node configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// An operator API token; overrides SDK_AP_TOKEN and `[api] client_token_file`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// Where the status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    Server,
    Store,
}

pub fn run(args: StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(read_status(&args.config, args.token.as_deref())) {
        Ok((json, source)) => {
            let text = if args.json {
                format!("{}\n", serde_json::to_string_pretty(&json).unwrap_or_default())
            } else {
                render_table(&json, source)
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the status JSON from the running server, or from the store when no server answers.
pub async fn read_status(
    config: &std::path::Path,
    token: Option<&str>,
) -> Result<(serde_json::Value, StatusSource), String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let client = ApiClient::for_config(&config, token).map_err(|e| e.to_string())?;
    match client.status().await {
        Ok(json) => return Ok((json, StatusSource::Server)),
        Err(ClientError::Connect { .. }) => {}
        Err(e) => return Err(e.to_string()),
    }
    let settings = StoreSettings::with_data_dir(&config.node.data_dir);
    let store = match SledStore::open(settings).await {
        Ok(s) => s,
        Err(StoreError::InUse(path)) => {
            return Err(format!(
                "the store {} is in use by another process, but no API answers at {}: is the server starting or \
                 listening elsewhere?",
                path.display(),
                config.api.listen
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let report = StatusReport::read(&store, STATUS_LAST_ERRORS)
        .await
        .map_err(|e| e.to_string());
    let _ = store.close().await;
    Ok((report?.to_json(), StatusSource::Store))
}

fn render_table(json: &serde_json::Value, source: StatusSource) -> String {
    let mut out = String::new();
    out.push_str(match source {
        StatusSource::Server => "source: running server\n",
        StatusSource::Store => "source: store (no server running)\n",
    });
    for direction in ["outbound", "inbound"] {
        out.push_str(&format!("{direction}:\n"));
        if let Some(map) = json[direction].as_object() {
            for (state, count) in map {
                out.push_str(&format!("  {state:<14} {count}\n"));
            }
        }
    }
    let errors = json["last_errors"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("last errors ({}):\n", errors.len()));
    for e in errors {
        out.push_str(&format!(
            "  {} {} {} {}: {}\n",
            e["at"].as_str().unwrap_or(""),
            e["direction"].as_str().unwrap_or(""),
            e["state"].as_str().unwrap_or(""),
            e["message_id"].as_str().unwrap_or(""),
            e["error"].as_str().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_counts_and_errors() {
        let json = serde_json::json!({"outbound": {"total": 2, "delivered": 1, "failed": 1}, "inbound": {"total": 0},
            "last_errors": [{"at": "t", "direction": "outbound", "state": "failed", "message_id": "m1", "error": "boom"}]});
        let table = render_table(&json, StatusSource::Store);
        assert!(table.contains("delivered      1"), "{table}");
        assert!(table.contains("m1: boom"), "{table}");
    }
}
