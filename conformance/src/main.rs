//! `conformance run [--filter ID]... [--report FILE.json] [--long]`: runs the conformance cases against a local
//! federation and exits non-zero when any case fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use conformance::runner::{self, RunOptions};

#[derive(Parser)]
#[command(name = "conformance", about = "The sdk-ap conformance suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the cases of shared/conformance/cases.md.
    Run {
        /// Runs only cases whose id contains this text (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// Writes the JSON report (results and evidence) here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Also runs long cases (e.g. the 70 MB message); also enabled by SDK_AP_CONFORMANCE_LONG=1.
        #[arg(long)]
        long: bool,
        /// The known-gaps list (defaults to the crate's known-gaps.toml).
        #[arg(long)]
        known_gaps: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run {
        filter,
        report,
        long,
        known_gaps,
    } = cli.command;
    let options = RunOptions {
        filters: filter,
        report,
        long: long || std::env::var("SDK_AP_CONFORMANCE_LONG").is_ok_and(|v| v == "1"),
        known_gaps: known_gaps.unwrap_or_else(runner::default_known_gaps_path),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("conformance: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(runner::run(&options)) {
        Ok(report) if report.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}
