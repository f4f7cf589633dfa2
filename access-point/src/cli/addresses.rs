//! `sdk-ap addresses …`: queries the SDK address book (organisations, functional addresses) for operators.

use address_book_client::{
    AddressBookClient, AddressBookSettings, FunctionalAddressId, HttpSettings, OrganisationNumber,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Query the SDK address book.
#[derive(Debug, clap::Args)]
pub struct AddressesArgs {
    #[command(subcommand)]
    pub action: AddressesAction,
    /// Base URL of the address book JSON:API.
    #[arg(long, env = "SDK_AP_ADDRESS_BOOK_URL", global = true)]
    pub address_book: Option<String>,
    /// PEM file with the CA(s) trusted for https connections to the address book.
    #[arg(long, env = "SDK_AP_ADDRESS_BOOK_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// Timeout of each request, in seconds.
    #[arg(long, default_value_t = 10, global = true)]
    pub timeout_secs: u64,
}

#[derive(Debug, clap::Subcommand)]
pub enum AddressesAction {
    /// Organisations whose name matches TEXT, or with the given organisation number.
    Search {
        text: Option<String>,
        #[arg(long)]
        org_number: Option<String>,
    },
    /// The functional addresses of an organisation (its address book id).
    Functions { organisation_id: String },
    /// The organisation and participant id behind a functional address.
    Resolve { functional_address: String },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdk-ap addresses: {message}");
    ExitCode::from(2)
}

/// Runs the query; exit code 0 on success, 1 when the address book fails, 2 on bad arguments.
pub fn run(args: AddressesArgs) -> ExitCode {
    let Some(base_url) = args.address_book.clone() else {
        return fail("--address-book URL (or SDK_AP_ADDRESS_BOOK_URL) is required");
    };
    let tls = match &args.tls_ca {
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
    let client = AddressBookClient::new(AddressBookSettings {
        base_url,
        http: HttpSettings {
            timeout: Duration::from_secs(args.timeout_secs.max(1)),
            tls,
            ..HttpSettings::default()
        },
        max_pages: 50,
    });
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(async {
        match args.action {
            AddressesAction::Search { text, org_number } => {
                let found = match (org_number, text) {
                    (Some(n), _) => match OrganisationNumber::parse(&n) {
                        Ok(n) => client.search_by_organisation_number(&n).await,
                        Err(e) => return Err(e.to_string()),
                    },
                    (None, Some(t)) => client.search_by_name(&t).await,
                    (None, None) => return Err("give TEXT or --org-number".into()),
                };
                let found = found.map_err(|e| e.to_string())?;
                for o in &found {
                    println!(
                        "{}\t{}\t{}\t{}",
                        o.id,
                        o.participant_id,
                        o.organisation_number.as_ref().map(|n| n.as_str()).unwrap_or("-"),
                        o.name
                    );
                }
                println!("{} organisation(s)", found.len());
                Ok(())
            }
            AddressesAction::Functions { organisation_id } => {
                let list = client
                    .functional_addresses(&organisation_id)
                    .await
                    .map_err(|e| e.to_string())?;
                for f in &list {
                    println!("{}\t{}\t{}", f.id, f.name, f.categories.join(","));
                }
                println!("{} functional address(es)", list.len());
                Ok(())
            }
            AddressesAction::Resolve { functional_address } => {
                let id = FunctionalAddressId::parse(&functional_address).map_err(|e| e.to_string())?;
                let (f, o) = client
                    .resolve_functional_address(&id)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("functional address: {} ({})", f.id, f.name);
                println!("organisation:       {} ({})", o.name, o.id);
                println!("participant id:     {}", o.participant_id);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdk-ap addresses: {e}");
            ExitCode::FAILURE
        }
    }
}
