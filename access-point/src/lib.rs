//! `access-point` is the sdk-ap message service handler: an ebMS3 / AS4 access point for the Swedish SDK federation
//! and any eDelivery AS4 network. It parses and builds ebMS3 messages ([`ebms`]), streams SOAP-with-attachments
//! without holding payloads in memory ([`mime`], [`compression`]), manages keys, trust stores and the development
//! PKI ([`pki`]), reads the node configuration ([`config`]) and exposes all of it through the `sdk-ap` command line
//! ([`cli`]). Later layers (WS-Security, the store, the send and receive pipelines, the transport and the local
//! API) build on these modules.

pub mod api;
pub mod cli;
pub mod compression;
pub mod config;
pub mod ebms;
pub mod mime;
pub mod msh;
pub mod pki;
pub mod sdk;
pub mod store;
pub mod transport;
pub mod wss;
