//! `sdk-ap peers add --config A.toml --from B.toml`: links access point B into A's configuration (endpoint, party
//! id, certificates, B's CAs and CRLs into A's trust stores), through [`crate::config::link::add_peer_from`].

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::link::add_peer_from;

/// Manage the static `[[peers]]` table.
#[derive(Debug, Clone, clap::Args)]
pub struct PeersArgs {
    #[command(subcommand)]
    pub command: PeersCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PeersCommand {
    /// Add another access point (read from its configuration file) as a peer of this one.
    Add(PeersAddArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct PeersAddArgs {
    /// This access point's configuration file (it is edited: a `[[peers]]` block is appended).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The other access point's configuration file (read only).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
}

pub fn run(args: PeersArgs) -> ExitCode {
    match args.command {
        PeersCommand::Add(add) => match add_peer_from(&add.config, &add.from) {
            Ok(added) => {
                println!("added peer {} at {}", added.party_id, added.endpoint);
                for path in &added.written {
                    println!("  wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
