//! The SMP documents the simulator serves: OASIS SMP 1.0 service groups and service metadata (with the DIGG
//! CertPub extension), enveloped-signed through the shared `xmldsig` crate.

use base64::Engine;

pub const SMP_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05";
pub const SMC_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents";
pub const SMB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents";

/// Escapes text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// A service group listing `documents` under `base_url`.
pub fn service_group(participant: &str, document_urls: &[String]) -> String {
    let refs: String = document_urls
        .iter()
        .map(|u| format!("<ServiceMetadataReference href=\"{}\"/>", escape(u)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceGroup xmlns=\"{SMP_NS}\"><ParticipantIdentifier \
         scheme=\"iso6523-actorid-upis\">{}</ParticipantIdentifier><ServiceMetadataReferenceCollection>{refs}\
         </ServiceMetadataReferenceCollection></ServiceGroup>",
        escape(participant)
    )
}

/// The content of one service metadata answer.
pub struct MetadataContent<'a> {
    pub participant: &'a str,
    pub document: &'a str,
    pub transport_profile: &'a str,
    pub endpoint_url: &'a str,
    pub ap_certificate_der: &'a [u8],
    pub activation: Option<&'a str>,
    pub expiration: Option<&'a str>,
    pub certpub_signing_der: Option<&'a [u8]>,
    pub certpub_encryption_der: Option<&'a [u8]>,
}

/// An unsigned `SignedServiceMetadata` (the signature is appended by [`sign`]).
pub fn unsigned_metadata(c: &MetadataContent<'_>) -> String {
    let mut dates = String::new();
    if let Some(a) = c.activation {
        dates.push_str(&format!("<ServiceActivationDate>{}</ServiceActivationDate>", escape(a)));
    }
    if let Some(e) = c.expiration {
        dates.push_str(&format!("<ServiceExpirationDate>{}</ServiceExpirationDate>", escape(e)));
    }
    let mut certs = String::new();
    for (code, der) in [
        ("urn:fdc:digg.se:edelivery:certpub:signing-cert", c.certpub_signing_der),
        (
            "urn:fdc:digg.se:edelivery:certpub:encryption-cert",
            c.certpub_encryption_der,
        ),
    ] {
        if let Some(der) = der {
            certs.push_str(&format!(
                "<smc:Certificate><smb:TypeCode>{code}</smb:TypeCode><smb:ContentBinaryObject \
                 mimeCode=\"application/base64\">{}</smb:ContentBinaryObject></smc:Certificate>",
                b64(der)
            ));
        }
    }
    let extension = if certs.is_empty() {
        String::new()
    } else {
        format!(
            "<Extension><ExtensionID>urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0</ExtensionID>{certs}</Extension>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SignedServiceMetadata xmlns=\"{SMP_NS}\" xmlns:smc=\"{SMC_NS}\" \
         xmlns:smb=\"{SMB_NS}\"><ServiceMetadata><ServiceInformation><ParticipantIdentifier \
         scheme=\"iso6523-actorid-upis\">{participant}</ParticipantIdentifier><DocumentIdentifier \
         scheme=\"busdox-docid-qns\">{document}</DocumentIdentifier><ProcessList><Process><ProcessIdentifier \
         scheme=\"urn:fdc:digg.se:edelivery:process\">bdx:noprocess</ProcessIdentifier><ServiceEndpointList>\
         <Endpoint transportProfile=\"{profile}\"><EndpointURI>{url}</EndpointURI>\
         <RequireBusinessLevelSignature>false</RequireBusinessLevelSignature>{dates}<Certificate>{cert}</Certificate>\
         <ServiceDescription>sdk-federation-sim</ServiceDescription>\
         <TechnicalContactUrl>mailto:sim@example.invalid</TechnicalContactUrl></Endpoint></ServiceEndpointList>\
         </Process></ProcessList>{extension}</ServiceInformation></ServiceMetadata></SignedServiceMetadata>",
        participant = escape(c.participant),
        document = escape(c.document),
        profile = escape(c.transport_profile),
        url = escape(c.endpoint_url),
        cert = b64(c.ap_certificate_der),
    )
}

/// Enveloped-signs `xml` (a `SignedServiceMetadata`) with `signer`, through the shared `xmldsig` crate.
pub fn sign(xml: &str, signer: &super::pki::KeyPair) -> Result<Vec<u8>, String> {
    xmldsig::sign_enveloped(
        xml.as_bytes(),
        &signer.key,
        &signer.certificate,
        &xmldsig::EnvelopedSignOptions::default(),
    )
    .map_err(|e| e.to_string())
}
