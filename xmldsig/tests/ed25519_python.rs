//! Independent check of eddsa-ed25519 signatures, which neither xmlsec1 1.2 nor the libxmlsec1 1.3 bundled with
//! PyPI xmlsec implements: Python recomputes everything from the signed document with other code (lxml's
//! canonicalisation, hashlib's SHA-256, the `cryptography` package's Ed25519) and checks our digest and signature.

mod common;
mod peers;

use common::{ed25519, SMP_ANSWER};
use std::io::Write;
use std::process::{Command, Stdio};
use xmldsig::{sign_enveloped, C14nMode, EnvelopedSignOptions};

const CHECKER: &str = r#"
import sys, base64, hashlib
from lxml import etree
from cryptography import x509
DS = "{http://www.w3.org/2000/09/xmldsig#}"
data = sys.stdin.buffer.read()
exclusive = sys.argv[1] == "exc"
root = etree.fromstring(data)
sig = root.find(DS + "Signature")
si = sig.find(DS + "SignedInfo")
value = base64.b64decode(sig.findtext(DS + "SignatureValue"))
cert = x509.load_der_x509_certificate(base64.b64decode(sig.findtext(DS + "KeyInfo/" + DS + "X509Data/" + DS + "X509Certificate")))
cert.public_key().verify(value, etree.tostring(si, method="c14n", exclusive=exclusive, with_comments=False))
digest = base64.b64decode(si.findtext(DS + "Reference/" + DS + "DigestValue"))
tail = sig.tail
prev = sig.getprevious()
root.remove(sig)
if tail:
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        root.text = (root.text or "") + tail
body = etree.tostring(root.getroottree(), method="c14n", exclusive=exclusive, with_comments=False)
assert hashlib.sha256(body).digest() == digest, "digest differs"
print("OK")
"#;

fn python_check(signed: &[u8], mode: &str) -> Option<String> {
    let mut child = match Command::new("python3")
        .args(["-c", CHECKER, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            peers::skip(&format!("python3 ({e}); Ed25519 cross-check"));
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(signed).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if stderr.contains("No module named") {
        peers::skip(&format!(
            "Python lxml/cryptography ({}); Ed25519 cross-check",
            stderr.trim()
        ));
        return None;
    }
    Some(if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        stderr
    })
}

#[test]
fn ed25519_enveloped_signatures_check_out_in_python_cryptography() {
    let id = ed25519("ed-signer");
    for (mode, canonicalization) in [("exc", C14nMode::exclusive()), ("inc", C14nMode::Inclusive)] {
        let options = EnvelopedSignOptions {
            canonicalization,
            ..Default::default()
        };
        let signed = sign_enveloped(SMP_ANSWER.as_bytes(), &id.key, &id.certificate, &options).unwrap();
        let Some(result) = python_check(&signed, mode) else {
            return;
        };
        assert_eq!(result, "OK", "Python refused our Ed25519 signature ({mode}): {result}");
        // Negative control: the checker does notice tampering.
        let tampered = String::from_utf8(signed).unwrap().replace("5567212347", "5567212348");
        let result = python_check(tampered.as_bytes(), mode).unwrap();
        assert!(result.contains("digest differs"), "{result}");
    }
}
