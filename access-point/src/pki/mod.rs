//! Keys, certificates and trust stores: loading, chain and CRL validation, and the development PKI that `sdk-ap init` writes.
