//! `sdk-ap init`: writes a ready-to-serve development configuration and test PKI into a folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::config::{Config, CONFIG_FILE_NAME, SDK_PARTY_ID_TYPE};
use crate::pki::dev::{write_file, DevPki, DevPkiFiles, DevPkiOptions};

/// Folder inside the node directory that holds keys, certificates and the CRL.
pub const KEYS_DIR: &str = "keys";
/// Folder of further trusted CAs (peers' development CAs), listed in the `trust.*_anchors` settings.
pub const TRUST_ANCHORS_DIR: &str = "trust/anchors";
/// Folder of further CRLs, listed in the `trust.*_crls` settings.
pub const TRUST_CRLS_DIR: &str = "trust/crls";
/// The operator API token `init` creates (mode 0600), read by `sdk-ap send` / `status` through
/// `[api] client_token_file`.
pub const OPERATOR_TOKEN_FILE: &str = "keys/api-operator.token";
/// The name of that token in the tokens file.
pub const OPERATOR_TOKEN_NAME: &str = "operator";
/// The hashed API tokens `init` configures: next to the keys (configuration, not data), so moving the store
/// elsewhere (a container's data volume) keeps every token valid.
pub const API_TOKENS_FILE: &str = "keys/api-tokens.json";

/// Create a development access point: configuration, test CA, certificates and CRL.
///
/// Writes DIR/sdk-ap.toml and DIR/keys/ (a root CA, the RSA 3072 message certificate whose CN is the party id,
/// Ed25519 and X25519 certificates for eDelivery AS4 2.0, a TLS server/client certificate for localhost, and an
/// empty CRL). Private keys are written with mode 0600. Existing files are never overwritten without --force.
/// For development and tests only: production keys come from DIGG's PKI and SITHS.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Folder to create the node in (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Party id of this access point; becomes the CN of its certificates.
    #[arg(long, value_name = "ID", default_value = "AP0001-DEV")]
    pub party: String,
    /// AS4 (HTTPS) port, listening on 127.0.0.1.
    #[arg(long, value_name = "N", default_value_t = 8443)]
    pub port: u16,
    /// Local API port, listening on 127.0.0.1 (default: 8080, or the AS4 port + 1 when --port is given).
    #[arg(long, value_name = "N")]
    pub api_port: Option<u16>,
    /// Replace an existing configuration and keys.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}: already exists; not overwriting it (use --force to replace the configuration and keys)", .0.display())]
    Exists(PathBuf),
    #[error("invalid party id {0:?}: use letters, digits, '-', '_' or '.', e.g. AP0001-DEV")]
    BadPartyId(String),
    #[error("--api-port {0} is the same as --port")]
    SamePorts(u16),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("generating the development PKI failed: {0}")]
    Pki(String),
    #[error("the written configuration does not load: {0}")]
    Config(String),
    #[error("creating the operator API token failed: {0}")]
    Token(String),
}

/// What `init` wrote.
#[derive(Debug)]
pub struct InitOutcome {
    pub config_file: PathBuf,
    pub files: DevPkiFiles,
    /// The operator API token (mode 0600).
    pub operator_token_file: PathBuf,
}

pub fn run(args: InitArgs) -> ExitCode {
    match init(&args) {
        Ok(outcome) => {
            print_summary(&args, &outcome);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sdk-ap init: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Does the work of `sdk-ap init`; refuses before writing anything when a target file exists and `force` is off.
pub fn init(args: &InitArgs) -> Result<InitOutcome, InitError> {
    let party = &args.party;
    if party.is_empty() || !party.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(InitError::BadPartyId(party.clone()));
    }
    let api_port = args.api_port.unwrap_or(if args.port == 8443 {
        8080
    } else {
        args.port.wrapping_add(1)
    });
    if api_port == args.port {
        return Err(InitError::SamePorts(api_port));
    }
    let config_file = args.dir.join(CONFIG_FILE_NAME);
    let keys_dir = args.dir.join(KEYS_DIR);
    let files = DevPkiFiles::in_dir(&keys_dir);
    let operator_token_file = args.dir.join(OPERATOR_TOKEN_FILE);
    if !args.force {
        // The configuration and keys first: those are what an operator would lose.
        let tokens_file = args.dir.join(API_TOKENS_FILE);
        let targets = std::iter::once(config_file.clone())
            .chain(files.all().into_iter().map(|(p, _)| p.to_path_buf()))
            .chain([operator_token_file.clone(), tokens_file]);
        if let Some(existing) = targets.into_iter().find(|p| p.exists()) {
            return Err(InitError::Exists(existing.to_path_buf()));
        }
    }
    let pki = DevPki::generate(&DevPkiOptions::new(party)).map_err(|e| InitError::Pki(e.to_string()))?;
    pki.write(&keys_dir, true).map_err(|e| InitError::Io {
        path: keys_dir.clone(),
        message: e.to_string(),
    })?;
    for sub in [TRUST_ANCHORS_DIR, TRUST_CRLS_DIR] {
        let path = args.dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| InitError::Io {
            path,
            message: e.to_string(),
        })?;
    }
    let toml = render_config(party, args.port, api_port);
    write_file(&config_file, toml.as_bytes(), false).map_err(|e| InitError::Io {
        path: config_file.clone(),
        message: e.to_string(),
    })?;
    // What we write must load and validate; anything else is a bug here, not the user's problem.
    let config = Config::load(&config_file).map_err(|e| InitError::Config(e.to_string()))?;
    config.validate().map_err(|e| InitError::Config(e.to_string()))?;
    create_operator_token(&config, &operator_token_file, args.force)?;
    Ok(InitOutcome {
        config_file,
        files,
        operator_token_file,
    })
}

/// An unrestricted API token for the node's own CLI; with `force`, an earlier operator token is revoked first.
fn create_operator_token(config: &Config, token_file: &Path, force: bool) -> Result<(), InitError> {
    use crate::api::tokens;
    let tokens_file = config.api_tokens_file();
    if force {
        match tokens::revoke(&tokens_file, OPERATOR_TOKEN_NAME) {
            Ok(_) | Err(tokens::TokenError::Unknown(_)) => {}
            Err(e) => return Err(InitError::Token(e.to_string())),
        }
    }
    let new = tokens::NewToken {
        name: OPERATOR_TOKEN_NAME.into(),
        operator: true,
        scopes: Vec::new(),
        expires: None,
    };
    let (_, token) = tokens::create(&tokens_file, new).map_err(|e| InitError::Token(e.to_string()))?;
    tokens::write_token_file(token_file, &token, force).map_err(|e| InitError::Token(e.to_string()))
}

/// The configuration file `init` writes, commented for a newcomer.
pub fn render_config(party: &str, port: u16, api_port: u16) -> String {
    let participant = format!("0203:{}.example", party.to_ascii_lowercase());
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# sdk-ap configuration written by `sdk-ap init` (development PKI: never use these keys in production).
# Every setting is described in docs/configuration.md. Relative paths are relative to this file's folder.

[node]
party_id = "{party}"
party_id_type = "{SDK_PARTY_ID_TYPE}"
# Participants this access point delivers to; messages for anyone else get EBMS:0004 NOT_SERVICED.
served_participants = ["{participant}"]
data_dir = "data"

[server]
listen = "127.0.0.1:{port}"
tls = true
public_endpoint = "https://localhost:{port}/as4"

[keys.message]   # RSA 3072, CN = party id: SDK / eDelivery AS4 1.15 signing and key transport
key = "keys/message.key.pem"
cert = "keys/message.pem"

[keys.ed25519]   # eDelivery AS4 2.0 signing
key = "keys/ed25519.key.pem"
cert = "keys/ed25519.pem"

[keys.x25519]    # eDelivery AS4 2.0 key agreement
key = "keys/x25519.key.pem"
cert = "keys/x25519.pem"

[keys.tls]       # TLS server and client certificate (localhost, 127.0.0.1)
key = "keys/tls.key.pem"
cert = "keys/tls.pem"

[trust]
# Our development CA, plus every CA (and CRL) in trust/anchors (trust/crls): `sdk-ap peers add` puts peers' there.
message_anchors = ["keys/ca.pem", "{TRUST_ANCHORS_DIR}"]
message_crls = ["keys/ca.crl.pem", "{TRUST_CRLS_DIR}"]
tls_anchors = ["keys/ca.pem", "{TRUST_ANCHORS_DIR}"]
tls_crls = ["keys/ca.crl.pem", "{TRUST_CRLS_DIR}"]

[pmodes]
builtin = ["sdk"]
files = []

[limits]
# Defaults apply; see docs/configuration.md (e.g. max_message_bytes, max_payload_bytes).

[api]
listen = "127.0.0.1:{api_port}"
# Every call needs `Authorization: Bearer <token>` (`sdk-ap api-token create`, docs/api.md). `sdk-ap send` and
# `sdk-ap status` use the operator token `init` wrote to {OPERATOR_TOKEN_FILE} (mode 0600).
authentication = "token"
tokens_file = "{API_TOKENS_FILE}"
client_token_file = "{OPERATOR_TOKEN_FILE}"

# Access points this one sends to without discovery. `sdk-ap peers add --config THIS --from OTHER.toml` adds one.
# [[peers]]
# party_id = "AP0002-DEV"
# endpoint = "https://localhost:9443/as4"
# message_cert = "peers/AP0002-DEV/message.pem"
# tls_cert = "peers/AP0002-DEV/tls.pem"
"#
    );
    s
}

fn print_summary(args: &InitArgs, outcome: &InitOutcome) {
    println!(
        "Created development access point {} in {}",
        args.party,
        args.dir.display()
    );
    println!("  {}", outcome.config_file.display());
    for (path, private) in outcome.files.all() {
        println!(
            "  {}{}",
            path.display(),
            if private { "  (private key, mode 0600)" } else { "" }
        );
    }
    println!(
        "  {}  (operator API token, mode 0600)",
        outcome.operator_token_file.display()
    );
    let config = shell_path(&outcome.config_file);
    println!();
    println!("Next: sdk-ap serve --config {config}");
}

fn shell_path(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
