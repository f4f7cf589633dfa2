//! `conformance run [--filter ID]... [--report FILE.json] [--long]`: runs the conformance cases against a local
//! federation and exits non-zero when any case fails.
//! `conformance bench [--quick | --smoke] [--gib]`: the published performance figures (docs/performance.md, see
//! `conformance::bench`).

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
    /// Measures throughput, latency and peak RSS of two sdk-ap processes (and PyPI as4) against the machine's
    /// openssl speed ceilings; writes docs/performance.md and its SVG chart.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// The sdk-ap binary (build it with `cargo build --release -p access-point`).
    #[arg(long, default_value = "target/release/sdk-ap")]
    sdk_ap: PathBuf,
    /// Also measure 1 GiB payloads (minutes, and several GiB of disk).
    #[arg(long)]
    gib: bool,
    /// Fewer messages per size (a loaded or small machine); the page says so.
    #[arg(long)]
    quick: bool,
    /// A few tiny messages (1 KB, 100 KB): proves the tool runs, in seconds (CI); not figures to publish.
    #[arg(long, conflicts_with_all = ["quick", "gib"])]
    smoke: bool,
    /// Seconds per openssl speed measurement.
    #[arg(long, default_value_t = 3)]
    openssl_seconds: u32,
    /// Leave out the PyPI as4 comparison.
    #[arg(long)]
    no_as4: bool,
    /// How often a message's state is polled, in milliseconds, should the sender's event stream break (outcomes
    /// normally come from that stream).
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// The markdown page to write.
    #[arg(long, default_value = "docs/performance.md")]
    markdown: PathBuf,
    /// The SVG chart to write (the page links it by file name, so keep it next to the page).
    #[arg(long, default_value = "docs/performance.svg")]
    svg: PathBuf,
    /// Working folder (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn bench(args: BenchArgs) -> ExitCode {
    let command = std::iter::once("conformance".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let options = conformance::bench::BenchOptions {
        sdk_ap: args.sdk_ap,
        gib: args.gib,
        scale: if args.smoke {
            conformance::bench::Scale::Smoke
        } else if args.quick {
            conformance::bench::Scale::Quick
        } else {
            conformance::bench::Scale::Full
        },
        openssl_seconds: args.openssl_seconds,
        no_as4: args.no_as4,
        poll: std::time::Duration::from_millis(args.poll_ms.max(1)),
        markdown: args.markdown,
        svg: args.svg,
        work_dir: args.work_dir,
        command,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("conformance bench: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(conformance::bench::run(&options)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (filter, report, long, known_gaps) = match cli.command {
        Command::Run {
            filter,
            report,
            long,
            known_gaps,
        } => (filter, report, long, known_gaps),
        Command::Bench(args) => return bench(args),
    };
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
