//! The `sdk-ap` command line. Each sub-command lives in its own file; this module only wires them to clap.

pub mod addresses;
pub mod api_token;
pub mod demo;
pub mod federation;
pub mod inbox;
pub mod init;
pub mod lookup;
pub mod message;
pub mod peers;
pub mod pmode;
pub mod send;
pub mod serve;
pub mod status;

use clap::{Parser, Subcommand};

/// sdk-ap: an AS4 access point for the Swedish SDK federation ("Säker digital kommunikation") and eDelivery.
///
/// Start with `sdk-ap init --dir DIR` to create a development configuration and test PKI.
#[derive(Debug, Parser)]
#[command(name = "sdk-ap", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process; boxing the large argument structs would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Start a two-organisation SDK federation in this process and send a message through it (a first look).
    Demo(demo::DemoArgs),
    /// Create a development access point (configuration, test CA, certificates, CRL) in a folder.
    Init(init::InitArgs),
    /// Write a local federation file (for sdk-federation-sim) serving the given access points' participants.
    InitFederation(federation::InitFederationArgs),
    /// Check P-Mode files, or import P-Modes from a Domibus configuration.
    Pmode(pmode::PmodeArgs),
    /// Look a participant up through SML and SMP and print the whole chain.
    Lookup(lookup::LookupArgs),
    /// Query the SDK address book (organisations, functional addresses).
    Addresses(addresses::AddressesArgs),
    /// Run the access point: the AS4 server (mutual TLS) and the sender, until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Seal a signed and encrypted AS4 message to a file, or inspect (verify, decrypt) a captured one.
    Message(message::MessageArgs),
    /// Submit a message to the running server through its local API; optionally wait for the receipt.
    Send(send::SendArgs),
    /// Message counts by direction and state and the last errors (from the server, or the store when stopped).
    Status(status::StatusArgs),
    /// Link another access point as a peer (endpoint, party id, certificates, trust).
    Peers(peers::PeersArgs),
    /// Create, list and revoke tokens of the local API (scoped to organisations / functional addresses).
    ApiToken(api_token::ApiTokenArgs),
    /// The inbox of the running server: list, show, fetch attachments, acknowledge, send the kvittens.
    Inbox(inbox::InboxArgs),
}

/// Parses the command line and runs the chosen sub-command; returns the process exit code.
pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Init(args) => init::run(args),
        Command::InitFederation(args) => federation::run(args),
        Command::Pmode(args) => pmode::run(args),
        Command::Lookup(args) => lookup::run(args),
        Command::Addresses(args) => addresses::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Message(args) => message::run(args),
        Command::Send(args) => send::run(args),
        Command::Status(args) => status::run(args),
        Command::Peers(args) => peers::run(args),
        Command::ApiToken(args) => api_token::run(args),
        Command::Inbox(args) => inbox::run(args),
    }
}
