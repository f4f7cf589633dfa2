//! PyPI `xmlsec` 1.3.17 (bundled libxmlsec1 1.3, xmlenc11 rsa-oaep + MGF1-SHA256, aes128-gcm) decrypts whole
//! messages we seal: the HTTP capture is parsed by Python's `email` package, the EncryptedKey found in the
//! Security header, each `cid:` attachment decrypted (interop_support/decrypt_message_with_xmlsec.py). The
//! plaintexts gunzip to the payloads we sent; then Apache Santuario verifies our signature over the envelope and
//! those independently decrypted attachments: sign → encrypt checked end to end by two other implementations.

mod interop_support;

use interop_support::*;
use std::io::Read;
use std::process::Command;

fn decrypt(
    python: &str,
    capture: &std::path::Path,
    key_pem: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Output {
    Command::new(python)
        .arg(support_path("decrypt_message_with_xmlsec.py"))
        .arg(capture)
        .arg(key_pem)
        .arg(out)
        .output()
        .expect("python runs")
}

#[tokio::test]
async fn pyxmlsec_decrypts_our_messages_and_santuario_verifies_the_decrypted_signature() {
    let Some(python) = python_with("python3", "xmlsec", "pip install xmlsec==1.3.17 lxml==6.1.3") else {
        return;
    };
    let world = World::new();
    let xml = b"<?xml version=\"1.0\"?><invoice>4711</invoice>".to_vec();
    let binary: Vec<u8> = (0..120_000u32).map(|i| (i % 253) as u8).collect();
    let payloads = world.payloads(&[&xml, &binary], true);
    let sealed = world.seal_sdk(&payloads, true).await;
    let capture = world.capture(&sealed, "message.http");
    let key = world.write(
        "receiver.key.pem",
        &world.receiver.message.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let out_dir = world.path("decrypted");
    std::fs::create_dir(&out_dir).unwrap();
    let out = decrypt(&python, &capture, &key, &out_dir);
    assert!(out.status.success(), "xmlsec could not decrypt: {}", output_text(&out));

    let mut decrypted = Vec::new();
    for (line, original) in String::from_utf8(out.stdout).unwrap().lines().zip([&xml, &binary]) {
        let fields: Vec<&str> = line.split(' ').collect();
        let plaintext = std::fs::read(fields[2]).unwrap();
        assert_eq!(fields[1], hex(&openssl::sha::sha256(&plaintext)));
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&plaintext[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(&unzipped, original, "{} decrypts to the payload sent", fields[0]);
        decrypted.push((fields[0].to_string(), plaintext));
    }
    assert_eq!(decrypted.len(), 2);

    let Some(classes) = santuario_classes() else { return };
    let envelope = std::fs::read(out_dir.join("envelope.xml")).unwrap();
    let verdict = santuario_verify(&classes, &envelope, &world.sender.message.certificate, &decrypted);
    assert!(
        verdict.ok,
        "Santuario refused the decrypted message's signature: {}",
        verdict.output
    );
    assert_eq!(verdict.references.len(), 4);
}

#[tokio::test]
async fn pyxmlsec_cannot_decrypt_with_another_key_or_a_changed_ciphertext() {
    let Some(python) = python_with("python3", "xmlsec", "pip install xmlsec==1.3.17 lxml==6.1.3") else {
        return;
    };
    let world = World::new();
    let payloads = world.payloads(&[b"<a/>"], true);
    let sealed = world.seal_sdk(&payloads, true).await;
    let capture = world.capture(&sealed, "message.http");
    let out_dir = world.path("out");
    std::fs::create_dir(&out_dir).unwrap();

    let wrong_key = world.write(
        "sender.key.pem",
        &world.sender.message.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let out = decrypt(&python, &capture, &wrong_key, &out_dir);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));

    let key = world.write(
        "receiver.key.pem",
        &world.receiver.message.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let mut raw = std::fs::read(&capture).unwrap();
    let at = raw.len() - 80; // inside the last part's ciphertext / GCM tag
    raw[at] ^= 1;
    let bad = world.write("bad.http", &raw);
    let out = decrypt(&python, &bad, &key, &out_dir);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken GCM tag must fail: {}",
        output_text(&out)
    );
    // The control: the untouched capture decrypts with the same key.
    let out = decrypt(&python, &capture, &key, &out_dir);
    assert!(out.status.success(), "{}", output_text(&out));
}
