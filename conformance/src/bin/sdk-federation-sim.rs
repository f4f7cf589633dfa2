//! `sdk-federation-sim`: serves a local SDK federation (address book, signed SMP, SML zone) on 127.0.0.1 from one
//! TOML file. See `conformance::sim` for the file format, the endpoints and the fault switches.

use clap::Parser;
use conformance::sim::config::FederationConfig;
use conformance::sim::pki::SmpPki;
use conformance::sim::{FederationSim, SimOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve a local SDK federation for development and tests.
#[derive(Debug, Parser)]
#[command(name = "sdk-federation-sim", version, about)]
struct Args {
    /// The federation file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// HTTP address (address book under /addressbook, SMP under /smp, control under /sim).
    #[arg(long, default_value = "127.0.0.1:8053")]
    http: SocketAddr,
    /// DNS address (UDP and TCP) of the SML zone.
    #[arg(long, default_value = "127.0.0.1:5353")]
    dns: SocketAddr,
    /// Where to write the SMP CA certificate (PEM), the trust anchor clients configure.
    #[arg(long)]
    write_smp_ca: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.http.ip().is_loopback() || !args.dns.ip().is_loopback() {
        eprintln!("sdk-federation-sim serves on loopback addresses only");
        return ExitCode::from(2);
    }
    let config = match FederationConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // The anchor is written before the servers answer, so no client can see a new SMP with an old anchor.
        let pki = match SmpPki::generate() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("generating the SMP PKI: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(path) = &args.write_smp_ca {
            if let Err(e) = std::fs::write(path, pki.ca.certificate.to_pem().unwrap_or_default()) {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        let sim = match FederationSim::start_with(
            config,
            SimOptions {
                http: args.http,
                dns: args.dns,
            },
            Some(pki),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        println!("address book: {}", sim.address_book_url());
        println!("SMP:          {}", sim.smp_url());
        println!("SML zone:     {} at {} (UDP/TCP)", sim.sml_zone(), sim.dns_addr());
        println!(
            "control:      http://{}/sim/stats, http://{}/sim/faults",
            sim.http_addr(),
            sim.http_addr()
        );
        let _ = tokio::signal::ctrl_c().await;
        ExitCode::SUCCESS
    })
}
