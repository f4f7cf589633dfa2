//! Two nodes made by `sdk-ap init`, linked both ways with `config::link::add_peer_from` (what `sdk-ap peers add`
//! runs): each then trusts the other's certificates, with revocation checked, and nothing else.

use std::path::Path;
use std::process::Command;

use access_point::config::link::{add_peer_from, LinkError};
use access_point::config::Config;
use access_point::pki::dev::DevPki;
use access_point::pki::{load_certificate, Purpose, TrustError};
use time::OffsetDateTime;

fn init(dir: &Path, party: &str, port: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(["init", "--dir", dir.to_str().unwrap(), "--party", party, "--port", port])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn two_nodes_link_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a, "AP0001-DEV", "8443");
    init(&b, "AP0002-DEV", "9443");
    let (a_toml, b_toml) = (a.join("sdk-ap.toml"), b.join("sdk-ap.toml"));
    let now = OffsetDateTime::now_utc();

    // Before linking, A refuses B's certificates.
    let b_message = load_certificate(&b.join("keys/message.pem")).unwrap();
    let err = Config::load(&a_toml).unwrap().message_trust_store().unwrap().verify(
        &b_message,
        &[],
        Purpose::MessageSigning,
        now,
    );
    assert!(matches!(err, Err(TrustError::Untrusted { .. })), "{err:?}");

    let added = add_peer_from(&a_toml, &b_toml).unwrap();
    assert_eq!(added.party_id, "AP0002-DEV");
    assert_eq!(added.endpoint, "https://localhost:9443/as4");
    add_peer_from(&b_toml, &a_toml).unwrap();

    for (own, other, other_party) in [(&a, &b, "AP0002-DEV"), (&b, &a, "AP0001-DEV")] {
        let config = Config::load(&own.join("sdk-ap.toml")).unwrap();
        config.validate().unwrap();
        let peer = config.peer(other_party).unwrap();
        let index = config.peers.iter().position(|p| p.party_id == other_party).unwrap();
        let certs = config.peer_certificates(index).unwrap();
        assert!(certs.tls.is_some() && certs.ed25519.is_some() && certs.x25519.is_some());
        assert!(peer.message_cert.starts_with(own.join("peers")));
        let original = load_certificate(&other.join("keys/message.pem")).unwrap();
        assert_eq!(
            certs.message.to_der().unwrap(),
            original.to_der().unwrap(),
            "the peer's own certificate was copied"
        );

        let message_trust = config.message_trust_store().unwrap();
        let v = message_trust
            .verify_expecting_cn(&certs.message, &[], Purpose::MessageSigning, now, other_party)
            .unwrap();
        assert!(v.revocation_checked);
        message_trust
            .verify(&certs.message, &[], Purpose::KeyTransport, now)
            .unwrap();
        message_trust
            .verify(certs.x25519.as_ref().unwrap(), &[], Purpose::KeyAgreement, now)
            .unwrap();
        message_trust
            .verify(certs.ed25519.as_ref().unwrap(), &[], Purpose::MessageSigning, now)
            .unwrap();
        let tls_trust = config.tls_trust_store().unwrap();
        tls_trust
            .verify(certs.tls.as_ref().unwrap(), &[], Purpose::TlsServer, now)
            .unwrap();
        tls_trust
            .verify(certs.tls.as_ref().unwrap(), &[], Purpose::TlsClient, now)
            .unwrap();
        // The other node's certificate is pinned to its own CN.
        let own_message = load_certificate(&own.join("keys/message.pem")).unwrap();
        message_trust
            .verify(&own_message, &[], Purpose::MessageSigning, now)
            .unwrap();

        // A third party is still refused.
        let stranger = DevPki::throwaway(other_party).unwrap();
        let err = message_trust.verify(&stranger.message.certificate, &[], Purpose::MessageSigning, now);
        assert!(matches!(err, Err(TrustError::Untrusted { .. })), "{err:?}");
    }

    // Comments written by init survive; linking twice is refused and changes nothing.
    let text = std::fs::read_to_string(&a_toml).unwrap();
    assert!(text.contains("# Participants this access point delivers to"));
    let err = add_peer_from(&a_toml, &b_toml).unwrap_err();
    assert!(
        matches!(err, LinkError::Refused(ref m) if m.contains("already has a peer AP0002-DEV")),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&a_toml).unwrap(), text);
    let err = add_peer_from(&a_toml, &a_toml).unwrap_err();
    assert!(matches!(err, LinkError::Refused(_)), "{err}");
}

#[test]
fn linking_needs_a_trust_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a, "AP0001-DEV", "8443");
    init(&b, "AP0002-DEV", "9443");
    let a_toml = a.join("sdk-ap.toml");
    let text = std::fs::read_to_string(&a_toml)
        .unwrap()
        .replace(", \"trust/anchors\"", "");
    std::fs::write(&a_toml, &text).unwrap();
    let err = add_peer_from(&a_toml, &b.join("sdk-ap.toml")).unwrap_err();
    let LinkError::Config(e) = err else { panic!("{err}") };
    assert_eq!(e.setting(), "trust.message_anchors");
    assert_eq!(
        std::fs::read_to_string(&a_toml).unwrap(),
        text,
        "nothing appended after a refusal"
    );
}
