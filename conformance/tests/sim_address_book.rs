//! The address book client against the simulator: search, pagination, functional addresses, resolution to a
//! participant id, and every fault as a typed error naming the address book.

mod sim_support;

use address_book_client::{DiscoveryError, FunctionalAddressId, OrganisationNumber, Service};
use conformance::sim::Faults;
use sim_support::*;

#[tokio::test]
async fn search_follows_pagination() {
    let (sim, _dir) = start(5).await;
    let book = address_book(&sim);
    // 4 named organisations + 5 "Deltagare N", page size 2.
    let all = book.search_by_name("").await.unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(sim.stats().address_book_requests, 5);
    let some = book.search_by_name("deltagare").await.unwrap();
    assert_eq!(some.len(), 5);
    let one = book.search_by_name("Exempel").await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].participant_id.to_string(), "0203:exempel.se");
    assert_eq!(one[0].organisation_number.as_ref().unwrap().as_str(), "2021006883");
}

#[tokio::test]
async fn search_by_organisation_number() {
    let (sim, _dir) = start(0).await;
    let book = address_book(&sim);
    let found = book
        .search_by_organisation_number(&OrganisationNumber::parse("232100-0016").unwrap())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].participant_id.to_string(), "0007:2321000016");
    let none = book
        .search_by_organisation_number(&OrganisationNumber::parse("2021006883").unwrap())
        .await
        .unwrap();
    assert_eq!(none.len(), 1);
}

#[tokio::test]
async fn functional_addresses_and_resolution() {
    let (sim, _dir) = start(0).await;
    let book = address_book(&sim);
    let addresses = book.functional_addresses("org-1").await.unwrap();
    assert_eq!(addresses.len(), 3, "two pages followed");
    assert_eq!(addresses[0].name, "Socialtjänsten");
    assert_eq!(addresses[0].categories, vec!["social"]);
    let (address, org) = book
        .resolve_functional_address(&FunctionalAddressId::parse("SE2021006883-3").unwrap())
        .await
        .unwrap();
    assert_eq!(address.name, "Miljöförvaltningen");
    assert_eq!(org.participant_id.to_string(), "0203:exempel.se");
}

#[tokio::test]
async fn not_found_is_typed() {
    let (sim, _dir) = start(0).await;
    let book = address_book(&sim);
    let e = book
        .resolve_functional_address(&FunctionalAddressId::parse("SE0000000000-9").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::AddressBookNotFound { .. }), "{e}");
    let e = book.functional_addresses("org-404").await.unwrap_err();
    assert!(matches!(e, DiscoveryError::AddressBookNotFound { .. }), "{e}");
    assert_eq!(e.service(), Service::AddressBook);
}

async fn faulty(faults: Faults) -> DiscoveryError {
    let (sim, _dir) = start(0).await;
    sim.set_faults(faults);
    let e = address_book(&sim).search_by_name("x").await.unwrap_err();
    assert_eq!(e.service(), Service::AddressBook);
    e
}

#[tokio::test]
async fn server_errors_are_typed() {
    let e = faulty(Faults {
        address_book_status: Some(500),
        ..Faults::default()
    })
    .await;
    assert!(matches!(e, DiscoveryError::AddressBookHttp { status: 500, .. }), "{e}");
}

#[tokio::test]
async fn malformed_json_is_typed() {
    let e = faulty(Faults {
        address_book_malformed: true,
        ..Faults::default()
    })
    .await;
    assert!(matches!(e, DiscoveryError::AddressBookMalformed { .. }), "{e}");
}

#[tokio::test]
async fn slow_service_times_out() {
    let e = faulty(Faults {
        address_book_delay_ms: Some(2500),
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(
            e,
            DiscoveryError::AddressBookUnreachable {
                reason: address_book_client::http::HttpError::Timeout(_),
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn page_limit_is_enforced() {
    let (sim, _dir) = start(30).await;
    // 34 organisations at 2 a page is 17 pages; the client follows at most 10.
    let e = address_book(&sim).search_by_name("").await.unwrap_err();
    assert!(
        matches!(e, DiscoveryError::AddressBookTooManyPages { max_pages: 10 }),
        "{e}"
    );
}

#[tokio::test]
async fn control_endpoints_report_and_switch() {
    let (sim, _dir) = start(0).await;
    let settings = address_book_client::HttpSettings::default();
    let stats = address_book_client::http::get(
        &format!("http://{}/sim/stats", sim.http_addr()),
        "application/json",
        &settings,
    )
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v["smp_requests"], 0);
}
