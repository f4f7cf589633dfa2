//! Canonicalising + digesting a typical 4 KB eb:Messaging header (exclusive c14n, SHA-256), against the reference
//! of hashing the same number of canonical octets with OpenSSL's SHA-256 alone, measured in the same run.
//!
//! `cargo bench -p xmldsig --bench c14n_digest -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use openssl::hash::{hash, Hasher, MessageDigest};
use xmldsig::dom::Document;
use xmldsig::reference::{find_by_id, IdAttribute};
use xmldsig::{canonicalize, canonicalize_to_vec, C14nMode, NodeSet};

/// An AS4 SOAP envelope whose eb:Messaging header is about 4 KB.
fn envelope() -> String {
    let mut parts = String::new();
    for i in 0..8 {
        parts.push_str(&format!(
            r#"
        <eb:PartInfo href="cid:attachment-{i}-3f1c9a2e@sdk.example.se">
          <eb:PartProperties>
            <eb:Property name="MimeType">application/pdf</eb:Property>
            <eb:Property name="CompressionType">application/gzip</eb:Property>
            <eb:Property name="CharacterSet">utf-8</eb:Property>
          </eb:PartProperties>
        </eb:PartInfo>"#
        ));
    }
    format!(
        r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><env:Header>
    <eb:Messaging xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/" env:mustUnderstand="true" wsu:Id="_messaging-1c2d3e4f">
      <eb:UserMessage mpc="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC">
        <eb:MessageInfo>
          <eb:Timestamp>2026-11-24T10:15:30.123Z</eb:Timestamp>
          <eb:MessageId>6f0d8a52-9b8e-4c1e-a1f3-0d6c2a7e5b11@ap1.sdk.example.se</eb:MessageId>
        </eb:MessageInfo>
        <eb:PartyInfo>
          <eb:From><eb:PartyId type="urn:oasis:names:tc:ebcore:partyid-type:iso6523:0203">5567212347</eb:PartyId><eb:Role>http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator</eb:Role></eb:From>
          <eb:To><eb:PartyId type="urn:oasis:names:tc:ebcore:partyid-type:iso6523:0203">2120000142</eb:PartyId><eb:Role>http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder</eb:Role></eb:To>
        </eb:PartyInfo>
        <eb:CollaborationInfo>
          <eb:AgreementRef>urn:sdk:agreement:v1</eb:AgreementRef>
          <eb:Service type="urn:fdc:digg.se:edelivery:process">urn:riv:infrastructure:messaging:v1</eb:Service>
          <eb:Action>busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:1</eb:Action>
          <eb:ConversationId>c0a80101-0000-4000-8000-000000000001</eb:ConversationId>
        </eb:CollaborationInfo>
        <eb:MessageProperties>
          <eb:Property name="originalSender" type="iso6523-actorid-upis">0203:5567212347</eb:Property>
          <eb:Property name="finalRecipient" type="iso6523-actorid-upis">0203:2120000142</eb:Property>
        </eb:MessageProperties>
        <eb:PayloadInfo>{parts}
        </eb:PayloadInfo>
      </eb:UserMessage>
    </eb:Messaging>
  </env:Header><env:Body wsu:Id="_body"/></env:Envelope>"#
    )
}

fn bench(c: &mut Criterion) {
    let xml = envelope();
    let doc = Document::parse_str(&xml).unwrap();
    let messaging = find_by_id(&doc, "_messaging-1c2d3e4f", &[IdAttribute::wsu_id()]).unwrap();
    let set = NodeSet::subtree(messaging);
    let mode = C14nMode::exclusive();
    let canonical = canonicalize_to_vec(&doc, &set, &mode);
    eprintln!("eb:Messaging canonical form: {} bytes", canonical.len());

    let mut group = c.benchmark_group("messaging_4k");
    group.throughput(Throughput::Bytes(canonical.len() as u64));
    group.bench_function("exc_c14n_sha256", |b| {
        b.iter(|| {
            let mut hasher = Hasher::new(MessageDigest::sha256()).unwrap();
            canonicalize(&doc, &set, &mode, &mut hasher).unwrap();
            hasher.finish().unwrap()
        })
    });
    group.bench_function("parse_exc_c14n_sha256", |b| {
        b.iter(|| {
            let doc = Document::parse_str(&xml).unwrap();
            let node = find_by_id(&doc, "_messaging-1c2d3e4f", &[IdAttribute::wsu_id()]).unwrap();
            let mut hasher = Hasher::new(MessageDigest::sha256()).unwrap();
            canonicalize(&doc, &NodeSet::subtree(node), &mode, &mut hasher).unwrap();
            hasher.finish().unwrap()
        })
    });
    group.bench_function("reference_openssl_sha256_only", |b| {
        b.iter(|| hash(MessageDigest::sha256(), &canonical).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
