//! `sdk-ap api-token`: create, list and revoke tokens of the local API.
//!
//! The tokens file (`[api] tokens_file`, default `<data_dir>/api-tokens.json`) keeps only SHA-256 digests; the
//! token itself is shown once, at creation (or written to a 0600 file with `--token-file`). The running server
//! sees every change at its next request.
//!
//! `create --client-cert FILE` registers a client certificate (mutual TLS, `[api.tls]`) instead of making a token:
//! the entry keeps the certificate's SHA-256 fingerprint, and the certificate then authenticates as `mtls:NAME`
//! with the given scope; `revoke NAME` ends it like a token.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use crate::api::tokens::{self, NewToken, StoredScope, TokenError, TokenRecord};
use crate::config::Config;

/// Manage API tokens (hashed at rest; scoped to organisations and functional addresses).
#[derive(Debug, Clone, Args)]
pub struct ApiTokenArgs {
    #[command(subcommand)]
    pub command: ApiTokenCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token and print it once.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Revoke a token by name or id; it stops working at the server's next request.
    Revoke(RevokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// A name for the token (letters, digits, '-', '_', '.'); recorded as `token:NAME` in history and audit.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// What the token may do: `ORG[/FUNCTIONAL_ADDRESS]:send,read`, e.g. `0203:2120000829/socialtjanst:send,read`
    /// (ORG a participant id). Repeatable.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// An unrestricted token: every organisation, and the node status.
    #[arg(long, conflicts_with = "scopes")]
    pub operator: bool,
    /// The token stops working after this many days.
    #[arg(long, value_name = "DAYS")]
    pub expires_in_days: Option<u32>,
    /// Write the token to this new file (mode 0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Register this client certificate (PEM or DER; the first certificate of the file) instead of making a
    /// token: with `[api.tls]`, a client presenting exactly this certificate gets the scope (actor `mtls:NAME`).
    #[arg(long, value_name = "FILE", conflicts_with = "token_file")]
    pub client_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The token's name or id.
    pub token: String,
}

/// Why a token command failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiTokenError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{}: {message}", path.display())]
    ClientCertificate { path: PathBuf, message: String },
}

pub fn run(args: ApiTokenArgs) -> ExitCode {
    let result = match args.command {
        ApiTokenCommand::Create(a) => create(&a).map(|(record, shown)| print_created(&record, &shown, &a)),
        ApiTokenCommand::List(a) => list(&a.config).map(|records| print_list(&records, a.json)),
        ApiTokenCommand::Revoke(a) => revoke(&a.config, &a.token).map(|r| {
            println!(
                "Revoked token {} ({}); the server refuses it from its next request.",
                r.name, r.id
            )
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdk-ap api-token: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tokens_file(config: &Path) -> Result<PathBuf, ApiTokenError> {
    Ok(load_config(config)?.api_tokens_file())
}

fn load_config(config: &Path) -> Result<Config, ApiTokenError> {
    Config::load(config).map_err(|e| ApiTokenError::Config(e.to_string()))
}

/// Creates the token; returns its record and the token text (`None` when it went to `--token-file`, or for a
/// client certificate entry).
pub fn create(args: &CreateArgs) -> Result<(TokenRecord, Option<String>), ApiTokenError> {
    let config = load_config(&args.config)?;
    let path = config.api_tokens_file();
    let scopes = args
        .scopes
        .iter()
        .map(|s| StoredScope::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let expires = args
        .expires_in_days
        .map(|days| OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)));
    let new = NewToken {
        name: args.name.clone(),
        operator: args.operator,
        scopes,
        expires,
    };
    if let Some(file) = &args.client_cert {
        let certificate = client_certificate(&config, file)?;
        return Ok((tokens::create_for_certificate(&path, new, &certificate)?, None));
    }
    if let Some(file) = &args.token_file {
        if file.exists() {
            return Err(TokenError::Io {
                path: file.clone(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists; not overwriting it"),
            }
            .into());
        }
    }
    let (record, token) = tokens::create(&path, new)?;
    match &args.token_file {
        Some(file) => {
            if let Err(e) = tokens::write_token_file(file, &token, false) {
                // Do not leave a token nobody holds.
                let _ = tokens::revoke(&path, &record.id);
                return Err(e.into());
            }
            Ok((record, None))
        }
        None => Ok((record, Some(token.to_string()))),
    }
}

/// Loads the certificate to register; with `[api.tls]` configured, it must verify against `[api.tls] client_ca`
/// as a TLS client certificate now (the handshake would refuse it otherwise, and the entry would be dead).
fn client_certificate(config: &Config, file: &Path) -> Result<openssl::x509::X509, ApiTokenError> {
    let bad = |message: String| ApiTokenError::ClientCertificate {
        path: file.to_path_buf(),
        message,
    };
    let mut certificates = crate::pki::keys::load_certificates(file).map_err(|e| bad(e.to_string()))?;
    let certificate = certificates.remove(0);
    if let Some((_, client_trust)) = config.api_tls().map_err(|e| ApiTokenError::Config(e.to_string()))? {
        client_trust
            .verify(
                &certificate,
                &certificates,
                crate::pki::Purpose::TlsClient,
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| bad(format!("not accepted by [api.tls] client_ca: {e}")))?;
    }
    Ok(certificate)
}

pub fn list(config: &Path) -> Result<Vec<TokenRecord>, ApiTokenError> {
    Ok(tokens::list(&tokens_file(config)?)?)
}

pub fn revoke(config: &Path, name_or_id: &str) -> Result<TokenRecord, ApiTokenError> {
    Ok(tokens::revoke(&tokens_file(config)?, name_or_id)?)
}

fn print_created(record: &TokenRecord, shown: &Option<String>, args: &CreateArgs) {
    match (shown, &args.token_file) {
        (Some(token), _) => {
            println!("{token}");
            eprintln!(
                "Created token {} ({}): {}. It is shown only now; the server keeps only its hash.",
                record.name,
                record.id,
                describe(record)
            );
            eprintln!("Use it as `Authorization: Bearer <token>`, or SDK_AP_TOKEN=<token> for sdk-ap send/status.");
        }
        (None, Some(file)) => println!(
            "Created token {} ({}): {}; written to {} (mode 0600).",
            record.name,
            record.id,
            describe(record),
            file.display()
        ),
        (None, None) => println!(
            "Registered client certificate {} ({}): {}; it authenticates as mtls:{} on a [api.tls] listener.",
            record.client_cert_subject.as_deref().unwrap_or("?"),
            record.id,
            describe(record),
            record.name
        ),
    }
}

fn describe(record: &TokenRecord) -> String {
    let scope = if record.operator {
        "operator (unrestricted)".to_string()
    } else {
        record
            .scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let scope = match &record.client_cert_sha256 {
        Some(fingerprint) => format!("{scope}, client certificate SHA-256 {fingerprint}"),
        None => scope,
    };
    match record.expires {
        Some(at) => format!("{scope}, expires {}", rfc3339(at)),
        None => scope,
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn print_list(records: &[TokenRecord], json: bool) {
    let now = OffsetDateTime::now_utc();
    if json {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "name": r.name,
                    "state": r.state_at(now),
                    "operator": r.operator,
                    "scopes": r.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "created": rfc3339(r.created),
                    "expires": r.expires.map(rfc3339),
                    "client_cert_sha256": r.client_cert_sha256,
                    "client_cert_subject": r.client_cert_subject,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return;
    }
    if records.is_empty() {
        println!("No API tokens. Create one with `sdk-ap api-token create --config FILE --name NAME --scope ...`.");
        return;
    }
    println!("{:<16}  {:<20}  {:<8}  {:<20}  SCOPE", "ID", "NAME", "STATE", "CREATED");
    for r in records {
        println!(
            "{:<16}  {:<20}  {:<8}  {:<20}  {}",
            r.id,
            r.name,
            r.state_at(now),
            rfc3339(r.created),
            describe(r)
        );
    }
}
