//! The DIGG CertPub extension of SMP service metadata: organisation (end-to-end) signing and encryption
//! certificates in `ServiceInformation/Extension[ExtensionID = urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0]`.

use super::xml::{decode_certificate_text, SMP_NS};
use openssl::x509::X509;
use xmldsig::dom::{Document, NodeId};

/// The ExtensionID of the CertPub extension.
pub const CERTPUB_EXTENSION_ID: &str = "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0";
/// TypeCode of the organisation signing certificate.
pub const SIGNING_CERT_TYPE: &str = "urn:fdc:digg.se:edelivery:certpub:signing-cert";
/// TypeCode of the organisation encryption certificate.
pub const ENCRYPTION_CERT_TYPE: &str = "urn:fdc:digg.se:edelivery:certpub:encryption-cert";
/// SMP 2 aggregate components namespace (prefix `smc`).
pub const SMC_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents";
/// SMP 2 basic components namespace (prefix `smb`).
pub const SMB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents";

/// The organisation certificates published through CertPub (DER). Either may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPub {
    pub signing: Vec<Vec<u8>>,
    pub encryption: Vec<Vec<u8>>,
}

impl CertPub {
    /// Whether no certificate is published.
    pub fn is_empty(&self) -> bool {
        self.signing.is_empty() && self.encryption.is_empty()
    }

    /// The first signing certificate, parsed.
    pub fn signing_certificate(&self) -> Option<X509> {
        self.signing.first().and_then(|d| X509::from_der(d).ok())
    }

    /// The first encryption certificate, parsed.
    pub fn encryption_certificate(&self) -> Option<X509> {
        self.encryption.first().and_then(|d| X509::from_der(d).ok())
    }
}

/// Reads every CertPub extension under `info` (the `ServiceInformation`). Extensions with another ExtensionID
/// are ignored; a CertPub extension with an unknown TypeCode, a wrong mimeCode or a certificate that is not
/// X.509 is an error.
pub fn parse_certpub_extensions(doc: &Document, info: NodeId) -> Result<CertPub, String> {
    let mut out = CertPub::default();
    for ext in doc.children_named(info, SMP_NS, "Extension") {
        let id = doc
            .first_child(ext, SMP_NS, "ExtensionID")
            .map(|n| doc.text_content(n).trim().to_string());
        if id.as_deref() != Some(CERTPUB_EXTENSION_ID) {
            continue;
        }
        for cert in doc.children_named(ext, SMC_NS, "Certificate") {
            let type_code = doc
                .first_child(cert, SMB_NS, "TypeCode")
                .map(|n| doc.text_content(n).trim().to_string())
                .ok_or("Certificate without TypeCode")?;
            let object = doc
                .first_child(cert, SMB_NS, "ContentBinaryObject")
                .ok_or("Certificate without ContentBinaryObject")?;
            if let Some(mime) = doc.attribute(object, None, "mimeCode") {
                if mime != "application/base64" {
                    return Err(format!(
                        "ContentBinaryObject mimeCode {mime:?} is not application/base64"
                    ));
                }
            }
            let der = decode_certificate_text(&doc.text_content(object))?;
            X509::from_der(&der).map_err(|e| format!("{type_code}: not an X.509 certificate: {e}"))?;
            match type_code.as_str() {
                SIGNING_CERT_TYPE => out.signing.push(der),
                ENCRYPTION_CERT_TYPE => out.encryption.push(der),
                other => return Err(format!("unknown certificate TypeCode {other:?}")),
            }
        }
    }
    Ok(out)
}
