use std::path::{Path, PathBuf};

use super::*;
use crate::pki::dev::DevPki;

const MINIMAL: &str = r#"[node]
party_id = "AP0001-DEV"

[keys.message]
key = "keys/message.key.pem"
cert = "keys/message.pem"

[keys.tls]
key = "keys/tls.key.pem"
cert = "keys/tls.pem"

[trust]
message_anchors = ["keys/ca.pem"]
tls_anchors = ["keys/ca.pem"]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/sdk-ap/sdk-ap.toml"))
}

fn message(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn defaults_apply_and_relative_paths_resolve_against_the_file() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.node.party_id_type, SDK_PARTY_ID_TYPE);
    assert_eq!(c.node.data_dir, PathBuf::from("/etc/sdk-ap/data"));
    assert!(c.node.served_participants.is_empty());
    assert_eq!(c.server.listen.to_string(), DEFAULT_SERVER_LISTEN);
    assert!(c.server.tls && !c.server.allow_plain_http);
    assert_eq!(c.server.endpoint_url(), "https://localhost:8443/as4");
    assert_eq!(c.api.listen.to_string(), DEFAULT_API_LISTEN);
    assert_eq!(c.keys.message.key, PathBuf::from("/etc/sdk-ap/keys/message.key.pem"));
    assert_eq!(c.trust.message_anchors, vec![PathBuf::from("/etc/sdk-ap/keys/ca.pem")]);
    assert_eq!(c.pmodes.builtin, vec!["sdk".to_string()]);
    assert_eq!(c.limits, LimitsConfig::default());
    assert!(c.peers.is_empty());

    let absolute = MINIMAL.replace("\"keys/ca.pem\"]\ntls", "\"/opt/ca.pem\"]\ntls");
    assert_eq!(
        parse(&absolute).unwrap().trust.message_anchors,
        vec![PathBuf::from("/opt/ca.pem")]
    );
    let bare = Config::from_toml(MINIMAL, Path::new("sdk-ap.toml")).unwrap();
    assert_eq!(bare.keys.message.cert, PathBuf::from("./keys/message.pem"));
}

#[test]
fn errors_name_file_line_and_setting() {
    let text = MINIMAL.to_string() + "\n[server]\nlisten = \"x\"\n";
    let line = text.lines().position(|l| l.starts_with("listen")).unwrap() + 1;
    let e = message(&text);
    assert!(
        e.starts_with(&format!(
            "/etc/sdk-ap/sdk-ap.toml:{line}: server.listen: invalid socket address \"x\""
        )),
        "{e}"
    );

    let text = MINIMAL.replace(
        "party_id = \"AP0001-DEV\"",
        "party_id = \"AP0001-DEV\"\nparty_idd = \"x\"",
    );
    let e = message(&text);
    assert!(
        e.starts_with("/etc/sdk-ap/sdk-ap.toml:3: node.party_idd: unknown field `party_idd`"),
        "{e}"
    );

    let text = MINIMAL.replace("party_id = \"AP0001-DEV\"", "data_dir = \"d\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.setting(), "node.party_id", "{e}");

    let text = MINIMAL.to_string() + "[limits]\nmax_mime_parts = 0\n";
    let e = parse(&text).unwrap_err();
    assert_eq!(e.setting(), "limits.max_mime_parts", "{e}");
    assert!(e.to_string().contains("positive"), "{e}");

    let text = MINIMAL.to_string() + "[api]\nlisten = 8080\n";
    assert_eq!(parse(&text).unwrap_err().setting(), "api.listen");

    let text = MINIMAL.replace("party_id = \"AP0001-DEV\"", "party_id = \"AP 1\"");
    assert!(
        message(&text).contains("node.party_id: invalid party id"),
        "{}",
        message(&text)
    );

    let text = MINIMAL.replace(
        "party_id = \"AP0001-DEV\"",
        "party_id = \"AP1\"\nserved_participants = [\"example.se\"]",
    );
    assert_eq!(parse(&text).unwrap_err().setting(), "node.served_participants");

    let text = MINIMAL.to_string() + "[server]\npublic_endpoint = \"ftp://x\"\n";
    assert_eq!(parse(&text).unwrap_err().setting(), "server.public_endpoint");

    let e = message("[node\n");
    assert!(e.starts_with("/etc/sdk-ap/sdk-ap.toml:1:"), "{e}");
}

#[test]
fn plain_http_needs_explicit_consent() {
    let text = MINIMAL.to_string() + "[server]\ntls = false\n";
    let e = parse(&text).unwrap_err();
    assert_eq!(e.setting(), "server.tls");
    assert!(e.to_string().contains("allow_plain_http"), "{e}");
    let text = MINIMAL.to_string() + "[server]\ntls = false\nallow_plain_http = true\n";
    let c = parse(&text).unwrap();
    assert_eq!(c.server.endpoint_url(), "http://localhost:8443/as4");
}

#[test]
fn tls_needs_a_key_and_anchors() {
    let text = MINIMAL.replace("[keys.tls]\nkey = \"keys/tls.key.pem\"\ncert = \"keys/tls.pem\"\n", "");
    assert_eq!(parse(&text).unwrap_err().setting(), "keys.tls");
    let text = MINIMAL.replace("tls_anchors = [\"keys/ca.pem\"]\n", "");
    assert_eq!(parse(&text).unwrap_err().setting(), "trust.tls_anchors");
    let text = MINIMAL.replace("message_anchors = [\"keys/ca.pem\"]\n", "");
    assert_eq!(parse(&text).unwrap_err().setting(), "trust.message_anchors");
}

#[test]
fn peers_parse_and_must_be_unique() {
    let peer = "\n[[peers]]\nparty_id = \"AP0002-DEV\"\nendpoint = \"https://localhost:9443/as4\"\n\
                message_cert = \"peers/b/message.pem\"\ntls_cert = \"peers/b/tls.pem\"\n";
    let c = parse(&(MINIMAL.to_string() + peer)).unwrap();
    let p = c.peer("AP0002-DEV").unwrap();
    assert_eq!(p.endpoint, "https://localhost:9443/as4");
    assert_eq!(p.party_id_type, SDK_PARTY_ID_TYPE);
    assert_eq!(p.message_cert, PathBuf::from("/etc/sdk-ap/peers/b/message.pem"));
    assert_eq!(p.tls_cert, Some(PathBuf::from("/etc/sdk-ap/peers/b/tls.pem")));
    assert_eq!(p.x25519_cert, None);

    let twice = MINIMAL.to_string() + peer + peer;
    let e = parse(&twice).unwrap_err();
    assert_eq!(e.setting(), "peers[1].party_id");
    let line = twice
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("party_id = \"AP0002"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert!(
        e.to_string()
            .contains(&format!(":{line}: peers[1].party_id: duplicate peer")),
        "{e}"
    );

    let bad = MINIMAL.to_string() + &peer.replace("https://localhost:9443/as4", "localhost:9443");
    let e = parse(&bad).unwrap_err();
    assert_eq!(e.setting(), "peers[0].endpoint", "{e}");
}

#[test]
fn served_participants_match_case_insensitively_with_or_without_scheme() {
    let text = MINIMAL.replace(
        "party_id = \"AP0001-DEV\"",
        "party_id = \"AP0001-DEV\"\nserved_participants = [\"0203:Example.se\", \"iso6523-actorid-upis::0007:5560001234\"]",
    );
    let c = parse(&text).unwrap();
    assert!(c.serves("0203:example.se"));
    assert!(c.serves("iso6523-actorid-upis::0203:EXAMPLE.SE"));
    assert!(c.serves("0007:5560001234"));
    assert!(!c.serves("0203:other.se"));
}

fn write_node(dir: &Path) -> (DevPki, PathBuf) {
    let (pki, _files) = DevPki::throwaway_in(&dir.join("keys"), "AP0001-DEV").unwrap();
    let text = MINIMAL.to_string()
        + "[keys.ed25519]\nkey = \"keys/ed25519.key.pem\"\ncert = \"keys/ed25519.pem\"\n\
           [keys.x25519]\nkey = \"keys/x25519.key.pem\"\ncert = \"keys/x25519.pem\"\n";
    let text = text.replace(
        "tls_anchors = [\"keys/ca.pem\"]",
        "tls_anchors = [\"keys/ca.pem\"]\nmessage_crls = [\"keys/ca.crl.pem\"]",
    );
    let path = dir.join("sdk-ap.toml");
    std::fs::write(&path, text).unwrap();
    (pki, path)
}

#[test]
fn validate_accepts_a_complete_node_and_loads_identity_and_trust() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, path) = write_node(dir.path());
    let c = Config::load(&path).unwrap();
    c.validate().unwrap();
    let id = c.identity().unwrap();
    assert!(id.ed25519.is_some() && id.x25519.is_some() && id.tls.is_some());
    assert!(c.message_trust_store().unwrap().checks_revocation());
    assert!(!c.tls_trust_store().unwrap().checks_revocation());
}

#[test]
fn validate_names_the_setting_of_a_missing_or_mismatched_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, path) = write_node(dir.path());
    let keys = dir.path().join("keys");

    std::fs::rename(keys.join("message.pem"), keys.join("moved.pem")).unwrap();
    let e = Config::load(&path).unwrap().validate().unwrap_err();
    assert_eq!(e.setting(), "keys.message.cert");
    assert!(e.to_string().contains(":6: keys.message.cert:"), "{e}");
    std::fs::rename(keys.join("moved.pem"), keys.join("message.pem")).unwrap();

    // The Ed25519 key in place of the RSA message key: the key does not match the certificate.
    std::fs::copy(keys.join("message.key.pem"), keys.join("message.key.bak")).unwrap();
    std::fs::copy(keys.join("ed25519.key.pem"), keys.join("message.key.pem")).unwrap();
    let e = Config::load(&path).unwrap().validate().unwrap_err();
    assert_eq!(e.setting(), "keys.message");
    assert!(e.to_string().contains("does not match"), "{e}");
    std::fs::rename(keys.join("message.key.bak"), keys.join("message.key.pem")).unwrap();

    // An X25519 pair configured as the Ed25519 signing key: wrong algorithm.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("keys/ed25519.key.pem", "keys/x25519.key.pem")
            .replace("keys/ed25519.pem", "keys/x25519.pem"),
    )
    .unwrap();
    let e = Config::load(&path).unwrap().validate().unwrap_err();
    assert_eq!(e.setting(), "keys.ed25519");
    assert!(e.to_string().contains("expected a Ed25519 key"), "{e}");
    std::fs::write(&path, &text).unwrap();

    // The party id must be the CN of the message certificate.
    std::fs::write(
        &path,
        text.replace("party_id = \"AP0001-DEV\"", "party_id = \"AP0002-DEV\""),
    )
    .unwrap();
    let e = Config::load(&path).unwrap().validate().unwrap_err();
    assert_eq!(e.setting(), "node.party_id");
    std::fs::write(&path, &text).unwrap();

    // A garbage CRL.
    std::fs::write(
        keys.join("ca.crl.pem"),
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let e = Config::load(&path).unwrap().validate().unwrap_err();
    assert_eq!(e.setting(), "trust.message_crls");

    let e = Config::load(&dir.path().join("absent.toml")).unwrap_err();
    assert!(
        matches!(e, ConfigError::Read { .. }) && e.to_string().contains("absent.toml"),
        "{e}"
    );
}
