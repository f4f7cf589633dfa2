//! PyPI `as4` 0.2.0 (a strict Peppol-profile AS4 implementation: its own MIME handling, lxml c14n, `cryptography`
//! RSA/AES-GCM) and sdk-ap exchange messages and receipts both ways, through files
//! (interop_support/as4_peer.py):
//!
//! * we seal → as4 receives (chain to our CA, CN = From PartyId, signature, every digest, decryption, SBDH)
//!   → its signed NRR receipt verifies in our `verify_receipt`;
//! * as4 builds → our `open` verifies and decrypts it under a P-Mode matching its profile (rsa-sha256, sha256,
//!   rsa-oaep MGF1-SHA256, aes128-gcm, BST references) → our `build_receipt` receipt satisfies as4's sender
//!   (signer certificate, RefToMessageId, every signed reference acknowledged).
//!
//! Negative controls: a tampered byte in either direction is refused by the other side.
//!
//! as4 0.2.0 puts no `wsu:Timestamp` in its messages or receipts; ebMS3/AS4 does not require one, so both are
//! checked exactly as as4 sent them (a timestamp that is present is always checked by our verifier).

mod interop_support;

use access_point::ebms::{
    AgreementRef, CollaborationInfo, EbmsError, MessageId, MessageInfo, Party, PartyId, PartyInfo, Property, Service,
    Timestamp, UserMessage,
};
use access_point::pki::TrustStore;
use access_point::wss::message::{
    build_receipt, open, verify_receipt, OpenLimits, OpenParams, OutgoingPayload, VerifiedSignal,
};
use interop_support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const PEPPOL_PARTY_TYPE: &str = "urn:fdc:peppol.eu:2017:identifiers:ap";
const DOCID: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1";
const PROCESS: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";
const SENDER: &str = "0088:7300010000001";
const RECIPIENT: &str = "0088:7300010000002";
const INVOICE: &[u8] =
    b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><ID>F-4711</ID></Invoice>";

/// The P-Mode for as4's Peppol profile: the SDK P-Mode's security (the same algorithms, BST token references,
/// CN = From PartyId) with Peppol's business information.
fn peppol_pmode() -> pmode::PMode {
    let mut pm = pmode::builtin::sdk_message();
    pm.id = "peppol-as4".into();
    pm.business_info.service = pmode::Service {
        value: PROCESS.into(),
        service_type: Some("cenbii-procid-ubl".into()),
    };
    pm.business_info.action = format!("busdox-docid-qns::{DOCID}");
    pm
}

fn peppol_user_message(from: &str, to: &str) -> UserMessage {
    let party = |id: &str, role: &str| Party::new(PartyId::typed(id, PEPPOL_PARTY_TYPE).unwrap(), role);
    UserMessage {
        mpc: None,
        message_info: MessageInfo::new(
            MessageId::parse(&format!("{}@interop.sdk-ap", uuid::Uuid::new_v4())).unwrap(),
            Timestamp::now(),
        ),
        party_info: PartyInfo {
            from: party(
                from,
                "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator",
            ),
            to: party(
                to,
                "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder",
            ),
        },
        collaboration_info: CollaborationInfo {
            agreement_ref: Some(AgreementRef {
                value: "urn:fdc:peppol.eu:2017:agreements:tia:ap_provider".into(),
                agreement_type: None,
                pmode: None,
            }),
            service: Service::new(PROCESS, Some("cenbii-procid-ubl".into())).unwrap(),
            action: format!("busdox-docid-qns::{DOCID}"),
            conversation_id: uuid::Uuid::new_v4().to_string(),
        },
        message_properties: vec![
            Property::typed("originalSender", "iso6523-actorid-upis", SENDER),
            Property::typed("finalRecipient", "iso6523-actorid-upis", RECIPIENT),
        ],
        payload_info: vec![],
    }
}

fn write_key_and_cert(world: &World, name: &str, pair: &access_point::pki::KeyPair) -> (String, String) {
    let key = world.write(
        &format!("{name}.key.pem"),
        &pair.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let cert = world.write(&format!("{name}.pem"), &pair.certificate.to_pem().unwrap());
    (key.to_str().unwrap().into(), cert.to_str().unwrap().into())
}

/// Seals a Peppol message from the sender (AP0001-DEV) to the receiver (AP0002-DEV), payload an SBD made by as4.
async fn seal_for_as4(world: &World, python: &str) -> (access_point::wss::message::SealedMessage, Vec<u8>) {
    let invoice = world.write("invoice.xml", INVOICE);
    let sbd = world.path("sbd.xml");
    let out = Command::new(python)
        .arg(support_path("as4_peer.py"))
        .args(["sbd", SENDER, RECIPIENT, DOCID, PROCESS])
        .arg(&invoice)
        .arg(&sbd)
        .output()
        .unwrap();
    assert!(out.status.success(), "as4 sbd: {}", output_text(&out));
    let payloads = [OutgoingPayload {
        content_id: "invoice@interop.sdk-ap".into(),
        mime_type: "application/xml".into(),
        character_set: None,
        compress: true,
        source: sbd.clone(),
        extra_part_properties: vec![],
    }];
    let sealed = world
        .seal(
            &peppol_user_message("AP0001-DEV", "AP0002-DEV"),
            &peppol_pmode(),
            &payloads,
            Some(&world.receiver.message.certificate),
        )
        .await;
    (sealed, std::fs::read(sbd).unwrap())
}

fn as4_receive(
    world: &World,
    python: &str,
    capture: &std::path::Path,
    out_dir: &std::path::Path,
) -> std::process::Output {
    let (key, cert) = write_key_and_cert(world, "as4-receiver", &world.receiver.message);
    let anchor = world.write("sender-ca.pem", &world.sender.ca.certificate.to_pem().unwrap());
    std::fs::create_dir_all(out_dir).unwrap();
    Command::new(python)
        .arg(support_path("as4_peer.py"))
        .args(["receive", &key, &cert])
        .arg(&anchor)
        .arg(capture)
        .arg(out_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn as4_receives_our_message_and_its_receipt_verifies_here() {
    let Some(python) = as4_python() else { return };
    let world = World::new();
    let (sealed, sbd) = seal_for_as4(&world, &python).await;
    let capture = world.capture(&sealed, "to-as4.http");
    let out_dir = world.path("as4-out");
    let out = as4_receive(&world, &python, &capture, &out_dir);
    let report = output_text(&out);
    assert!(out.status.success(), "as4 refused our message: {report}");
    assert!(report.contains("STATE received"), "{report}");
    assert!(
        report.contains(&format!("PAYLOAD {}", hex(&openssl::sha::sha256(&sbd)))),
        "{report}"
    );
    assert!(report.contains("SIGNED 3"), "Messaging, Body, attachment: {report}");
    assert_eq!(std::fs::read(out_dir.join("payload")).unwrap(), sbd);

    let receipt = std::fs::read(out_dir.join("signal.xml")).unwrap();
    let receiver_trust =
        TrustStore::new(vec![world.receiver.ca.certificate.clone()]).with_crls(vec![crl_copy(&world.receiver.crl)]);
    let as_sent = verify_receipt(
        "application/soap+xml; charset=utf-8",
        &receipt,
        &sealed,
        &world.receiver.message.certificate,
        &receiver_trust,
        &peppol_pmode(),
    )
    .await;
    // as4 sends no wsu:Timestamp; ebMS3/AS4 does not require one, and our verifier accepts its receipt as sent.
    as_sent.as_ref().expect("as4's receipt, exactly as sent, verifies");
    let verified = verify_receipt(
        "application/soap+xml; charset=utf-8",
        &receipt,
        &sealed,
        &world.receiver.message.certificate,
        &receiver_trust,
        &peppol_pmode(),
    )
    .await;
    match verified {
        Ok(VerifiedSignal::Receipt { ref_to_message_id, .. }) => assert_eq!(ref_to_message_id, sealed.message_id),
        other => panic!(
            "as4's receipt did not verify: {other:?}\n{}",
            String::from_utf8_lossy(&receipt)
        ),
    }
    // Negative control: the same receipt changed by one digest character is refused.
    let text = String::from_utf8(receipt).unwrap();
    let at = text.find("DigestValue>").unwrap() + "DigestValue>".len();
    let mut bad = text.clone().into_bytes();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let verified = verify_receipt(
        "application/soap+xml; charset=utf-8",
        &bad,
        &sealed,
        &world.receiver.message.certificate,
        &receiver_trust,
        &peppol_pmode(),
    )
    .await;
    assert!(verified.is_err(), "a changed receipt verified: {verified:?}");
}

#[tokio::test]
async fn as4_refuses_our_message_with_a_tampered_messaging_byte() {
    let Some(python) = as4_python() else { return };
    let world = World::new();
    let (sealed, _) = seal_for_as4(&world, &python).await;
    let capture = world.capture(&sealed, "to-as4.http");
    let mut raw = std::fs::read(&capture).unwrap();
    let needle = SENDER.as_bytes();
    let at = raw.windows(needle.len()).position(|w| w == needle).unwrap();
    raw[at + needle.len() - 1] = b'9';
    let bad = world.write("tampered.http", &raw);
    let out = as4_receive(&world, &python, &bad, &world.path("as4-bad"));
    assert!(
        !out.status.success(),
        "as4 accepted a tampered message: {}",
        output_text(&out)
    );
    assert!(output_text(&out).contains("ERROR"), "{}", output_text(&out));
}

#[tokio::test]
async fn as4_messages_open_here_and_our_receipt_satisfies_as4() {
    let Some(python) = as4_python() else { return };
    let world = World::new();
    // as4 sends as AP0002-DEV (the receiver's PKI) to us, AP0001-DEV (the sender's PKI).
    let (key, cert) = write_key_and_cert(&world, "as4-sender", &world.receiver.message);
    let our_cert = world.write("our.pem", &world.sender.message.certificate.to_pem().unwrap());
    let invoice = world.write("invoice.xml", INVOICE);
    let out_dir = world.path("as4-send");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut child = Command::new(&python)
        .arg(support_path("as4_peer.py"))
        .args(["send", &key, &cert])
        .arg(&our_cert)
        .args(["AP0001-DEV", DOCID, PROCESS])
        .arg(&invoice)
        .arg(&out_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let Some(message_id) = line.trim().strip_prefix("BUILT ") else {
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        panic!("as4 did not build a message: {line}{}", output_text(&out));
    };

    let capture = std::fs::read(out_dir.join("request.http")).unwrap();
    let split = capture.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&capture[..split]).to_string();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap();
    let body = &capture[split + 4..];
    let body = body.to_vec();

    let pm = peppol_pmode();
    let our_keys = identity(&world.sender);
    let trust =
        TrustStore::new(vec![world.receiver.ca.certificate.clone()]).with_crls(vec![crl_copy(&world.receiver.crl)]);
    let limits = OpenLimits::default();
    let params = OpenParams {
        our_keys: &our_keys,
        message_trust: &trust,
        limits: &limits,
        spool_dir: world.dir.path(),
    };
    let chosen = pm.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };

    // Negative control first: one changed ciphertext byte is refused.
    let mut tampered = body.to_vec();
    let at = tampered.len() - 100;
    tampered[at] ^= 1;
    let refused = open(&content_type, &tampered[..], &choose, &params).await;
    assert!(refused.is_err(), "a tampered as4 message opened");

    // as4's message carries no wsu:Timestamp; it opens exactly as sent.
    let body = body.to_vec();
    let opened = open(&content_type, &body[..], &choose, &params).await;
    let opened = match opened {
        Ok(o) => o,
        Err(e) => {
            drop(child.stdin.take());
            let _ = child.wait();
            panic!("our open refused as4's message: {e} ({:?})\n{head}", e.code());
        }
    };
    assert_eq!(opened.user_message().message_info.message_id.as_str(), message_id);
    assert_eq!(opened.signer_common_name, "AP0002-DEV");
    assert_eq!(opened.payloads.len(), 1);
    let delivered = std::fs::read(opened.payloads[0].file.path().unwrap()).unwrap();
    let delivered = String::from_utf8(delivered).unwrap();
    assert!(
        delivered.contains("StandardBusinessDocumentHeader") && delivered.contains("F-4711"),
        "{delivered}"
    );
    assert_eq!(opened.received_references.len(), 3);

    let receipt = build_receipt(&opened, &world.sender.message, &pm).unwrap();
    let receipt_path = world.write("receipt.xml", &receipt.body);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", receipt_path.display()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    let mut tail = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut tail).unwrap();
    let report = format!("{rest}{tail}{}", output_text(&out));
    assert!(
        out.status.success(),
        "as4 refused our receipt: {report}\n{}",
        String::from_utf8_lossy(&receipt.body)
    );
    assert!(report.contains("STATE acknowledged"), "{report}");
}
