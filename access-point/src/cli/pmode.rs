//! `sdk-ap pmode`: check P-Mode files and import Domibus P-Modes.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Work with P-Modes, the agreements that say how messages are exchanged with other access points.
///
/// A P-Mode fixes, for one kind of message (service + action), who sends it to whom, how it is signed and
/// encrypted, how receipts, retries and errors work, and which payloads it may carry. sdk-ap reads P-Modes from
/// TOML files; the field reference is docs/pmode.md. The SDK profile and the eDelivery AS4 2.0 profile are built in.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PmodeArgs {
    #[command(subcommand)]
    pub command: PmodeCommand,
}

#[derive(Debug, Subcommand)]
pub enum PmodeCommand {
    /// Check P-Mode TOML files: prints "OK" with the P-Mode ids for each good file, or every error found.
    ///
    /// Each error names the file, the line, the P-Mode and the field, for example:
    ///   pmodes.toml:12: pmode "sdk-message": security.signature.algorithm: "rsa-sha1" is not allowed (...)
    /// The files are also checked together: a P-Mode id may be defined only once across all of them.
    /// Exits with status 1 if anything is wrong.
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),
    /// Convert a Domibus P-Mode XML file (e.g. DIGG's p-mode.xml) to sdk-ap P-Mode TOML, printed on stdout.
    ///
    /// Every Domibus process x leg becomes one P-Mode. Review the result, then save it and run
    /// `sdk-ap pmode check` on it. Example:
    ///   sdk-ap pmode import-domibus p-mode.xml > pmodes.toml
    #[command(verbatim_doc_comment)]
    ImportDomibus(ImportDomibusArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// P-Mode TOML files to check.
    #[arg(value_name = "FILE", required_unless_present = "builtin")]
    pub files: Vec<PathBuf>,
    /// Also check the built-in profiles (SDK, eDelivery AS4 2.0) as shipped in sdk-ap.
    #[arg(long)]
    pub builtin: bool,
}

#[derive(Debug, Args)]
pub struct ImportDomibusArgs {
    /// The Domibus P-Mode configuration XML file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `sdk-ap pmode …`.
pub fn run(args: PmodeArgs) -> ExitCode {
    match args.command {
        PmodeCommand::Check(args) => check(args),
        PmodeCommand::ImportDomibus(args) => import_domibus(args),
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let mut failed = false;
    let mut all = ::pmode::PModeSet::default();
    let mut report = |name: &str, result: Result<Vec<::pmode::LoadedPMode>, ::pmode::PModeErrors>| match result {
        Ok(loaded) => {
            let ids: Vec<&str> = loaded.iter().map(|l| l.pmode.id.as_str()).collect();
            let set = ::pmode::PModeSet::from_loaded(loaded.clone());
            match set.and_then(|set| all.merge(set)) {
                Ok(()) => println!("{name}: OK ({} P-Mode(s): {})", ids.len(), ids.join(", ")),
                Err(errors) => {
                    eprintln!("{errors}");
                    failed = true;
                }
            }
        }
        Err(errors) => {
            eprintln!("{errors}");
            failed = true;
        }
    };
    if args.builtin {
        for (name, text) in ::pmode::builtin::toml_files() {
            report(name, ::pmode::load_str(text, name));
        }
    }
    for path in &args.files {
        report(&path.display().to_string(), ::pmode::load_file(path));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn import_domibus(args: ImportDomibusArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let bytes = match read_capped(&args.file, ::pmode::domibus::MAX_DOMIBUS_XML_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match ::pmode::domibus::import_to_toml(&bytes) {
        Ok(toml) => {
            println!("# Imported from the Domibus P-Mode file {name} by `sdk-ap pmode import-domibus`.");
            println!("# Review it, then check it with `sdk-ap pmode check`. Field reference: docs/pmode.md.\n");
            print!("{toml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads at most `max + 1` bytes so that an over-long file is refused (by the importer) without reading all of it.
fn read_capped(path: &std::path::Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
