//! SDK discovery for the sdk-ap access point.
//!
//! In SDK ("Säker digital kommunikation") a sender knows an organisation and a functional address, not an access
//! point. This crate finds the rest from the federation's own services:
//!
//! - [`addressbook`]: the SDK address book (read-only JSON:API): organisations by name or organisation number,
//!   their functional addresses, and the participant id behind a functional address;
//! - [`sml`]: the SML (eDelivery BDXL): the participant's hash label and its `Meta:SMP` U-NAPTR → SMP URL;
//! - [`smp`]: SMP 1.0 service groups and signed service metadata, with the XML signature checked by the shared
//!   `xmldsig` core against the SMP trust anchor, identity and date checks, transport profile selection, the AP
//!   certificate and the DIGG CertPub extension;
//! - [`cache`]: TTL and negative caching, stale-while-revalidate, single-flight, bounded size;
//! - [`discovery`]: the [`Discovery`] facade, `resolve(participant, document) -> Resolved`.
//!
//! Every failure is a [`DiscoveryError`] naming the service ([`Service`]) and what failed.
//! docs/discovery.md describes the algorithm, the settings and the assumed address book resource shapes.

pub mod addressbook;
pub mod cache;
pub mod discovery;
pub mod error;
pub mod http;
pub mod ids;
pub mod sml;
pub mod smp;

pub use addressbook::{AddressBookClient, AddressBookSettings, FunctionalAddress, Organisation};
pub use cache::{CachePolicy, Freshness};
pub use discovery::{Discovery, DiscoverySettings, LookupChain, Resolved};
pub use error::{DiscoveryError, Service};
pub use http::{HttpSettings, TlsClientConfig};
pub use ids::{DocumentId, FunctionalAddressId, IdError, OrganisationNumber, ParticipantId};
pub use sml::SmlSettings;
pub use smp::select::{default_transport_profiles, DIGG_AS4_V1_0, DIGG_AS4_V1_2, EDELIVERY_AS4};
pub use smp::verify::SmpTrust;
pub use smp::SmpSettings;
