//! `sdk-ap send`: submits a message through the running server's local API and, with `--wait`, polls until it is
//! Delivered (prints the receipt summary, exit 0) or Failed (prints the reason, exit 1).
//!
//! Two modes:
//! * SDK (`--document`, `--sdk-message` or `--xhe`): an SDK message to a functional address. With `--document` the
//!   access point builds the SDK message v3 and its XHE envelope from the metadata flags, the document and the
//!   `--attachment` files; `--sdk-message` / `--xhe` upload one the client built. Files stream from disk; uploads
//!   larger than [`PROGRESS_MIN_BYTES`] show a progress line on stderr (bytes sent / total, rate).
//! * raw (`--payload`): AS4 payloads as they are, for a P-Mode (`--to`, `--pmode`, `--service`/`--action`, ...).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::client::{SubmitOptions, UploadPayload};
use crate::api::status::MessageView;
use crate::api::submit::{Protection, SdkAddress, SdkSubmitRequest, SubmitFormat, SubmitRequest};
use crate::api::ApiClient;
use crate::config::Config;
use crate::store::State;

/// How often `--wait` asks for the message state.
pub const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Uploads at least this large show a progress line on stderr.
pub const PROGRESS_MIN_BYTES: u64 = 8 << 20;
/// How often the progress line is redrawn at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

const SDK_MODE: [&str; 3] = ["document", "sdk_message", "xhe"];

/// Submit a message to the running server.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The node configuration file (its `[api] listen` is where the server is asked).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The receiving access point's PartyId; when left out it is resolved from the (final) recipient.
    #[arg(long, value_name = "PARTY")]
    pub to: Option<String>,

    // ---- SDK mode ----
    /// SDK: the business document (the AP builds the SDK message and XHE envelope), optionally `FILE:mime`.
    #[arg(long, value_name = "FILE[:mime]", conflicts_with_all = ["sdk_message", "xhe", "payload"],
        requires_all = ["sender", "sender_address", "recipient", "recipient_address"])]
    pub document: Option<String>,
    /// SDK: an attachment after the document (repeatable), optionally `FILE:mime`.
    #[arg(long, value_name = "FILE[:mime]", requires = "document")]
    pub attachment: Vec<String>,
    /// SDK: an SDK message v3 built by the client (validated and enveloped by the AP).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["xhe", "payload"])]
    pub sdk_message: Option<PathBuf>,
    /// SDK: a whole XHE built by the client (validated and sent as it is).
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    pub xhe: Option<PathBuf>,
    /// SDK: the sending organisation's participant id, e.g. `0203:2120000829`.
    #[arg(long, value_name = "ID")]
    pub sender: Option<String>,
    /// SDK: the sending functional address.
    #[arg(long, value_name = "FA")]
    pub sender_address: Option<String>,
    /// SDK: the receiving organisation's participant id.
    #[arg(long, value_name = "ID")]
    pub recipient: Option<String>,
    /// SDK: the receiving functional address.
    #[arg(long, value_name = "FA")]
    pub recipient_address: Option<String>,
    /// SDK: the subject (messageHeader/label).
    #[arg(long)]
    pub subject: Option<String>,
    /// SDK: mark the message confidential.
    #[arg(long)]
    pub confidential: bool,
    /// SDK: conversation id (a UUID); a new conversation when left out.
    #[arg(long, value_name = "UUID")]
    pub conversation_id: Option<String>,
    /// SDK: XHE protection the AP adds: none, sign, sign-and-encrypt.
    #[arg(long, value_name = "P", default_value = "none", value_parser = parse_protection)]
    pub protection: Protection,
    /// Sent as `Idempotency-Key`: a retry with the same key returns the first answer and sends nothing new.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Always (or, with `--progress=false`, never) show the upload progress line.
    #[arg(long)]
    pub progress: Option<bool>,

    // ---- raw mode ----
    /// The P-Mode; may be left out when exactly one fits.
    #[arg(long, value_name = "NAME")]
    pub pmode: Option<String>,
    /// Service (with --action); taken from the P-Mode when left out.
    #[arg(long, requires = "action")]
    pub service: Option<String>,
    #[arg(long, requires = "service")]
    pub service_type: Option<String>,
    #[arg(long, requires = "service")]
    pub action: Option<String>,
    /// `originalSender` participant, e.g. `0203:sender.example.se`.
    #[arg(long, value_name = "ID", requires = "final_recipient")]
    pub original_sender: Option<String>,
    /// `finalRecipient` participant.
    #[arg(long, value_name = "ID", requires = "original_sender")]
    pub final_recipient: Option<String>,
    /// A payload file, optionally with its MIME type after a colon (default application/octet-stream). Repeatable.
    #[arg(long, value_name = "FILE[:mime]")]
    pub payload: Vec<String>,

    /// Wait for the outcome and print the receipt summary or the failure reason.
    #[arg(long)]
    pub wait: bool,
    /// Seconds `--wait` waits at most (exit 2 when the message is still under way).
    #[arg(long, value_name = "S", default_value_t = 120, requires = "wait")]
    pub timeout: u64,
    /// An API token (`sdk-ap api-token create`); overrides SDK_AP_TOKEN and `[api] client_token_file`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

fn parse_protection(value: &str) -> Result<Protection, String> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| format!("{value:?}: one of none, sign, sign-and-encrypt"))
}

/// `FILE[:mime]`: the MIME type is what follows the last colon when it contains a `/`.
pub fn parse_payload(arg: &str) -> UploadPayload {
    if let Some((path, mime)) = arg.rsplit_once(':') {
        if mime.contains('/') && !path.is_empty() {
            return UploadPayload {
                path: PathBuf::from(path),
                mime_type: mime.to_string(),
            };
        }
    }
    UploadPayload {
        path: PathBuf::from(arg),
        mime_type: "application/octet-stream".into(),
    }
}

impl SendArgs {
    fn is_sdk(&self) -> bool {
        self.document.is_some() || self.sdk_message.is_some() || self.xhe.is_some()
    }

    /// The metadata document and the files to upload, in order.
    pub fn request(&self) -> Result<(serde_json::Value, Vec<UploadPayload>), String> {
        if !self.is_sdk() {
            if self.sender.is_some() || self.recipient.is_some() || !self.attachment.is_empty() {
                return Err(format!(
                    "--sender/--recipient/--attachment need one of --{}",
                    SDK_MODE.join(", --").replace('_', "-")
                ));
            }
            let metadata = SubmitRequest {
                to: self.to.clone().unwrap_or_default(),
                pmode: self.pmode.clone(),
                service: self.service.clone(),
                service_type: self.service_type.clone(),
                action: self.action.clone(),
                original_sender: self.original_sender.clone().unwrap_or_default(),
                final_recipient: self.final_recipient.clone().unwrap_or_default(),
                ..SubmitRequest::default()
            };
            let files = self.payload.iter().map(|p| parse_payload(p)).collect();
            return Ok((serde_json::to_value(metadata).map_err(|e| e.to_string())?, files));
        }
        if self.pmode.is_some() || self.service.is_some() || self.original_sender.is_some() {
            return Err(
                "--pmode/--service/--original-sender are raw-mode flags; SDK messages use the SDK P-Mode".into(),
            );
        }
        let address = |participant: &Option<String>, fa: &Option<String>| {
            participant.as_ref().map(|p| SdkAddress {
                participant: p.clone(),
                functional_address: fa.clone().unwrap_or_default(),
                ..SdkAddress::default()
            })
        };
        let (format, files) = if let Some(document) = &self.document {
            let mut files = vec![parse_payload(document)];
            files.extend(self.attachment.iter().map(|a| parse_payload(a)));
            (SubmitFormat::Sdk, files)
        } else if let Some(path) = &self.sdk_message {
            (SubmitFormat::SdkMessage, vec![xml_file(path)])
        } else {
            let path = self.xhe.as_ref().expect("is_sdk");
            (SubmitFormat::Xhe, vec![xml_file(path)])
        };
        let metadata = SdkSubmitRequest {
            format,
            sender: address(&self.sender, &self.sender_address),
            recipient: address(&self.recipient, &self.recipient_address),
            subject: self.subject.clone(),
            confidentiality: self.confidential,
            conversation_id: self.conversation_id.clone(),
            to: self.to.clone(),
            protection: self.protection,
            ..SdkSubmitRequest::default()
        };
        Ok((serde_json::to_value(metadata).map_err(|e| e.to_string())?, files))
    }
}

fn xml_file(path: &std::path::Path) -> UploadPayload {
    UploadPayload {
        path: path.to_path_buf(),
        mime_type: "application/xml".into(),
    }
}

pub fn run(args: SendArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(send(args))
}

/// Draws `sent / total, rate` on one stderr line, at most every [`PROGRESS_INTERVAL`] and once at the end.
pub fn progress_reporter() -> Arc<dyn Fn(u64, u64) + Send + Sync> {
    let started = Instant::now();
    let last = Mutex::new(None::<Instant>);
    Arc::new(move |sent, total| {
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let done = sent >= total;
        if !done && last.is_some_and(|t| now.duration_since(t) < PROGRESS_INTERVAL) {
            return;
        }
        *last = Some(now);
        eprint!("\r{}", progress_line(sent, total, now.duration_since(started)));
        if done {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    })
}

/// `uploaded 52.4 / 100.0 MiB (52%), 85.3 MiB/s`.
pub fn progress_line(sent: u64, total: u64, elapsed: Duration) -> String {
    const MIB: f64 = (1 << 20) as f64;
    let percent = sent.saturating_mul(100).checked_div(total).unwrap_or(100);
    let seconds = elapsed.as_secs_f64().max(1e-3);
    format!(
        "uploaded {:.1} / {:.1} MiB ({percent}%), {:.1} MiB/s",
        sent as f64 / MIB,
        total as f64 / MIB,
        sent as f64 / MIB / seconds
    )
}

async fn send(args: SendArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (metadata, files) = match args.request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    let options = SubmitOptions {
        idempotency_key: args.idempotency_key.clone(),
        progress: args
            .progress
            .unwrap_or(total >= PROGRESS_MIN_BYTES)
            .then(progress_reporter),
    };
    let client = match ApiClient::for_config(&config, args.token.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let answer = match client.submit_with(&metadata, &files, &options).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let accepted = answer.response;
    println!(
        "{} {} (P-Mode {})",
        if answer.replayed {
            "already accepted"
        } else {
            "accepted"
        },
        accepted.message_id,
        accepted.pmode_id
    );
    if !args.wait {
        return ExitCode::SUCCESS;
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        match client.message(&accepted.message_id).await {
            Ok(Some(view)) if view.state == State::Delivered => {
                print!("{}", delivered_summary(&view));
                return ExitCode::SUCCESS;
            }
            Ok(Some(view)) if view.state == State::Failed => {
                println!(
                    "failed after {} attempt(s): {}",
                    view.attempts,
                    view.last_error.as_deref().unwrap_or("no reason recorded")
                );
                return ExitCode::FAILURE;
            }
            Ok(_) => {}
            // The server may be restarting; keep asking until the deadline.
            Err(e) => tracing::debug!("status poll: {e}"),
        }
        if Instant::now() >= deadline {
            eprintln!(
                "error: {} is not delivered after {} s (still under way)",
                accepted.message_id, args.timeout
            );
            return ExitCode::from(2);
        }
        tokio::time::sleep(WAIT_POLL_INTERVAL).await;
    }
}

fn delivered_summary(view: &MessageView) -> String {
    let mut out = format!(
        "delivered {} to {} after {} attempt(s)\n",
        view.message_id, view.to, view.attempts
    );
    match &view.receipt {
        Some(r) => out.push_str(&format!(
            "receipt: {} bytes at {}, sha256 {}\n",
            r.bytes, r.at, r.sha256
        )),
        None => out.push_str("receipt: none stored\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        send: SendArgs,
    }

    fn parse(args: &[&str]) -> Result<SendArgs, clap::Error> {
        let mut all = vec!["send", "--config", "c.toml"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| c.send)
    }

    #[test]
    fn payload_argument_takes_an_optional_mime_type() {
        let p = parse_payload("/tmp/a.xml:application/xml");
        assert_eq!(
            (p.path, p.mime_type.as_str()),
            (PathBuf::from("/tmp/a.xml"), "application/xml")
        );
        let p = parse_payload("/tmp/a:b.bin");
        assert_eq!(
            (p.path, p.mime_type.as_str()),
            (PathBuf::from("/tmp/a:b.bin"), "application/octet-stream")
        );
    }

    #[test]
    fn sdk_flags_become_an_sdk_submission() {
        let args = parse(&[
            "--sender",
            "0203:a",
            "--sender-address",
            "fa",
            "--recipient",
            "0203:b",
            "--recipient-address",
            "fb",
            "--document",
            "brev.pdf:application/pdf",
            "--attachment",
            "bilaga.bin",
            "--subject",
            "Hej",
            "--protection",
            "sign",
        ])
        .unwrap();
        let (metadata, files) = args.request().unwrap();
        assert_eq!(metadata["format"], "sdk");
        assert_eq!(metadata["sender"]["functional_address"], "fa");
        assert_eq!(metadata["protection"], "sign");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].mime_type, "application/pdf");
        // A document needs both addresses; raw and SDK flags do not mix.
        assert!(parse(&["--document", "a.pdf", "--sender", "0203:a"]).is_err());
        assert!(parse(&["--xhe", "x.xml", "--payload", "p.bin"]).is_err());
        let raw = parse(&["--to", "AP2", "--payload", "p.bin"]).unwrap();
        assert!(raw.request().unwrap().0.get("format").is_none());
    }

    #[test]
    fn progress_line_shows_bytes_share_and_rate() {
        assert_eq!(
            progress_line(50 << 20, 100 << 20, Duration::from_secs(2)),
            "uploaded 50.0 / 100.0 MiB (50%), 25.0 MiB/s"
        );
    }
}
