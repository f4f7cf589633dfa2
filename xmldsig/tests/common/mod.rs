//! Keys and certificates generated for the tests.
#![allow(dead_code)]

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};
use std::sync::Mutex;

pub struct Identity {
    pub key: PKey<Private>,
    pub certificate: X509,
}

pub fn self_signed(key: PKey<Private>, cn: &str) -> Identity {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    let md = if key.id() == openssl::pkey::Id::ED25519 {
        MessageDigest::null()
    } else {
        MessageDigest::sha256()
    };
    b.sign(&key, md).unwrap();
    Identity {
        key,
        certificate: b.build(),
    }
}

/// An RSA-2048 identity; keys are generated once per CN and process (key generation dominates test time).
pub fn rsa(cn: &str) -> Identity {
    static KEYS: Mutex<Vec<(String, PKey<Private>)>> = Mutex::new(Vec::new());
    let key = {
        let mut keys = KEYS.lock().unwrap();
        match keys.iter().find(|(c, _)| c == cn) {
            Some((_, k)) => k.clone(),
            None => {
                let k = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
                keys.push((cn.to_string(), k.clone()));
                k
            }
        }
    };
    self_signed(key, cn)
}

pub fn ed25519(cn: &str) -> Identity {
    self_signed(PKey::generate_ed25519().unwrap(), cn)
}

pub const SMP_ANSWER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- an SMP answer -->
<SignedServiceMetadata xmlns="http://busdox.org/serviceMetadata/publishing/1.0/" xmlns:ids="http://busdox.org/transport/identifiers/1.0/">
  <ServiceMetadata>
    <ServiceInformation>
      <ids:ParticipantIdentifier scheme="iso6523-actorid-upis">0203:5567212347</ids:ParticipantIdentifier>
      <Endpoint transportProfile="digg-transport-as4-v1_2">
        <EndpointReference>https://ap.example.se/as4?a=1&amp;b=2</EndpointReference>
      </Endpoint>
    </ServiceInformation>
  </ServiceMetadata>
</SignedServiceMetadata>
"#;
