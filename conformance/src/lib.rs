//! The sdk-ap conformance suite: local federations and the cases of shared/conformance/cases.md.
//!
//! [`sim`] is the local SDK federation (address book, signed SMP, SML zone) used by tests and demos; [`runner`]
//! runs every case (`cargo run -p conformance -- run`).

pub mod bench;
pub mod runner;
/// The local federation lives in its own crate (so `sdk-ap demo` can start it too); re-exported here.
pub use federation_sim as sim;
