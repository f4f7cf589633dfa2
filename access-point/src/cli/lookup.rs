//! `sdk-ap lookup PARTICIPANT [--document-id ID]`: prints the whole discovery chain for operators: the SML name
//! and its NAPTR records, the SMP URL, the service group, and for a document the verified endpoint, its AP
//! certificate and the CertPub certificates. Nothing is cached.

use address_book_client::cache::CachePolicy;
use address_book_client::smp::select::subject_text;
use address_book_client::{
    default_transport_profiles, Discovery, DiscoverySettings, DocumentId, HttpSettings, ParticipantId, SmlSettings,
    SmpSettings, SmpTrust,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Look a participant up through SML and SMP and print every step.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    /// Participant id, e.g. 0203:example.se (or iso6523-actorid-upis::0203:example.se).
    pub participant: String,
    /// Document id (busdox-docid-qns) to fetch the signed service metadata for.
    #[arg(long)]
    pub document_id: Option<String>,
    /// The SML DNS zone.
    #[arg(long, env = "SDK_AP_SML_ZONE")]
    pub sml_zone: String,
    /// DNS server(s) to ask (IP:PORT); the system resolver when absent.
    #[arg(long = "dns", env = "SDK_AP_SML_DNS", value_delimiter = ',')]
    pub dns_servers: Vec<SocketAddr>,
    /// PEM file with the SMP trust anchor(s).
    #[arg(long, env = "SDK_AP_SMP_CA")]
    pub smp_ca: PathBuf,
    /// PEM file with the CA(s) trusted for https connections to the SMP.
    #[arg(long, env = "SDK_AP_SMP_TLS_CA")]
    pub smp_tls_ca: Option<PathBuf>,
    /// Accepted transport profiles, most preferred first (default: SDK AS4 1.2, 1.0, eDelivery AS4).
    #[arg(long = "transport-profile")]
    pub transport_profiles: Vec<String>,
    /// Timeout of each DNS query and HTTP request, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdk-ap lookup: {message}");
    ExitCode::from(2)
}

/// Runs the lookup; exit code 0 on success, 1 when discovery fails, 2 on bad arguments.
pub fn run(args: LookupArgs) -> ExitCode {
    let participant = match ParticipantId::parse(&args.participant) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let document = match args.document_id.as_deref().map(DocumentId::parse).transpose() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let trust = match std::fs::read(&args.smp_ca)
        .map_err(|e| e.to_string())
        .and_then(|pem| SmpTrust::from_pem(&pem))
    {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", args.smp_ca.display())),
    };
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let tls = match &args.smp_tls_ca {
        Some(path) => {
            match std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| HttpSettings::tls_from_pem(&pem))
            {
                Ok(t) => Some(t),
                Err(e) => return fail(format!("{}: {e}", path.display())),
            }
        }
        None => None,
    };
    let transport_profiles = if args.transport_profiles.is_empty() {
        default_transport_profiles()
    } else {
        args.transport_profiles.clone()
    };
    let settings = DiscoverySettings {
        sml: SmlSettings {
            zone: args.sml_zone.clone(),
            dns_servers: args.dns_servers.clone(),
            timeout,
            attempts: 2,
        },
        smp: SmpSettings {
            http: HttpSettings {
                timeout,
                tls,
                ..HttpSettings::default()
            },
            trust,
            transport_profiles,
        },
        sml_cache: CachePolicy::default(),
        smp_cache: CachePolicy::default(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        let discovery = match Discovery::new(settings) {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        match discovery.lookup_chain(&participant, document.as_ref()).await {
            Ok(chain) => {
                print_chain(&participant, &chain);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lookup of {participant} failed at the {}: {e}", e.service());
                ExitCode::FAILURE
            }
        }
    })
}

fn print_certificate(label: &str, der: &[u8]) {
    match openssl::x509::X509::from_der(der) {
        Ok(c) => println!(
            "  {label}: {} (issuer {}), valid {} .. {}",
            subject_text(&c),
            c.issuer_name()
                .entries()
                .filter_map(|e| e.data().to_string().ok())
                .collect::<Vec<_>>()
                .join(","),
            c.not_before(),
            c.not_after()
        ),
        Err(e) => println!("  {label}: unreadable ({e})"),
    }
}

fn print_chain(participant: &ParticipantId, chain: &address_book_client::LookupChain) {
    println!("participant:   {participant}");
    println!("SML name:      {}", chain.dns_name);
    for n in &chain.naptrs {
        println!(
            "  NAPTR {} {} \"{}\" \"{}\" \"{}\"",
            n.order, n.preference, n.flags, n.service, n.regexp
        );
    }
    println!("SMP:           {}", chain.smp_url);
    println!("service group: {} document(s)", chain.service_group.references.len());
    for r in &chain.service_group.references {
        println!("  {r}");
    }
    if let Some(m) = &chain.metadata {
        let e = &m.selected.endpoint;
        println!("metadata:      {} (signed by {})", m.url, m.signer_subject);
        println!(
            "endpoint:      {} [{}] process {}",
            e.address, e.transport_profile, m.selected.process_id
        );
        if let Some(a) = e.activation {
            println!("  active from  {a}");
        }
        if let Some(x) = e.expiration {
            println!("  expires      {x}");
        }
        println!("AP party id:   {} (certificate CN)", m.ap_certificate.common_name);
        print_certificate("AP certificate", &e.certificate_der);
        for der in &m.information.certpub.signing {
            print_certificate("CertPub signing", der);
        }
        for der in &m.information.certpub.encryption {
            print_certificate("CertPub encryption", der);
        }
        if m.information.certpub.is_empty() {
            println!("  CertPub: no organisation certificates published");
        }
    }
}
