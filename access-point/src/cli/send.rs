//! `sdk-ap send --config FILE --to PARTY [--pmode NAME] --payload FILE[:mime]... [--wait [--timeout S]]`: submits a
//! message through the running server's local API and, with `--wait`, polls until it is Delivered (prints the
//! receipt summary, exit 0) or Failed (prints the reason, exit 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::api::client::UploadPayload;
use crate::api::status::MessageView;
use crate::api::submit::SubmitRequest;
use crate::api::ApiClient;
use crate::config::Config;
use crate::store::State;

/// How often `--wait` asks for the message state.
pub const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Submit a message to the running server.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The node configuration file (its `[api] listen` is where the server is asked).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The receiving access point's PartyId; when left out it is resolved from --final-recipient.
    #[arg(long, value_name = "PARTY")]
    pub to: Option<String>,
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

async fn send(args: SendArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = ApiClient::new(config.api.listen);
    let metadata = SubmitRequest {
        to: args.to.clone().unwrap_or_default(),
        pmode: args.pmode.clone(),
        service: args.service.clone(),
        service_type: args.service_type.clone(),
        action: args.action.clone(),
        original_sender: args.original_sender.clone().unwrap_or_default(),
        final_recipient: args.final_recipient.clone().unwrap_or_default(),
        ..SubmitRequest::default()
    };
    let payloads: Vec<UploadPayload> = args.payload.iter().map(|p| parse_payload(p)).collect();
    let accepted = match client.submit(&metadata, &payloads).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("accepted {} (P-Mode {})", accepted.message_id, accepted.pmode_id);
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
}
