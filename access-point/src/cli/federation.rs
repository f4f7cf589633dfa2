//! `sdk-ap init-federation --out DIR A.toml B.toml`: writes a federation file for `sdk-federation-sim` (the local
//! SML, SMP and address book) in which every given access point serves its `node.served_participants` for the SDK
//! message and kvittens documents, with its real endpoint and message certificate. Prints the `[discovery]` section
//! the access points then need.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::config::{Config, ConfigError};

/// The federation file name written in `--out`.
pub const FEDERATION_FILE: &str = "federation.toml";

/// Write a local federation file (for `sdk-federation-sim`) serving the given access points' participants.
#[derive(Debug, Clone, clap::Args)]
pub struct InitFederationArgs {
    /// Folder to write `federation.toml` into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The SML zone the simulator serves.
    #[arg(long, default_value = "sml.sdk.test")]
    pub sml_zone: String,
    /// The DNS address the simulator will listen on (only used in the printed `[discovery]` section).
    #[arg(long, default_value = "127.0.0.1:5353")]
    pub dns: SocketAddr,
    /// Access point configuration files (read only); at least one.
    #[arg(required = true, value_name = "CONFIG")]
    pub configs: Vec<PathBuf>,
    /// Overwrite an existing federation file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} exists (use --force to overwrite)")]
    Exists(PathBuf),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0} serves no participants (node.served_participants is empty)")]
    NoParticipants(PathBuf),
}

#[derive(Serialize)]
struct FederationFile {
    sml_zone: String,
    access_points: Vec<AccessPointEntry>,
    organisations: Vec<OrganisationEntry>,
}

#[derive(Serialize)]
struct AccessPointEntry {
    name: String,
    endpoint_url: String,
    certificate: PathBuf,
    transport_profile: String,
}

#[derive(Serialize)]
struct OrganisationEntry {
    id: String,
    name: String,
    participant_id: String,
    access_point: String,
    documents: Vec<String>,
}

/// The SMP document ids of the built-in SDK profile's actions (the actions carry the `busdox-docid-qns::` scheme).
fn sdk_documents() -> Vec<String> {
    [pmode::builtin::SDK_MESSAGE_ACTION, pmode::builtin::SDK_KVITTENS_ACTION]
        .iter()
        .map(|a| a.strip_prefix("busdox-docid-qns::").unwrap_or(a).to_string())
        .collect()
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Builds the federation file text for these access point configurations.
pub fn federation_toml(sml_zone: &str, configs: &[PathBuf]) -> Result<String, FederationError> {
    let mut file = FederationFile {
        sml_zone: sml_zone.to_string(),
        access_points: Vec::new(),
        organisations: Vec::new(),
    };
    for path in configs {
        let config = Config::load(path)?;
        if config.node.served_participants.is_empty() {
            return Err(FederationError::NoParticipants(path.clone()));
        }
        let ap = config.node.party_id.clone();
        file.access_points.push(AccessPointEntry {
            name: ap.clone(),
            endpoint_url: config.server.endpoint_url(),
            certificate: absolute(&config.keys.message.cert),
            transport_profile: address_book_client::DIGG_AS4_V1_2.to_string(),
        });
        for (index, participant) in config.node.served_participants.iter().enumerate() {
            file.organisations.push(OrganisationEntry {
                id: format!("{}-{}", ap.to_ascii_lowercase(), index + 1),
                name: format!("{participant} (served by {ap})"),
                participant_id: participant.clone(),
                access_point: ap.clone(),
                documents: sdk_documents(),
            });
        }
    }
    toml::to_string(&file).map_err(|e| FederationError::Io {
        path: PathBuf::from(FEDERATION_FILE),
        message: e.to_string(),
    })
}

/// Writes `DIR/federation.toml`; returns its path.
pub fn init_federation(args: &InitFederationArgs) -> Result<PathBuf, FederationError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| FederationError::Io {
            path,
            message: e.to_string(),
        }
    };
    let text = federation_toml(&args.sml_zone, &args.configs)?;
    std::fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    let target = args.out.join(FEDERATION_FILE);
    if target.exists() && !args.force {
        return Err(FederationError::Exists(target));
    }
    std::fs::write(&target, text).map_err(io(&target))?;
    Ok(target)
}

pub fn run(args: InitFederationArgs) -> ExitCode {
    match init_federation(&args) {
        Ok(path) => {
            let anchor = absolute(&args.out).join("smp-ca.pem");
            println!("wrote {}", path.display());
            println!(
                "run:  sdk-federation-sim --config {} --dns {} --write-smp-ca {}",
                path.display(),
                args.dns,
                anchor.display()
            );
            println!("then add to each access point's configuration:");
            println!("  [trust] smp_anchors = [{:?}]", anchor.display().to_string());
            println!(
                "  [discovery]\n  sml_zone = {:?}\n  dns_servers = [\"{}\"]",
                args.sml_zone, args.dns
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::init::{init, InitArgs};

    #[test]
    fn two_inited_aps_become_a_federation_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut configs = Vec::new();
        for (name, party, port) in [("a", "AP0001-DEV", 18441), ("b", "AP0002-DEV", 18442)] {
            let outcome = init(&InitArgs {
                dir: tmp.path().join(name),
                party: party.into(),
                port,
                api_port: None,
                force: false,
            })
            .unwrap();
            configs.push(outcome.config_file);
        }
        let args = InitFederationArgs {
            out: tmp.path().join("fed"),
            sml_zone: "sml.sdk.test".into(),
            dns: "127.0.0.1:5353".parse().unwrap(),
            configs: configs.clone(),
            force: false,
        };
        let path = init_federation(&args).unwrap();
        let value: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let aps = value["access_points"].as_array().unwrap();
        assert_eq!(aps.len(), 2);
        assert_eq!(aps[1]["name"].as_str(), Some("AP0002-DEV"));
        assert!(Path::new(aps[1]["certificate"].as_str().unwrap()).is_file());
        let orgs = value["organisations"].as_array().unwrap();
        assert_eq!(orgs.len(), 2);
        assert_eq!(orgs[1]["access_point"].as_str(), Some("AP0002-DEV"));
        assert!(matches!(init_federation(&args), Err(FederationError::Exists(_))));
    }
}
