//! `sdk-ap inbox list|show|fetch|ack|kvittens`: the inbox of the running server, through its local API.
//!
//! The token is chosen as for `sdk-ap send`: `--token`, then `SDK_AP_TOKEN`, then `[api] client_token_file`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::client::{Downloaded, InboxFilter};
use crate::api::inbox::{InboxItemView, KvittensBody};
use crate::api::ApiClient;
use crate::config::Config;

/// Read and answer the inbox of the running server.
#[derive(Debug, Clone, clap::Args)]
pub struct InboxArgs {
    /// The node configuration file (for `[api] listen` and the token file).
    #[arg(long, value_name = "FILE", global = true, default_value = "sdk-ap.toml")]
    pub config: PathBuf,
    /// An API token (`sdk-ap api-token create`); overrides SDK_AP_TOKEN and `[api] client_token_file`.
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: InboxCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum InboxCommand {
    /// List inbox messages (oldest first).
    List {
        #[arg(long)]
        participant: Option<String>,
        #[arg(long)]
        functional_address: Option<String>,
        /// new, fetched or acknowledged.
        #[arg(long)]
        state: Option<String>,
        /// Continue after this cursor (printed as `next cursor` by the previous page).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        /// Print the JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show one message's metadata (JSON).
    Show { message_id: String },
    /// Download an attachment (`--attachment N`) or the whole document to a file or stdout.
    Fetch {
        message_id: String,
        /// Attachment index from 0; without it the whole received document (XHE with the SDK message).
        #[arg(long)]
        attachment: Option<usize>,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Mark a message acknowledged (or only fetched with `--fetched`).
    Ack {
        message_id: String,
        #[arg(long)]
        fetched: bool,
    },
    /// Send the kvittens: `--accept`, or `--reject --reason-code BV --description TEXT`.
    Kvittens {
        message_id: String,
        #[arg(long, conflicts_with = "reject")]
        accept: bool,
        #[arg(long)]
        reject: bool,
        /// SV (schema), BV (business rule) or SIG (signature).
        #[arg(long, requires = "reject")]
        reason_code: Option<String>,
        #[arg(long, requires = "reject")]
        description: Option<String>,
    },
}

pub fn run(args: InboxArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(text) => {
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; returns what to print on stdout.
pub async fn execute(args: InboxArgs) -> Result<String, String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let client = ApiClient::for_config(&config, args.token.as_deref()).map_err(|e| e.to_string())?;
    let pretty = |v: &serde_json::Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    match args.command {
        InboxCommand::List {
            participant,
            functional_address,
            state,
            cursor,
            limit,
            json,
        } => {
            let filter = InboxFilter {
                participant,
                functional_address,
                state,
                cursor,
                limit,
            };
            let page = client.inbox_list(&filter).await.map_err(|e| e.to_string())?;
            if json {
                return Ok(pretty(&serde_json::to_value(&page).unwrap_or_default()));
            }
            Ok(render_list(&page.items, page.next_cursor.as_deref()))
        }
        InboxCommand::Show { message_id } => {
            let item = client.inbox_show(&message_id).await.map_err(|e| e.to_string())?;
            Ok(pretty(&serde_json::to_value(item).unwrap_or_default()))
        }
        InboxCommand::Fetch {
            message_id,
            attachment,
            output,
        } => {
            let done: Downloaded = match &output {
                Some(path) => {
                    let mut file = tokio::fs::File::create(path)
                        .await
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    client
                        .inbox_download(&message_id, attachment, &mut file)
                        .await
                        .map_err(|e| e.to_string())?
                }
                None => {
                    let mut stdout = tokio::io::stdout();
                    client
                        .inbox_download(&message_id, attachment, &mut stdout)
                        .await
                        .map_err(|e| e.to_string())?
                }
            };
            Ok(match output {
                Some(path) => format!(
                    "{} bytes ({}) written to {}\n",
                    done.bytes,
                    done.content_type.unwrap_or_default(),
                    path.display()
                ),
                None => String::new(),
            })
        }
        InboxCommand::Ack { message_id, fetched } => {
            let state = if fetched { "fetched" } else { "acknowledged" };
            let answer = client.inbox_ack(&message_id, state).await.map_err(|e| e.to_string())?;
            Ok(pretty(&answer))
        }
        InboxCommand::Kvittens {
            message_id,
            accept,
            reject,
            reason_code,
            description,
        } => {
            if accept == reject {
                return Err("give exactly one of --accept and --reject".into());
            }
            let body = KvittensBody {
                response: if accept { "ACCEPTED" } else { "REJECTED" }.into(),
                reason_code,
                description,
            };
            let answer = client
                .inbox_kvittens(&message_id, &body)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "kvittens {} {} submitted as message {}\n",
                answer.kvittens_id, body.response, answer.message_id
            ))
        }
    }
}

fn render_list(items: &[InboxItemView], next: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str("MESSAGE ID                                STATE         RECIPIENT / FUNCTIONAL ADDRESS       SENDER                    FILES  SUBJECT\n");
    for item in items {
        out.push_str(&format!(
            "{:<41} {:<13} {:<36} {:<25} {:>5}  {}\n",
            item.message_id,
            item.state,
            format!(
                "{} / {}",
                item.recipient,
                item.functional_address.as_deref().unwrap_or("-")
            ),
            item.sender,
            item.attachments.len(),
            item.subject.as_deref().unwrap_or("")
        ));
    }
    if let Some(next) = next {
        out.push_str(&format!("next cursor: {next}\n"));
    }
    out
}
