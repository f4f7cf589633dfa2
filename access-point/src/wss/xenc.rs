//! The XML Encryption elements of an AS4 security header, as typed values: rendered to XML text on send and parsed
//! back from the shared DOM ([`xmldsig::dom::Document`]) on receive.
//!
//! Layout (WS-Security SwA Profile 1.1 §5.5, XML Encryption 1.1, as WSS4J/Domibus/phase4 and the PyPI `as4`
//! package emit it): one `xenc:EncryptedKey` in `wsse:Security` whose `xenc:ReferenceList` names every
//! `xenc:EncryptedData`; one `xenc:EncryptedData` per attachment, `Type` Attachment-Content-Only, the part's
//! original `MimeType`, `xenc:CipherReference URI="cid:…"` with the Attachment-Ciphertext-Transform, and a
//! `ds:KeyInfo` whose STR points back at the EncryptedKey (WSS 1.1 §7.3 token type EncryptedKey).
//!
//! AS4 1.15: `EncryptionMethod` rsa-oaep (xmlenc11) with `ds:DigestMethod` sha256 and `xenc11:MGF` mgf1sha256
//! (XML Encryption 1.1 §5.5.2); `ds:KeyInfo` holds a `wsse:SecurityTokenReference` to the receiver's certificate.
//! AS4 2.0: `EncryptionMethod` kw-aes128; `ds:KeyInfo` holds `xenc:AgreementMethod` x25519 (XML Encryption 1.1
//! §5.6, RFC 9231) containing, in schema order, `xenc11:KeyDerivationMethod` hkdf with `dsig-more:HKDFParams`
//! (`PRF`, `Salt`, `Info`, `KeyLength` in bytes — RFC 9231 `HKDFParamsType`, as libxmlsec1 1.3 reads it), then
//! `xenc:OriginatorKeyInfo` with the ephemeral key as `dsig11:DEREncodedKeyValue` (XML Signature 1.1 §4.5.3,
//! SubjectPublicKeyInfo with OID 1.3.101.110), then `xenc:RecipientKeyInfo` with the STR to the receiver's
//! certificate.

use crate::wss::algorithms::{
    ns, uri, ContentEncryptionAlgorithm, HkdfPrf, KeyAgreementAlgorithm, KeyDerivationAlgorithm,
    KeyEncryptionAlgorithm, MaskGenerationFunction, OaepDigestAlgorithm,
};
use crate::wss::error::EncryptionError;
use base64::Engine;
use openssl::x509::{X509NameRef, X509Ref};
use std::collections::{HashMap, HashSet};
use xmldsig::dom::{Document, NodeId};

/// How the receiver's certificate is named in the security header (a P-Mode parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReferenceStyle {
    /// A `wsse:BinarySecurityToken` carrying the certificate, referenced by `wsse:Reference` (phase4's and the
    /// `as4` package's default).
    BinarySecurityToken,
    /// `ds:X509Data/ds:X509IssuerSerial` (Domibus' default).
    IssuerSerial,
    /// `wsse:KeyIdentifier` of value type X509SubjectKeyIdentifier.
    SubjectKeyIdentifier,
}

/// A `wsse:SecurityTokenReference` to an X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenReference {
    /// `wsse:Reference URI="#id"` to a BinarySecurityToken; `certificate_der` is the token's certificate when the
    /// header carries it.
    BinarySecurityToken {
        token_id: String,
        certificate_der: Option<Vec<u8>>,
    },
    /// Issuer distinguished name (RFC 4514 string) and decimal serial number.
    IssuerSerial {
        issuer: String,
        serial: String,
    },
    SubjectKeyIdentifier(Vec<u8>),
}

impl TokenReference {
    /// A reference to `certificate` in `style`; `token_id` is the wsu:Id of the BinarySecurityToken.
    pub fn to_certificate(
        certificate: &X509Ref,
        style: KeyReferenceStyle,
        token_id: &str,
    ) -> Result<TokenReference, EncryptionError> {
        Ok(match style {
            KeyReferenceStyle::BinarySecurityToken => TokenReference::BinarySecurityToken {
                token_id: token_id.to_string(),
                certificate_der: Some(certificate.to_der()?),
            },
            KeyReferenceStyle::IssuerSerial => TokenReference::IssuerSerial {
                issuer: distinguished_name(certificate.issuer_name()),
                serial: certificate.serial_number().to_bn()?.to_dec_str()?.to_string(),
            },
            KeyReferenceStyle::SubjectKeyIdentifier => TokenReference::SubjectKeyIdentifier(
                certificate
                    .subject_key_id()
                    .ok_or_else(|| {
                        EncryptionError::UnsuitableRecipient("an SKI reference (certificate has no SKI)".into())
                    })?
                    .as_slice()
                    .to_vec(),
            ),
        })
    }

    /// Whether this reference names `certificate`.
    pub fn names(&self, certificate: &X509Ref) -> bool {
        match self {
            TokenReference::BinarySecurityToken { certificate_der, .. } => certificate_der
                .as_deref()
                .is_some_and(|der| certificate.to_der().is_ok_and(|own| own == der)),
            TokenReference::IssuerSerial { issuer, serial } => {
                let own_serial = certificate
                    .serial_number()
                    .to_bn()
                    .and_then(|bn| bn.to_dec_str().map(|s| s.to_string()));
                own_serial.is_ok_and(|s| s == serial.trim().trim_start_matches('0') || s == serial.trim())
                    && normalise_dn(issuer) == normalise_dn(&distinguished_name(certificate.issuer_name()))
            }
            TokenReference::SubjectKeyIdentifier(ski) => certificate
                .subject_key_id()
                .is_some_and(|own| own.as_slice() == ski.as_slice()),
        }
    }
}

/// RSA-OAEP parameters as declared (absent elements take XML Encryption 1.1 §5.5.2's SHA-1 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OaepParameters {
    pub digest: OaepDigestAlgorithm,
    pub mgf: MaskGenerationFunction,
}

/// `dsig-more:HKDFParams` (RFC 9231).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HkdfParameters {
    pub prf: HkdfPrf,
    pub salt: Vec<u8>,
    pub info: Vec<u8>,
    /// Derived key length in bytes, when stated.
    pub key_length: Option<u64>,
}

/// An `xenc:AgreementMethod` (XML Encryption 1.1 §5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAgreement {
    pub algorithm: KeyAgreementAlgorithm,
    pub derivation: KeyDerivationAlgorithm,
    /// Present when `derivation` is HKDF.
    pub hkdf: Option<HkdfParameters>,
    /// The originator's (ephemeral) public key, DER SubjectPublicKeyInfo.
    pub originator_public_key_der: Vec<u8>,
    pub recipient: Option<TokenReference>,
}

/// How the content key inside an `xenc:EncryptedKey` is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEncryption {
    /// Key transport to the receiver's RSA key.
    Transport {
        algorithm: KeyEncryptionAlgorithm,
        oaep: OaepParameters,
        recipient: Option<TokenReference>,
    },
    /// Key agreement, then key wrap under the derived key.
    Agreement {
        wrap: KeyEncryptionAlgorithm,
        agreement: KeyAgreement,
    },
}

/// An `xenc:EncryptedKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedKey {
    pub id: String,
    pub method: KeyEncryption,
    pub cipher_value: Vec<u8>,
    /// The `DataReference` URIs without their leading `#`.
    pub data_references: Vec<String>,
}

/// An `xenc:EncryptedData` for one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedData {
    pub id: String,
    /// The `Type` URI (must be [`uri::ATTACHMENT_CONTENT_ONLY`]).
    pub data_type: String,
    /// The original part's media type.
    pub mime_type: Option<String>,
    pub algorithm: ContentEncryptionAlgorithm,
    /// The Content-ID of the encrypted part, from `CipherReference URI="cid:…"`.
    pub content_id: String,
    /// The CipherReference transform algorithms, in order.
    pub transforms: Vec<String>,
    /// The EncryptedKey this data names in its KeyInfo, without `#`.
    pub key_reference: Option<String>,
}

/// The encryption elements found in one `wsse:Security` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionHeader {
    pub encrypted_key: Option<EncryptedKey>,
    pub encrypted_data: Vec<EncryptedData>,
}

// ------------------------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------------------------

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\n' => out.push_str("&#xA;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
    out
}

/// A `wsse:BinarySecurityToken` carrying `certificate` (X.509 Token Profile 1.1 §3.1), self-contained.
pub fn render_binary_security_token(token_id: &str, certificate_der: &[u8]) -> String {
    render_binary_security_token_base64(token_id, &b64(certificate_der))
}

/// [`render_binary_security_token`] with the certificate's DER already base64-encoded (standard alphabet, padded,
/// no line breaks), for a signer whose token text is computed once.
pub fn render_binary_security_token_base64(token_id: &str, certificate_base64: &str) -> String {
    format!(
        r#"<wsse:BinarySecurityToken xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" EncodingType="{enc}" ValueType="{vt}" wsu:Id="{id}">{cert}</wsse:BinarySecurityToken>"#,
        wsse = ns::WSSE,
        wsu = ns::WSU,
        enc = uri::BASE64_BINARY,
        vt = uri::X509_V3,
        id = escape(token_id),
        cert = certificate_base64,
    )
}

fn render_token_reference(reference: &TokenReference) -> String {
    match reference {
        TokenReference::BinarySecurityToken { token_id, .. } => format!(
            r##"<wsse:SecurityTokenReference><wsse:Reference URI="#{}" ValueType="{}"/></wsse:SecurityTokenReference>"##,
            escape(token_id),
            uri::X509_V3
        ),
        TokenReference::IssuerSerial { issuer, serial } => format!(
            "<wsse:SecurityTokenReference><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName>\
             <ds:X509SerialNumber>{}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></wsse:SecurityTokenReference>",
            escape(issuer),
            escape(serial)
        ),
        TokenReference::SubjectKeyIdentifier(ski) => format!(
            r#"<wsse:SecurityTokenReference><wsse:KeyIdentifier EncodingType="{}" ValueType="{}">{}</wsse:KeyIdentifier></wsse:SecurityTokenReference>"#,
            uri::BASE64_BINARY,
            uri::X509_SKI,
            b64(ski)
        ),
    }
}

/// The `xenc:EncryptedKey` element, self-contained (declares every namespace it uses).
pub fn render_encrypted_key(key: &EncryptedKey) -> String {
    let mut out = format!(
        r#"<xenc:EncryptedKey xmlns:xenc="{}" xmlns:ds="{}" xmlns:wsse="{}""#,
        ns::XENC,
        ns::DS,
        ns::WSSE
    );
    if matches!(key.method, KeyEncryption::Agreement { .. }) {
        out.push_str(&format!(
            r#" xmlns:xenc11="{}" xmlns:dsig11="{}" xmlns:dsig-more="{}""#,
            ns::XENC11,
            ns::DSIG11,
            ns::DSIG_MORE
        ));
    } else {
        out.push_str(&format!(r#" xmlns:xenc11="{}""#, ns::XENC11));
    }
    out.push_str(&format!(r#" Id="{}">"#, escape(&key.id)));
    match &key.method {
        KeyEncryption::Transport {
            algorithm,
            oaep,
            recipient,
        } => {
            out.push_str(&format!(
                r#"<xenc:EncryptionMethod Algorithm="{}"><ds:DigestMethod Algorithm="{}"/>"#,
                algorithm.uri(),
                oaep.digest.uri()
            ));
            if *algorithm == KeyEncryptionAlgorithm::RsaOaep {
                out.push_str(&format!(r#"<xenc11:MGF Algorithm="{}"/>"#, oaep.mgf.uri()));
            }
            out.push_str("</xenc:EncryptionMethod>");
            if let Some(recipient) = recipient {
                out.push_str(&format!(
                    "<ds:KeyInfo>{}</ds:KeyInfo>",
                    render_token_reference(recipient)
                ));
            }
        }
        KeyEncryption::Agreement { wrap, agreement } => {
            out.push_str(&format!(r#"<xenc:EncryptionMethod Algorithm="{}"/>"#, wrap.uri()));
            out.push_str(&format!(
                r#"<ds:KeyInfo><xenc:AgreementMethod Algorithm="{}">"#,
                agreement.algorithm.uri()
            ));
            out.push_str(&format!(
                r#"<xenc11:KeyDerivationMethod Algorithm="{}">"#,
                agreement.derivation.uri()
            ));
            if let Some(hkdf) = &agreement.hkdf {
                out.push_str(&format!(
                    r#"<dsig-more:HKDFParams><dsig-more:PRF Algorithm="{}"/><dsig-more:Salt>{}</dsig-more:Salt><dsig-more:Info>{}</dsig-more:Info>"#,
                    hkdf.prf.uri(),
                    b64(&hkdf.salt),
                    b64(&hkdf.info)
                ));
                if let Some(len) = hkdf.key_length {
                    out.push_str(&format!("<dsig-more:KeyLength>{len}</dsig-more:KeyLength>"));
                }
                out.push_str("</dsig-more:HKDFParams>");
            }
            out.push_str("</xenc11:KeyDerivationMethod>");
            out.push_str(&format!(
                "<xenc:OriginatorKeyInfo><dsig11:DEREncodedKeyValue>{}</dsig11:DEREncodedKeyValue></xenc:OriginatorKeyInfo>",
                b64(&agreement.originator_public_key_der)
            ));
            if let Some(recipient) = &agreement.recipient {
                out.push_str(&format!(
                    "<xenc:RecipientKeyInfo>{}</xenc:RecipientKeyInfo>",
                    render_token_reference(recipient)
                ));
            }
            out.push_str("</xenc:AgreementMethod></ds:KeyInfo>");
        }
    }
    out.push_str(&format!(
        "<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>",
        b64(&key.cipher_value)
    ));
    if !key.data_references.is_empty() {
        out.push_str("<xenc:ReferenceList>");
        for r in &key.data_references {
            out.push_str(&format!(r##"<xenc:DataReference URI="#{}"/>"##, escape(r)));
        }
        out.push_str("</xenc:ReferenceList>");
    }
    out.push_str("</xenc:EncryptedKey>");
    out
}

/// One `xenc:EncryptedData` for an attachment, self-contained.
pub fn render_encrypted_data(data: &EncryptedData) -> String {
    let mut out = format!(
        r#"<xenc:EncryptedData xmlns:xenc="{}" xmlns:ds="{}" xmlns:wsse="{}" xmlns:wsse11="{}" Id="{}" Type="{}""#,
        ns::XENC,
        ns::DS,
        ns::WSSE,
        ns::WSSE11,
        escape(&data.id),
        escape(&data.data_type)
    );
    if let Some(mime) = &data.mime_type {
        out.push_str(&format!(r#" MimeType="{}""#, escape(mime)));
    }
    out.push_str(&format!(
        r#"><xenc:EncryptionMethod Algorithm="{}"/>"#,
        data.algorithm.uri()
    ));
    if let Some(key) = &data.key_reference {
        out.push_str(&format!(
            r##"<ds:KeyInfo><wsse:SecurityTokenReference wsse11:TokenType="{}"><wsse:Reference URI="#{}"/></wsse:SecurityTokenReference></ds:KeyInfo>"##,
            uri::ENCRYPTED_KEY_TOKEN_TYPE,
            escape(key)
        ));
    }
    out.push_str(&format!(
        r#"<xenc:CipherData><xenc:CipherReference URI="cid:{}">"#,
        escape(&encode_cid(&data.content_id))
    ));
    if !data.transforms.is_empty() {
        out.push_str("<xenc:Transforms>");
        for t in &data.transforms {
            out.push_str(&format!(r#"<ds:Transform Algorithm="{}"/>"#, escape(t)));
        }
        out.push_str("</xenc:Transforms>");
    }
    out.push_str("</xenc:CipherReference></xenc:CipherData></xenc:EncryptedData>");
    out
}

/// RFC 2392: a `cid:` URL is the Content-ID (without angle brackets) with URL-unsafe characters %-encoded.
pub(crate) fn encode_cid(content_id: &str) -> String {
    let mut out = String::new();
    for b in content_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@!$&'()*+,;=:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn decode_cid(url: &str) -> Result<String, EncryptionError> {
    let bad = || EncryptionError::Malformed(format!("invalid cid: URL {url:?}"));
    let bytes = url.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = url.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// An X.509 name as an RFC 4514 string (most specific RDN first), with OpenSSL's short attribute names.
pub fn distinguished_name(name: &X509NameRef) -> String {
    let mut parts = Vec::new();
    for entry in name.entries() {
        let nid = entry.object().nid();
        let key = nid
            .short_name()
            .map(str::to_string)
            .unwrap_or_else(|_| entry.object().to_string());
        let value = entry
            .data()
            .to_string()
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.data().as_slice()).into_owned());
        parts.push(format!("{key}={}", escape_dn_value(&value)));
    }
    parts.reverse();
    parts.join(",")
}

fn escape_dn_value(value: &str) -> String {
    let mut out = String::new();
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let needs = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Compares distinguished names written by different toolkits: attribute types case-insensitive (with the usual
/// aliases), whitespace around separators ignored. Values compare exactly.
fn normalise_dn(dn: &str) -> Vec<(String, String)> {
    let mut rdns = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == ';' {
            rdns.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    rdns.push(current);
    rdns.into_iter()
        .map(|rdn| {
            let (k, v) = rdn.split_once('=').unwrap_or((rdn.as_str(), ""));
            let k = k.trim().to_ascii_lowercase();
            let k = match k.as_str() {
                "s" => "st".to_string(),
                "e" | "email" => "emailaddress".to_string(),
                "oid.2.5.4.5" | "2.5.4.5" => "serialnumber".to_string(),
                _ => k,
            };
            (k, v.trim().to_string())
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------------------
// Parsing
// ------------------------------------------------------------------------------------------------------------

fn malformed(what: impl Into<String>) -> EncryptionError {
    EncryptionError::Malformed(what.into())
}

fn unsupported(element: &'static str, found: &str) -> EncryptionError {
    EncryptionError::AlgorithmNotAllowed {
        element,
        found: found.to_string(),
        expected: "an algorithm of eDelivery AS4 1.15 or 2.0".to_string(),
    }
}

fn child(doc: &Document, parent: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
    doc.first_child(parent, namespace, local)
}

fn required_child(doc: &Document, parent: NodeId, namespace: &str, local: &str) -> Result<NodeId, EncryptionError> {
    child(doc, parent, namespace, local).ok_or_else(|| malformed(format!("missing {local}")))
}

fn algorithm_of(doc: &Document, id: NodeId, element: &str) -> Result<String, EncryptionError> {
    doc.attribute(id, None, "Algorithm")
        .map(str::to_string)
        .ok_or_else(|| malformed(format!("{element} without Algorithm")))
}

fn base64_content(doc: &Document, id: NodeId, what: &str) -> Result<Vec<u8>, EncryptionError> {
    let text: String = doc
        .text_content(id)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| malformed(format!("{what} is not base64")))
}

fn fragment_uri(uri: &str, what: &str) -> Result<String, EncryptionError> {
    uri.strip_prefix('#')
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| malformed(format!("{what} URI {uri:?} is not a same-document reference")))
}

/// Reads the encryption elements that are direct children of the `wsse:Security` element `security`.
pub fn parse_encryption_header(doc: &Document, security: NodeId) -> Result<EncryptionHeader, EncryptionError> {
    let mut tokens: HashMap<String, Vec<u8>> = HashMap::new();
    for bst in doc.children_named(security, ns::WSSE, "BinarySecurityToken") {
        if let Some(id) = doc.attribute(bst, Some(ns::WSU), "Id") {
            if doc.attribute(bst, None, "ValueType") == Some(uri::X509_V3) {
                tokens.insert(id.to_string(), base64_content(doc, bst, "BinarySecurityToken")?);
            }
        }
    }
    let mut header = EncryptionHeader::default();
    for node in doc.children_named(security, ns::XENC, "EncryptedKey") {
        if header.encrypted_key.is_some() {
            return Err(EncryptionError::Duplicate("xenc:EncryptedKey".into()));
        }
        header.encrypted_key = Some(parse_encrypted_key(doc, node, &tokens)?);
    }
    let mut ids = HashSet::new();
    for node in doc.children_named(security, ns::XENC, "EncryptedData") {
        let data = parse_encrypted_data(doc, node)?;
        if !ids.insert(data.id.clone()) {
            return Err(EncryptionError::Duplicate(format!("EncryptedData Id {}", data.id)));
        }
        header.encrypted_data.push(data);
    }
    Ok(header)
}

/// Parses one `xenc:EncryptedKey`; `tokens` maps BinarySecurityToken wsu:Ids to certificate DER.
pub fn parse_encrypted_key(
    doc: &Document,
    node: NodeId,
    tokens: &HashMap<String, Vec<u8>>,
) -> Result<EncryptedKey, EncryptionError> {
    let id = doc.attribute(node, None, "Id").unwrap_or_default().to_string();
    let method_node = required_child(doc, node, ns::XENC, "EncryptionMethod")?;
    let method_uri = algorithm_of(doc, method_node, "EncryptedKey/EncryptionMethod")?;
    let algorithm = KeyEncryptionAlgorithm::from_uri(&method_uri)
        .ok_or_else(|| unsupported("EncryptedKey/EncryptionMethod", &method_uri))?;
    let key_info = child(doc, node, ns::DS, "KeyInfo");

    let method = match algorithm {
        KeyEncryptionAlgorithm::RsaOaep | KeyEncryptionAlgorithm::RsaOaepMgf1p | KeyEncryptionAlgorithm::Rsa15 => {
            let digest = match child(doc, method_node, ns::DS, "DigestMethod") {
                Some(d) => {
                    let u = algorithm_of(doc, d, "DigestMethod")?;
                    OaepDigestAlgorithm::from_uri(&u).ok_or_else(|| unsupported("EncryptionMethod/DigestMethod", &u))?
                }
                None => OaepDigestAlgorithm::Sha1,
            };
            let mgf = match (algorithm, child(doc, method_node, ns::XENC11, "MGF")) {
                (KeyEncryptionAlgorithm::RsaOaep, Some(m)) => {
                    let u = algorithm_of(doc, m, "MGF")?;
                    MaskGenerationFunction::from_uri(&u).ok_or_else(|| unsupported("EncryptionMethod/MGF", &u))?
                }
                // §5.5.2: without MGF, and always for rsa-oaep-mgf1p, the mask function is MGF1 with SHA-1.
                _ => MaskGenerationFunction::Mgf1Sha1,
            };
            if let Some(p) = child(doc, method_node, ns::XENC, "OAEPparams") {
                if !base64_content(doc, p, "OAEPparams")?.is_empty() {
                    return Err(EncryptionError::ParameterNotAllowed {
                        element: "EncryptionMethod/OAEPparams",
                        found: "a non-empty OAEP label".into(),
                        expected: "no label".into(),
                    });
                }
            }
            let recipient = match key_info.and_then(|k| child(doc, k, ns::WSSE, "SecurityTokenReference")) {
                Some(str_node) => Some(parse_token_reference(doc, str_node, tokens)?),
                None => None,
            };
            KeyEncryption::Transport {
                algorithm,
                oaep: OaepParameters { digest, mgf },
                recipient,
            }
        }
        KeyEncryptionAlgorithm::KwAes128 | KeyEncryptionAlgorithm::KwAes256 => {
            let key_info = key_info.ok_or_else(|| malformed("key wrap without KeyInfo/AgreementMethod"))?;
            let agreement_node = required_child(doc, key_info, ns::XENC, "AgreementMethod")?;
            KeyEncryption::Agreement {
                wrap: algorithm,
                agreement: parse_agreement_method(doc, agreement_node, tokens)?,
            }
        }
    };
    let cipher_data = required_child(doc, node, ns::XENC, "CipherData")?;
    let cipher_value = required_child(doc, cipher_data, ns::XENC, "CipherValue")?;
    let cipher_value = base64_content(doc, cipher_value, "EncryptedKey CipherValue")?;
    let mut data_references = Vec::new();
    if let Some(list) = child(doc, node, ns::XENC, "ReferenceList") {
        for r in doc.child_elements(list) {
            if !doc.is(r, ns::XENC, "DataReference") {
                return Err(malformed("ReferenceList holds something other than DataReference"));
            }
            let u = doc
                .attribute(r, None, "URI")
                .ok_or_else(|| malformed("DataReference without URI"))?;
            data_references.push(fragment_uri(u, "DataReference")?);
        }
    }
    Ok(EncryptedKey {
        id,
        method,
        cipher_value,
        data_references,
    })
}

fn parse_agreement_method(
    doc: &Document,
    node: NodeId,
    tokens: &HashMap<String, Vec<u8>>,
) -> Result<KeyAgreement, EncryptionError> {
    let u = algorithm_of(doc, node, "AgreementMethod")?;
    let algorithm = KeyAgreementAlgorithm::from_uri(&u).ok_or_else(|| unsupported("AgreementMethod", &u))?;
    let kdm = required_child(doc, node, ns::XENC11, "KeyDerivationMethod")?;
    let u = algorithm_of(doc, kdm, "KeyDerivationMethod")?;
    let derivation = KeyDerivationAlgorithm::from_uri(&u).ok_or_else(|| unsupported("KeyDerivationMethod", &u))?;
    let hkdf = match derivation {
        KeyDerivationAlgorithm::Hkdf => Some(parse_hkdf_params(
            doc,
            required_child(doc, kdm, ns::DSIG_MORE, "HKDFParams")?,
        )?),
        KeyDerivationAlgorithm::ConcatKdf => None,
    };
    let originator = required_child(doc, node, ns::XENC, "OriginatorKeyInfo")?;
    let der = required_child(doc, originator, ns::DSIG11, "DEREncodedKeyValue")?;
    let originator_public_key_der = base64_content(doc, der, "DEREncodedKeyValue")?;
    let recipient = match child(doc, node, ns::XENC, "RecipientKeyInfo")
        .and_then(|r| child(doc, r, ns::WSSE, "SecurityTokenReference"))
    {
        Some(s) => Some(parse_token_reference(doc, s, tokens)?),
        None => None,
    };
    Ok(KeyAgreement {
        algorithm,
        derivation,
        hkdf,
        originator_public_key_der,
        recipient,
    })
}

fn parse_hkdf_params(doc: &Document, node: NodeId) -> Result<HkdfParameters, EncryptionError> {
    let prf_node = required_child(doc, node, ns::DSIG_MORE, "PRF")?;
    let u = algorithm_of(doc, prf_node, "HKDFParams/PRF")?;
    let prf = HkdfPrf::from_uri(&u).ok_or_else(|| unsupported("HKDFParams/PRF", &u))?;
    let salt = match child(doc, node, ns::DSIG_MORE, "Salt") {
        Some(s) => base64_content(doc, s, "HKDF Salt")?,
        None => Vec::new(),
    };
    let info = match child(doc, node, ns::DSIG_MORE, "Info") {
        Some(s) => base64_content(doc, s, "HKDF Info")?,
        None => Vec::new(),
    };
    let key_length = match child(doc, node, ns::DSIG_MORE, "KeyLength") {
        Some(k) => Some(
            doc.text_content(k)
                .trim()
                .parse::<u64>()
                .map_err(|_| malformed("HKDF KeyLength is not a number"))?,
        ),
        None => None,
    };
    Ok(HkdfParameters {
        prf,
        salt,
        info,
        key_length,
    })
}

pub(crate) fn parse_token_reference(
    doc: &Document,
    node: NodeId,
    tokens: &HashMap<String, Vec<u8>>,
) -> Result<TokenReference, EncryptionError> {
    if let Some(r) = child(doc, node, ns::WSSE, "Reference") {
        let u = doc
            .attribute(r, None, "URI")
            .ok_or_else(|| malformed("wsse:Reference without URI"))?;
        let token_id = fragment_uri(u, "wsse:Reference")?;
        let certificate_der = tokens.get(&token_id).cloned();
        return Ok(TokenReference::BinarySecurityToken {
            token_id,
            certificate_der,
        });
    }
    if let Some(k) = child(doc, node, ns::WSSE, "KeyIdentifier") {
        if doc.attribute(k, None, "ValueType") != Some(uri::X509_SKI) {
            return Err(malformed(
                "KeyIdentifier of a value type other than X509SubjectKeyIdentifier",
            ));
        }
        return Ok(TokenReference::SubjectKeyIdentifier(base64_content(
            doc,
            k,
            "KeyIdentifier",
        )?));
    }
    if let Some(data) = child(doc, node, ns::DS, "X509Data") {
        let is = required_child(doc, data, ns::DS, "X509IssuerSerial")?;
        let issuer = doc
            .text_content(required_child(doc, is, ns::DS, "X509IssuerName")?)
            .trim()
            .to_string();
        let serial = doc
            .text_content(required_child(doc, is, ns::DS, "X509SerialNumber")?)
            .trim()
            .to_string();
        return Ok(TokenReference::IssuerSerial { issuer, serial });
    }
    Err(malformed("SecurityTokenReference of an unsupported form"))
}

/// Parses one `xenc:EncryptedData` of an attachment.
pub fn parse_encrypted_data(doc: &Document, node: NodeId) -> Result<EncryptedData, EncryptionError> {
    let id = doc
        .attribute(node, None, "Id")
        .ok_or_else(|| malformed("EncryptedData without Id"))?
        .to_string();
    let data_type = doc.attribute(node, None, "Type").unwrap_or_default().to_string();
    let mime_type = doc.attribute(node, None, "MimeType").map(str::to_string);
    let method = required_child(doc, node, ns::XENC, "EncryptionMethod")?;
    let u = algorithm_of(doc, method, "EncryptedData/EncryptionMethod")?;
    let algorithm =
        ContentEncryptionAlgorithm::from_uri(&u).ok_or_else(|| unsupported("EncryptedData/EncryptionMethod", &u))?;
    let key_reference = match child(doc, node, ns::DS, "KeyInfo")
        .and_then(|k| child(doc, k, ns::WSSE, "SecurityTokenReference"))
        .and_then(|s| child(doc, s, ns::WSSE, "Reference"))
    {
        Some(r) => Some(fragment_uri(
            doc.attribute(r, None, "URI")
                .ok_or_else(|| malformed("wsse:Reference without URI"))?,
            "EncryptedData key reference",
        )?),
        None => None,
    };
    let cipher_data = required_child(doc, node, ns::XENC, "CipherData")?;
    let reference = child(doc, cipher_data, ns::XENC, "CipherReference")
        .ok_or_else(|| malformed(format!("EncryptedData {id} does not reference an attachment")))?;
    let u = doc
        .attribute(reference, None, "URI")
        .ok_or_else(|| malformed("CipherReference without URI"))?;
    let content_id = decode_cid(
        u.strip_prefix("cid:")
            .ok_or_else(|| malformed(format!("CipherReference URI {u:?} is not a cid: URL")))?,
    )?;
    let mut transforms = Vec::new();
    if let Some(list) = child(doc, reference, ns::XENC, "Transforms") {
        for t in doc.children_named(list, ns::DS, "Transform") {
            transforms.push(algorithm_of(doc, t, "Transform")?);
        }
    }
    Ok(EncryptedData {
        id,
        data_type,
        mime_type,
        algorithm,
        content_id,
        transforms,
        key_reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security_with(fragments: &[String]) -> String {
        format!(
            r#"<wsse:Security xmlns:wsse="{}">{}</wsse:Security>"#,
            ns::WSSE,
            fragments.concat()
        )
    }

    fn sample_data() -> EncryptedData {
        EncryptedData {
            id: "ED-1".into(),
            data_type: uri::ATTACHMENT_CONTENT_ONLY.into(),
            mime_type: Some("application/xml".into()),
            algorithm: ContentEncryptionAlgorithm::Aes128Gcm,
            content_id: "part 1@example.se".into(),
            transforms: vec![uri::ATTACHMENT_CIPHERTEXT_TRANSFORM.into()],
            key_reference: Some("EK-1".into()),
        }
    }

    #[test]
    fn rsa_oaep_key_and_data_round_trip() {
        let key = EncryptedKey {
            id: "EK-1".into(),
            method: KeyEncryption::Transport {
                algorithm: KeyEncryptionAlgorithm::RsaOaep,
                oaep: OaepParameters {
                    digest: OaepDigestAlgorithm::Sha256,
                    mgf: MaskGenerationFunction::Mgf1Sha256,
                },
                recipient: Some(TokenReference::IssuerSerial {
                    issuer: "CN=CA,O=Ex \\, AB".into(),
                    serial: "42".into(),
                }),
            },
            cipher_value: vec![1, 2, 3],
            data_references: vec!["ED-1".into()],
        };
        let xml = security_with(&[render_encrypted_key(&key), render_encrypted_data(&sample_data())]);
        let doc = Document::parse_str(&xml).unwrap();
        let header = parse_encryption_header(&doc, doc.root()).unwrap();
        assert_eq!(header.encrypted_key, Some(key));
        assert_eq!(header.encrypted_data, vec![sample_data()]);
    }

    #[test]
    fn agreement_key_round_trip() {
        let key = EncryptedKey {
            id: "EK-1".into(),
            method: KeyEncryption::Agreement {
                wrap: KeyEncryptionAlgorithm::KwAes128,
                agreement: KeyAgreement {
                    algorithm: KeyAgreementAlgorithm::X25519,
                    derivation: KeyDerivationAlgorithm::Hkdf,
                    hkdf: Some(HkdfParameters {
                        prf: HkdfPrf::HmacSha256,
                        salt: vec![9; 32],
                        info: b"info".to_vec(),
                        key_length: Some(16),
                    }),
                    originator_public_key_der: vec![4, 5, 6],
                    recipient: Some(TokenReference::SubjectKeyIdentifier(vec![7; 20])),
                },
            },
            cipher_value: vec![0; 24],
            data_references: vec!["ED-1".into()],
        };
        let xml = security_with(&[render_encrypted_key(&key)]);
        let doc = Document::parse_str(&xml).unwrap();
        assert_eq!(
            parse_encryption_header(&doc, doc.root()).unwrap().encrypted_key,
            Some(key)
        );
    }

    #[test]
    fn oaep_defaults_are_sha1() {
        let xml = security_with(&[format!(
            r#"<xenc:EncryptedKey xmlns:xenc="{}" Id="k"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/><xenc:CipherData><xenc:CipherValue>AQID</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"#,
            ns::XENC
        )]);
        let doc = Document::parse_str(&xml).unwrap();
        let key = parse_encryption_header(&doc, doc.root())
            .unwrap()
            .encrypted_key
            .unwrap();
        let KeyEncryption::Transport { oaep, .. } = key.method else {
            panic!()
        };
        assert_eq!(
            oaep,
            OaepParameters {
                digest: OaepDigestAlgorithm::Sha1,
                mgf: MaskGenerationFunction::Mgf1Sha1
            }
        );
    }

    #[test]
    fn duplicate_ids_and_keys_refused() {
        let data = render_encrypted_data(&sample_data());
        let xml = security_with(&[data.clone(), data]);
        let doc = Document::parse_str(&xml).unwrap();
        assert!(matches!(
            parse_encryption_header(&doc, doc.root()),
            Err(EncryptionError::Duplicate(_))
        ));
    }

    #[test]
    fn unknown_algorithm_is_policy_error() {
        let xml = render_encrypted_data(&sample_data()).replace(
            ContentEncryptionAlgorithm::Aes128Gcm.uri(),
            "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
        );
        let doc = Document::parse_str(&security_with(&[xml])).unwrap();
        let err = parse_encryption_header(&doc, doc.root()).unwrap_err();
        assert_eq!(err.ebms_error().code(), "EBMS:0103");
    }

    #[test]
    fn cid_encoding_round_trips() {
        for cid in ["a@b", "with space/and%", "ünï"] {
            assert_eq!(decode_cid(&encode_cid(cid)).unwrap(), cid);
        }
    }

    #[test]
    fn dn_comparison_tolerates_spacing_and_case() {
        assert_eq!(
            normalise_dn("CN=CA, O=Ex\\, AB,C=SE"),
            normalise_dn("cn=CA,o = Ex\\, AB , c=SE")
        );
        assert_ne!(normalise_dn("CN=CA"), normalise_dn("CN=Other"));
    }
}
