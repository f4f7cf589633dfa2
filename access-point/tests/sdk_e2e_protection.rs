//! End-to-end (XHE) protection on receipt, on two real access points (127.0.0.1, mutual TLS). B trusts A's and its
//! own CA for XHE signatures (`[sdk] e2e_anchors`), registers A's message certificate as the signing certificate of
//! A's participant and its own for `OTHER_ORG` (`[sdk] e2e_signers`), and decrypts with its own end-to-end key
//! (`[sdk] e2e_key`):
//! * a message signed by A's AP (`protection: sign` through A's API) lands in B's inbox, the verification in its
//!   history;
//! * a message encrypted for B's end-to-end certificate and signed lands decrypted: the attachment downloads byte
//!   for byte through B's API;
//! * a tampered signed envelope and an envelope signed by a certificate outside B's anchors are answered with a
//!   kvittens REJECTED (SIG) that reaches A, and neither is in B's inbox;
//! * a payload encrypted for someone else's key is REJECTED (SIG) too, and nothing is in the inbox;
//! * an envelope from A's participant validly signed by another trusted organisation's certificate (B's, registered
//!   for `OTHER_ORG`) is REJECTED (SIG): the signer must be the sending organisation;
//! * A's API refuses (422) to sign for a sender whose registered certificate is not A's, or that has none;
//! * with CertPub (local federation simulator), a message that arrives during an SMP outage is classified by the
//!   classifier's timed retry once the SMP is back, and refused (SIG) when the outage outlasts the retries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::api::client::{SubmitOptions, UploadPayload};
use access_point::api::status::MessageView;
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::Node;
use access_point::pki::keys::{load_certificate, load_private_key};
use access_point::sdk::xhe::Xhe;
use access_point::sdk::{xhe_encryption, xhe_signature};
use access_point::store::{Classification, Direction, InboxQuery};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

mod support;

use support::{append_to_config, classification_of, eventually, noise, start_shared, xhe_submission};

const SENDER: &str = support::A_PARTICIPANT;
const RECIPIENT: &str = support::B_PARTICIPANT;
const FUNCTION: &str = "socialtjanst";
/// Another organisation of the federation, whose registered signing certificate is B's message certificate.
const OTHER_ORG: &str = "0203:other.example";

/// Creates and links A and B; B verifies XHE signatures against A's and its own CA, with A's message certificate
/// registered for `SENDER` and B's for `OTHER_ORG`, and decrypts with its message key pair named explicitly as its
/// end-to-end key. A registers its own certificate for `SENDER` and B's for `OTHER_ORG` (for `protection: sign`).
fn two_linked_aps(root: &Path) -> (PathBuf, PathBuf) {
    let aps = support::two_aps(root);
    let signers = format!(
        "e2e_signers = {{ {SENDER:?} = {:?}, {OTHER_ORG:?} = {:?} }}",
        root.join("a/keys/message.pem"),
        root.join("b/keys/message.pem")
    );
    append_to_config(
        &aps.b,
        &format!(
            concat!(
                "\n[sdk]\ne2e_anchors = [{:?}, {:?}]\n",
                "e2e_key = \"keys/message.key.pem\"\ne2e_cert = \"keys/message.pem\"\n{signers}\n"
            ),
            root.join("a/keys/ca.pem"),
            root.join("b/keys/ca.pem"),
            signers = signers,
        ),
    );
    append_to_config(&aps.a, &format!("\n[sdk]\n{signers}\n"));
    add_peer_from(&aps.a, &aps.b).unwrap();
    add_peer_from(&aps.b, &aps.a).unwrap();
    (aps.a, aps.b)
}

/// An SDK message from A's participant to B's `FUNCTION`, with one attachment, in an XHE envelope.
fn sdk_xhe(attachment: &[u8]) -> Xhe {
    support::a_to_b_sdk_xhe(FUNCTION, &[("ritning.pdf", "application/pdf", attachment.to_vec())])
}

async fn history_of(node: &Node, message_id: &str) -> Vec<String> {
    let record = node
        .store()
        .get_by_message_id(Direction::Inbound, message_id)
        .await
        .unwrap()
        .unwrap();
    node.store()
        .history(record.key)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.reason)
        .collect()
}

/// A self-signed RSA certificate with A's CN, outside every anchor B trusts.
fn untrusted_signer() -> (PKey<Private>, X509) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::x509::extension::KeyUsage;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(3072).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "AP0001-DEV").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    b.append_extension(KeyUsage::new().digital_signature().build().unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (key, b.build())
}

/// Waits until B rejected `message_id` with a SIG kvittens and A recorded that kvittens; checks B's inbox is
/// without it. Returns B's rejection reason.
async fn rejected_with_sig(a: &Node, b: &Node, message_id: &str) -> String {
    let c = eventually("B's verdict", Duration::from_secs(60), || {
        classification_of(b, message_id)
    })
    .await;
    let Classification::Rejected {
        reason,
        kvittens_message_id,
    } = c
    else {
        panic!("{message_id}: {c:?}")
    };
    assert!(reason.starts_with("SIG "), "{reason}");
    assert!(kvittens_message_id.is_some());
    let inbox = b.store().inbox_list(InboxQuery::default()).await.unwrap();
    assert!(
        inbox.items.iter().all(|i| i.entry.message_id != message_id),
        "{message_id} is in B's inbox"
    );
    let view = eventually("the kvittens REJECTED at A", Duration::from_secs(60), || async {
        let view = MessageView::read(a.store().as_ref(), message_id).await.unwrap()?;
        view.history
            .iter()
            .any(|h| h.reason.starts_with("kvittens REJECTED"))
            .then_some(view)
    })
    .await;
    assert!(
        view.history.iter().any(|h| h.reason.contains("kvittens REJECTED: SIG")),
        "{:?}",
        view.history
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_and_encrypted_envelopes_are_verified_and_opened_on_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path());
    let a = start_shared(&a_toml).await;
    let b = start_shared(&b_toml).await;
    let (a_server, a_client) = support::api_for(&a).await;
    let (b_server, b_client) = support::api_for(&b).await;
    let a_config = Config::load(&a_toml).unwrap();
    let b_config = Config::load(&b_toml).unwrap();
    let a_key = load_private_key(&a_config.keys.message.key).unwrap();
    let a_cert = load_certificate(&a_config.keys.message.cert).unwrap();
    let b_e2e_cert = load_certificate(b_config.sdk.e2e_cert.as_deref().unwrap()).unwrap();

    // Sign only, by A's AP on request: verified at B and in the inbox.
    let document = tmp.path().join("brev.pdf");
    let letter = noise(30_000, 7);
    std::fs::write(&document, &letter).unwrap();
    let metadata = serde_json::json!({
        "format": "sdk",
        "sender": {"participant": SENDER, "functional_address": "registrator"},
        "recipient": {"participant": RECIPIENT, "functional_address": FUNCTION},
        "subject": "Begäran om yttrande",
        "protection": "sign",
    });
    let upload = UploadPayload {
        path: document.clone(),
        mime_type: "application/pdf".into(),
    };
    let signed = a_client
        .submit_with(&metadata, &[upload], &SubmitOptions::default())
        .await
        .unwrap()
        .response
        .message_id;
    let c = eventually("sign-only at B", Duration::from_secs(60), || {
        classification_of(&b, &signed)
    })
    .await;
    assert_eq!(c, Classification::Inbox);
    let history = history_of(&b, &signed).await;
    assert!(
        history
            .iter()
            .any(|h| h.starts_with("XHE signature verified, signed by") && h.contains("AP0001-DEV")),
        "{history:?}"
    );
    let mut downloaded = Vec::new();
    b_client
        .inbox_download(&signed, Some(0), &mut downloaded)
        .await
        .unwrap();
    assert!(downloaded == letter, "the signed message's attachment arrives intact");

    // Encrypted for B's end-to-end certificate, then signed: in the inbox decrypted, attachment byte for byte.
    let attachment = noise(50_000, 3);
    let sealed = xhe_encryption::encrypt_payload(&sdk_xhe(&attachment), &b_e2e_cert).unwrap();
    let sealed = xhe_signature::sign(sealed.render().unwrap().as_bytes(), &a_key, &a_cert).unwrap();
    let encrypted = a
        .submit(xhe_submission(tmp.path(), "sealed.xml", &sealed, SENDER, RECIPIENT))
        .await
        .unwrap()
        .message_id;
    let c = eventually("sign-and-encrypt at B", Duration::from_secs(60), || {
        classification_of(&b, &encrypted)
    })
    .await;
    assert_eq!(c, Classification::Inbox);
    let history = history_of(&b, &encrypted).await;
    assert!(history.iter().any(|h| h.ends_with("payload decrypted")), "{history:?}");
    let record = b
        .store()
        .get_by_message_id(Direction::Inbound, &encrypted)
        .await
        .unwrap()
        .unwrap();
    let item = b.store().inbox_get(record.key).await.unwrap().unwrap();
    assert!(!item.entry.encrypted);
    assert_eq!(item.entry.functional_address.as_deref(), Some(FUNCTION));
    assert_eq!(item.entry.attachments.len(), 1);
    assert_eq!(item.entry.attachments[0].file_name, "ritning.pdf");
    let mut downloaded = Vec::new();
    b_client
        .inbox_download(&encrypted, Some(0), &mut downloaded)
        .await
        .unwrap();
    assert!(
        downloaded == attachment,
        "the decrypted attachment differs from the one sent"
    );
    // The stored payload stays as it arrived (encrypted); the inbox document is the decrypted envelope.
    let mut document_xml = Vec::new();
    b_client
        .inbox_download(&encrypted, None, &mut document_xml)
        .await
        .unwrap();
    let document_xml = String::from_utf8(document_xml).unwrap();
    assert!(document_xml.contains("ritning.pdf") && !document_xml.contains("EncryptedData"));

    // A tampered signed envelope: REJECTED SIG, not in the inbox.
    let clear = sdk_xhe(&noise(1_000, 5));
    let signed_xml = xhe_signature::sign(clear.render().unwrap().as_bytes(), &a_key, &a_cert).unwrap();
    let tampered = String::from_utf8(signed_xml)
        .unwrap()
        .replace("Ansökan om bygglov", "Ansökan om rivning");
    let tampered_id = a
        .submit(xhe_submission(
            tmp.path(),
            "tampered.xml",
            tampered.as_bytes(),
            SENDER,
            RECIPIENT,
        ))
        .await
        .unwrap()
        .message_id;
    let reason = rejected_with_sig(&a, &b, &tampered_id).await;
    assert!(reason.contains("XHE signature"), "{reason}");

    // Signed by a certificate outside B's end-to-end anchors: REJECTED SIG, not in the inbox.
    let (rogue_key, rogue_cert) = untrusted_signer();
    let rogue = xhe_signature::sign(
        sdk_xhe(&noise(1_000, 9)).render().unwrap().as_bytes(),
        &rogue_key,
        &rogue_cert,
    )
    .unwrap();
    let rogue_id = a
        .submit(xhe_submission(tmp.path(), "rogue.xml", &rogue, SENDER, RECIPIENT))
        .await
        .unwrap()
        .message_id;
    let reason = rejected_with_sig(&a, &b, &rogue_id).await;
    assert!(reason.contains("not trusted"), "{reason}");

    // Properly signed, but encrypted for another key: REJECTED SIG, not in the inbox.
    let (_, other_cert) = untrusted_signer();
    let sealed = xhe_encryption::encrypt_payload(&sdk_xhe(&noise(1_000, 11)), &other_cert).unwrap();
    let sealed = xhe_signature::sign(sealed.render().unwrap().as_bytes(), &a_key, &a_cert).unwrap();
    let wrong_key = a
        .submit(xhe_submission(tmp.path(), "wrong-key.xml", &sealed, SENDER, RECIPIENT))
        .await
        .unwrap()
        .message_id;
    let reason = rejected_with_sig(&a, &b, &wrong_key).await;
    assert!(reason.contains("could not be decrypted"), "{reason}");

    // From A's participant, validly signed by a certificate B trusts, but one registered for another organisation:
    // REJECTED SIG, not in the inbox (the signer must be the sending organisation).
    let b_key = load_private_key(&b_config.keys.message.key).unwrap();
    let b_cert = load_certificate(&b_config.keys.message.cert).unwrap();
    let impostor =
        xhe_signature::sign(sdk_xhe(&noise(1_000, 13)).render().unwrap().as_bytes(), &b_key, &b_cert).unwrap();
    let impostor_id = a
        .submit(xhe_submission(tmp.path(), "impostor.xml", &impostor, SENDER, RECIPIENT))
        .await
        .unwrap()
        .message_id;
    let reason = rejected_with_sig(&a, &b, &impostor_id).await;
    assert!(
        reason.contains("not the signing certificate registered for the sending organisation"),
        "{reason}"
    );

    // A's API does not sign for an organisation whose registered certificate is another one, nor for one without.
    for (sender, expected) in [
        (OTHER_ORG, "not the signing certificate registered"),
        ("0203:unregistered.example", "no signing certificate is registered"),
    ] {
        let metadata = serde_json::json!({
            "format": "sdk",
            "sender": {"participant": sender, "functional_address": "registrator"},
            "recipient": {"participant": RECIPIENT, "functional_address": FUNCTION},
            "subject": "Begäran om yttrande",
            "protection": "sign",
        });
        let upload = UploadPayload {
            path: document.clone(),
            mime_type: "application/pdf".into(),
        };
        let err = a_client
            .submit_with(&metadata, &[upload], &SubmitOptions::default())
            .await
            .unwrap_err();
        let access_point::api::client::ClientError::Problem { status, detail, .. } = err else {
            panic!("{sender}: expected a problem answer, got {err}")
        };
        assert_eq!(status.as_u16(), 422, "{sender}: {detail}");
        assert!(detail.contains(expected), "{sender}: {detail}");
    }

    let inbox = b.store().inbox_list(InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.items.len(), 2, "only the two good messages are in B's inbox");
    a_server.shutdown().await;
    b_server.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

/// B has no `[sdk] e2e_signers` entry for A's participant: it looks up A's CertPub signing certificate in the local
/// federation. While the SMP is down, a signed message from A stays unclassified (not accepted without the check);
/// once the SMP is back, the timed retry (`[sdk] signer_lookup_retry_seconds`) classifies it without a restart.
/// With the retries used up, the message is refused with a kvittens REJECTED (SIG).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signer_lookup_during_an_smp_outage_is_retried_on_a_timer() {
    use access_point::config::DiscoveryConfig;
    use access_point::msh::{NodeOptions, SenderSettings};

    let tmp = tempfile::tempdir().unwrap();
    let aps = support::two_aps(tmp.path());
    append_to_config(
        &aps.b,
        &format!(
            "\n[sdk]\ne2e_anchors = [{:?}]\nsigner_lookup_retry_seconds = 1\nsigner_lookup_retry_attempts = 4\n",
            tmp.path().join("a/keys/ca.pem"),
        ),
    );
    add_peer_from(&aps.a, &aps.b).unwrap();
    add_peer_from(&aps.b, &aps.a).unwrap();
    let a_config = Config::load(&aps.a).unwrap();
    let documents = [pmode::builtin::SDK_MESSAGE_ACTION, pmode::builtin::SDK_KVITTENS_ACTION]
        .map(|action| format!("\"{}\"", action.strip_prefix("busdox-docid-qns::").unwrap_or(action)))
        .join(", ");
    let federation = format!(
        "sml_zone = \"sml.retry.sdk.test\"\n\n[[access_points]]\nname = \"ap-a\"\n\
         endpoint_url = \"{}\"\ncertificate = {cert:?}\n\n\
         [[organisations]]\nid = \"org-a\"\nname = \"A\"\nparticipant_id = \"{SENDER}\"\naccess_point = \"ap-a\"\n\
         documents = [{documents}]\ncertpub_signing_certificate = {cert:?}\n\n\
         [[organisations]]\nid = \"org-other\"\nname = \"Other\"\nparticipant_id = \"{OTHER_ORG}\"\n\
         access_point = \"ap-a\"\ndocuments = [{documents}]\ncertpub_signing_certificate = {cert:?}\n",
        a_config.server.endpoint_url(),
        cert = a_config.keys.message.cert,
    );
    let federation = federation_sim::config::FederationConfig::from_toml(&federation, tmp.path()).unwrap();
    let sim = federation_sim::FederationSim::start(federation).await.unwrap();
    let smp_ca = tmp.path().join("smp-ca.pem");
    std::fs::write(&smp_ca, sim.smp_ca_pem()).unwrap();
    let mut b_config = Config::load(&aps.b).unwrap();
    b_config.trust.smp_anchors = vec![smp_ca];
    let section = format!(
        "sml_zone = \"{}\"\ndns_servers = [\"{}\"]\ndns_timeout_ms = 1000\nsmp_timeout_ms = 2000\n",
        sim.sml_zone(),
        sim.dns_addr()
    );
    b_config.discovery = Some(toml::from_str::<DiscoveryConfig>(&section).unwrap());
    let options = NodeOptions {
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    };
    let b = Node::start(b_config, options).await.unwrap();
    let a = start_shared(&aps.a).await;
    let a_key = load_private_key(&a_config.keys.message.key).unwrap();
    let a_cert = load_certificate(&a_config.keys.message.cert).unwrap();
    let signed = |xhe: Xhe| xhe_signature::sign(xhe.render().unwrap().as_bytes(), &a_key, &a_cert).unwrap();

    sim.set_faults(federation_sim::Faults {
        smp_status: Some(503),
        ..Default::default()
    });
    let waiting = a
        .submit(xhe_submission(
            tmp.path(),
            "waiting.xml",
            &signed(sdk_xhe(b"1")),
            SENDER,
            RECIPIENT,
        ))
        .await
        .unwrap()
        .message_id;
    eventually("the message stored at B", Duration::from_secs(60), || async {
        b.store().get_by_message_id(Direction::Inbound, &waiting).await.unwrap()
    })
    .await;
    // The first try and at least one retry meet the outage: nothing is accepted without the check.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(classification_of(&b, &waiting).await, None);
    sim.set_faults(federation_sim::Faults::default());
    let c = eventually("B's verdict after the outage", Duration::from_secs(30), || {
        classification_of(&b, &waiting)
    })
    .await;
    assert_eq!(c, Classification::Inbox, "classified by a retry, without a restart");
    let history = history_of(&b, &waiting).await;
    assert!(
        history.iter().any(|h| h.starts_with("XHE signature verified")),
        "{history:?}"
    );

    // An outage longer than the retries (1 + 2 + 4 + 8 s): refused, as any other protection failure.
    sim.set_faults(federation_sim::Faults {
        smp_status: Some(503),
        ..Default::default()
    });
    // (From another organisation of A's, so no cached answer of the first lookup serves it.)
    let mut other = sdk_xhe(b"2");
    other.from.id = OTHER_ORG.into();
    let refused = a
        .submit(xhe_submission(
            tmp.path(),
            "refused.xml",
            &signed(other),
            OTHER_ORG,
            RECIPIENT,
        ))
        .await
        .unwrap()
        .message_id;
    let c = eventually("B's verdict after the retries", Duration::from_secs(60), || {
        classification_of(&b, &refused)
    })
    .await;
    let Classification::Rejected {
        reason,
        kvittens_message_id,
    } = c
    else {
        panic!("{refused}: {c:?}")
    };
    assert!(reason.starts_with("SIG "), "{reason}");
    assert!(reason.contains("could not be looked up after 4 retries"), "{reason}");
    assert!(kvittens_message_id.is_some(), "answered with a kvittens");
    let inbox = b.store().inbox_list(InboxQuery::default()).await.unwrap();
    assert!(inbox.items.iter().all(|i| i.entry.message_id != refused));
}
