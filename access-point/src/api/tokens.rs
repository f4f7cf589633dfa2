//! API tokens: creation, listing and revocation (by `sdk-ap api-token`) and verification (by the API server).
//!
//! A token is `sdkap_<id>_<secret>`: `id` is 16 lower-case hex digits (64 random bits, public, the lookup key) and
//! `secret` 43 base64url characters (256 random bits). The tokens file keeps, per token, its id, name, scope,
//! creation time, optional expiry, revoked flag and the SHA-256 of the secret, never the secret itself.
//!
//! Why a plain SHA-256 and not a password hash: the secret is 256 bits from the OS CSPRNG, so there is nothing to
//! guess and no dictionary to slow down; a slow KDF would only cost CPU on every request. The stored digest is
//! compared in constant time all the same.
//!
//! The file is JSON, written atomically (temporary file in the same folder, mode 0600, fsync, rename, fsync of
//! the folder) under an exclusive lock on `<file>.lock`, because the CLI edits it while the server runs (the
//! server holds the sled lock, so the store cannot be used). The server's [`TokenStore`] re-reads the file when
//! its identity (inode, size, mtime) changes, checked on every request (one `stat`), so a created or revoked token
//! takes effect at once.
//!
//! Certificate entries (mutual TLS, `[api.tls]`): an entry made with `--client-cert` has no secret; it stores the
//! SHA-256 fingerprint of one client certificate's DER encoding and grants that certificate its scope, revocation
//! and expiry like a token. The fingerprint, not the subject, is the key: a CA may issue several certificates with
//! one subject (renewal, or a mistake), and a subject match would let each of them in; a fingerprint admits exactly
//! the certificate that was registered (a renewed certificate needs a new entry).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{AuthError, Caller, Permission, Scope, ScopeEntry};

/// Every token starts with this, so that leaked tokens are easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "sdkap_";
/// Bytes of the public token id.
const ID_BYTES: usize = 8;
/// Bytes of the secret.
const SECRET_BYTES: usize = 32;
/// Length of the base64url (unpadded) secret.
const SECRET_CHARS: usize = 43;
/// Version of the tokens file layout.
const FILE_VERSION: u32 = 1;
/// Longest token name.
pub const MAX_TOKEN_NAME: usize = 64;

/// What went wrong with the tokens file or a token operation.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a valid tokens file: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("invalid token name {0:?}: 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    #[error("a token named {0:?} exists (revoke it first)")]
    NameTaken(String),
    #[error("no token named or with id {0:?}")]
    Unknown(String),
    #[error("invalid scope {spec:?}: {message}")]
    BadScope { spec: String, message: String },
    #[error("a token needs --operator or at least one --scope")]
    NoScope,
    #[error("the random generator failed: {0}")]
    Random(String),
    #[error("an active entry ({0}) is registered for this client certificate (revoke it first)")]
    CertificateTaken(String),
    #[error("client certificate: {0}")]
    Certificate(String),
}

/// A parsed token: what a client holds. `Copy`, so that [`super::ApiClient`] stays `Copy`; `Debug` hides the
/// secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiToken {
    id: [u8; ID_BYTES],
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({TOKEN_PREFIX}{}_…)", self.id_hex())
    }
}

impl std::fmt::Display for ApiToken {
    /// The full token, secret included: only for the one place it is shown or sent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.secret);
        write!(f, "{TOKEN_PREFIX}{}_{secret}", self.id_hex())
    }
}

impl ApiToken {
    /// A new random token.
    pub fn generate() -> Result<ApiToken, TokenError> {
        let mut token = ApiToken {
            id: [0; ID_BYTES],
            secret: [0; SECRET_BYTES],
        };
        openssl::rand::rand_bytes(&mut token.id).map_err(|e| TokenError::Random(e.to_string()))?;
        openssl::rand::rand_bytes(&mut token.secret).map_err(|e| TokenError::Random(e.to_string()))?;
        Ok(token)
    }

    /// Parses `sdkap_<16 hex>_<43 base64url>` (surrounding whitespace, e.g. a file's newline, is ignored).
    pub fn parse(text: &str) -> Option<ApiToken> {
        let rest = text.trim().strip_prefix(TOKEN_PREFIX)?;
        let (id_hex, secret) = rest.split_once('_')?;
        if id_hex.len() != 2 * ID_BYTES || secret.len() != SECRET_CHARS {
            return None;
        }
        let mut id = [0u8; ID_BYTES];
        for (i, byte) in id.iter_mut().enumerate() {
            let pair = id_hex.get(2 * i..2 * i + 2)?;
            if !pair.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret).ok()?;
        let secret: [u8; SECRET_BYTES] = decoded.try_into().ok()?;
        // Reject non-canonical encodings (trailing bits set), so one token has exactly one spelling.
        let token = ApiToken { id, secret };
        (token.to_string() == text.trim()).then_some(token)
    }

    /// The public id (16 hex digits).
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn secret_digest(&self) -> [u8; 32] {
        openssl::sha::sha256(&self.secret)
    }

    /// Reads a token from a file (e.g. `[api] client_token_file`).
    pub fn read_file(path: &Path) -> Result<ApiToken, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ApiToken::parse(&text).ok_or_else(|| TokenError::Format {
            path: path.to_path_buf(),
            message: format!("the file does not hold one {TOKEN_PREFIX}… token"),
        })
    }
}

/// One scope entry as stored and as written on the command line (`ORG[/FUNCTIONAL_ADDRESS]:send,read`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScope {
    pub organisation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functional_address: Option<String>,
    pub send: bool,
    pub read: bool,
}

impl StoredScope {
    /// Parses `ORG[/FUNCTIONAL_ADDRESS]:PERMISSIONS`, PERMISSIONS a comma list of `send` and `read`. The
    /// organisation is a participant id (`0203:2120000829`, itself with a colon), so the permissions follow the
    /// last colon and the functional address the first `/`.
    pub fn parse(spec: &str) -> Result<StoredScope, TokenError> {
        let bad = |message: &str| TokenError::BadScope {
            spec: spec.to_string(),
            message: message.to_string(),
        };
        let (target, permissions) = spec
            .rsplit_once(':')
            .ok_or_else(|| bad("expected ORG[/FUNCTIONAL_ADDRESS]:send,read"))?;
        let (mut send, mut read) = (false, false);
        for permission in permissions.split(',') {
            match permission.trim().to_ascii_lowercase().as_str() {
                "send" => send = true,
                "read" => read = true,
                other => return Err(bad(&format!("unknown permission {other:?} (send, read)"))),
            }
        }
        let (organisation, functional_address) = match target.split_once('/') {
            Some((org, fa)) => (org, Some(fa)),
            None => (target, None),
        };
        let organisation = organisation.trim();
        let bare = organisation
            .strip_prefix("iso6523-actorid-upis::")
            .unwrap_or(organisation);
        let valid_org = bare
            .split_once(':')
            .is_some_and(|(icd, value)| icd.len() == 4 && icd.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty())
            && !bare.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid_org {
            return Err(bad(
                "the organisation must be a participant id ICD:VALUE, e.g. 0203:2120000829",
            ));
        }
        let functional_address = match functional_address.map(str::trim) {
            Some("") => return Err(bad("empty functional address after '/'")),
            Some(fa) if fa.chars().any(char::is_control) => {
                return Err(bad("control character in the functional address"))
            }
            other => other.map(str::to_string),
        };
        Ok(StoredScope {
            organisation: bare.to_string(),
            functional_address,
            send,
            read,
        })
    }

    fn entry(&self) -> ScopeEntry {
        let mut permissions = Vec::new();
        if self.send {
            permissions.push(Permission::Send);
        }
        if self.read {
            permissions.push(Permission::Read);
        }
        ScopeEntry {
            organisation: self.organisation.clone(),
            functional_address: self.functional_address.clone(),
            permissions,
        }
    }
}

impl std::fmt::Display for StoredScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.organisation)?;
        if let Some(fa) = &self.functional_address {
            write!(f, "/{fa}")?;
        }
        let permissions: Vec<&str> = [(self.send, "send"), (self.read, "read")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        write!(f, ":{}", permissions.join(","))
    }
}

/// One token as stored (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    /// Lower-case hex SHA-256 of the 32 secret bytes.
    pub secret_sha256: String,
    /// Unrestricted (every organisation, and `GET /api/v1/status`).
    pub operator: bool,
    #[serde(default)]
    pub scopes: Vec<StoredScope>,
    #[serde(with = "rfc3339")]
    pub created: OffsetDateTime,
    #[serde(default, with = "rfc3339_option", skip_serializing_if = "Option::is_none")]
    pub expires: Option<OffsetDateTime>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default, with = "rfc3339_option", skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Set on certificate entries: lower-case hex SHA-256 of the client certificate's DER (then `secret_sha256` is
    /// empty, and no bearer token matches the entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_sha256: Option<String>,
    /// The registered certificate's subject, for `list` (informational; the fingerprint decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_subject: Option<String>,
}

impl TokenRecord {
    /// The caller this token authenticates as.
    pub fn caller(&self) -> Caller {
        let kind = if self.client_cert_sha256.is_some() {
            "mtls"
        } else {
            "token"
        };
        Caller {
            actor: format!("{kind}:{}", self.name),
            scope: if self.operator {
                Scope::Unrestricted
            } else {
                Scope::Entries(self.scopes.iter().map(StoredScope::entry).collect())
            },
        }
    }

    /// Whether the token is usable at `now` (not revoked, not expired).
    pub fn state_at(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked {
            "revoked"
        } else if self.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TokensFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub operator: bool,
    pub scopes: Vec<StoredScope>,
    pub expires: Option<OffsetDateTime>,
}

fn check_new(new: &NewToken) -> Result<String, TokenError> {
    let name = new.name.trim();
    if name.is_empty()
        || name.len() > MAX_TOKEN_NAME
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(TokenError::BadName(new.name.clone()));
    }
    if !new.operator && new.scopes.is_empty() {
        return Err(TokenError::NoScope);
    }
    Ok(name.to_string())
}

/// Creates a token and stores its digest; returns the record and the token (shown once, never stored).
pub fn create(path: &Path, new: NewToken) -> Result<(TokenRecord, ApiToken), TokenError> {
    let name = check_new(&new)?;
    let name = name.as_str();
    let token = ApiToken::generate()?;
    let record = TokenRecord {
        id: token.id_hex(),
        name: name.to_string(),
        secret_sha256: hex(&token.secret_digest()),
        operator: new.operator,
        scopes: if new.operator { Vec::new() } else { new.scopes },
        created: now_seconds(),
        expires: new.expires,
        revoked: false,
        revoked_at: None,
        client_cert_sha256: None,
        client_cert_subject: None,
    };
    let stored = record.clone();
    modify(path, move |file| {
        if file.tokens.iter().any(|t| !t.revoked && t.name == stored.name) {
            return Err(TokenError::NameTaken(stored.name.clone()));
        }
        file.tokens.push(stored);
        Ok(())
    })?;
    Ok((record, token))
}

/// SHA-256 of a certificate's DER encoding (what certificate entries are keyed by).
pub fn certificate_fingerprint(der: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(der)
}

/// Registers a client certificate (mutual TLS) with `new`'s name, scope and expiry; returns the stored entry.
/// Refused when an active entry already holds the certificate, so that one certificate has one scope.
pub fn create_for_certificate(
    path: &Path,
    new: NewToken,
    certificate: &openssl::x509::X509Ref,
) -> Result<TokenRecord, TokenError> {
    let name = check_new(&new)?;
    let der = certificate
        .to_der()
        .map_err(|e| TokenError::Certificate(e.to_string()))?;
    let mut id = [0u8; ID_BYTES];
    openssl::rand::rand_bytes(&mut id).map_err(|e| TokenError::Random(e.to_string()))?;
    let record = TokenRecord {
        id: hex(&id),
        name,
        secret_sha256: String::new(),
        operator: new.operator,
        scopes: if new.operator { Vec::new() } else { new.scopes },
        created: now_seconds(),
        expires: new.expires,
        revoked: false,
        revoked_at: None,
        client_cert_sha256: Some(hex(&certificate_fingerprint(&der))),
        client_cert_subject: Some(crate::pki::certinfo::name_to_string(certificate.subject_name())),
    };
    let stored = record.clone();
    modify(path, move |file| {
        if file.tokens.iter().any(|t| !t.revoked && t.name == stored.name) {
            return Err(TokenError::NameTaken(stored.name.clone()));
        }
        if let Some(holder) = file
            .tokens
            .iter()
            .find(|t| !t.revoked && t.client_cert_sha256 == stored.client_cert_sha256)
        {
            return Err(TokenError::CertificateTaken(holder.name.clone()));
        }
        file.tokens.push(stored);
        Ok(())
    })?;
    Ok(record)
}

/// Revokes the token with this name or id (kept in the file, marked revoked, for the audit trail).
pub fn revoke(path: &Path, name_or_id: &str) -> Result<TokenRecord, TokenError> {
    let mut revoked = None;
    modify(path, |file| {
        let now = now_seconds();
        let mut found = false;
        for token in file
            .tokens
            .iter_mut()
            .filter(|t| !t.revoked && (t.name == name_or_id || t.id == name_or_id))
        {
            token.revoked = true;
            token.revoked_at = Some(now);
            revoked = Some(token.clone());
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(TokenError::Unknown(name_or_id.to_string()))
        }
    })?;
    revoked.ok_or_else(|| TokenError::Unknown(name_or_id.to_string()))
}

/// Every token in the file (none when the file does not exist).
pub fn list(path: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    Ok(read(path)?.tokens)
}

fn read(path: &Path) -> Result<TokensFile, TokenError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(TokensFile {
                version: FILE_VERSION,
                tokens: Vec::new(),
            })
        }
        Err(source) => {
            return Err(TokenError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_file(path, &bytes)
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<TokensFile, TokenError> {
    let file: TokensFile = serde_json::from_slice(bytes).map_err(|e| TokenError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if file.version != FILE_VERSION {
        return Err(TokenError::Format {
            path: path.to_path_buf(),
            message: format!("version {} (this build reads {FILE_VERSION})", file.version),
        });
    }
    Ok(file)
}

/// Read-modify-write under an exclusive lock on `<file>.lock`, so two CLI runs never lose each other's change.
fn modify(path: &Path, change: impl FnOnce(&mut TokensFile) -> Result<(), TokenError>) -> Result<(), TokenError> {
    let io = |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let lock_path = path.with_extension("lock");
    let lock = open_private(&lock_path, false).map_err(|source| TokenError::Io {
        path: lock_path.clone(),
        source,
    })?;
    lock.lock().map_err(io)?;
    let mut file = read(path)?;
    file.version = FILE_VERSION;
    change(&mut file)?;
    let json = serde_json::to_vec_pretty(&file).map_err(|e| TokenError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomically(path, &json).map_err(io)?;
    drop(lock);
    Ok(())
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Temporary file (0600) in the same folder, fsync, rename over `path`, fsync the folder.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sdk-ap-tokens");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// Writes a token to a new file with mode 0600 (for `--token-file` and `sdk-ap init`); refuses to overwrite
/// unless `replace`.
pub fn write_token_file(path: &Path, token: &ApiToken, replace: bool) -> Result<(), TokenError> {
    let io = |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !replace && path.exists() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists; not overwriting it",
        )));
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    write_atomically(path, format!("{token}\n").as_bytes()).map_err(io)
}

/// The identity of the file as last read: inode, size, modification time.
type Stamp = Option<(u64, u64, Option<std::time::SystemTime>)>;

fn stamp_of(path: &Path) -> Result<Stamp, std::io::Error> {
    match std::fs::metadata(path) {
        Ok(m) => {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let inode = 0;
            Ok(Some((inode, m.len(), m.modified().ok())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

struct Loaded {
    stamp: Stamp,
    /// `None` when the file could not be read or parsed: every token is refused until it is fixed (fail closed).
    tokens: Option<Vec<TokenRecord>>,
}

/// The server's view of the tokens file, re-read whenever the file changes.
pub struct TokenStore {
    path: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

impl TokenStore {
    pub fn new(path: impl Into<PathBuf>) -> TokenStore {
        TokenStore {
            path: path.into(),
            loaded: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The caller a presented token authenticates, at `now`.
    pub fn verify(&self, presented: &str, now: OffsetDateTime) -> Result<Caller, AuthError> {
        let token = ApiToken::parse(presented).ok_or(AuthError::InvalidToken)?;
        let record = self.find(|t| t.id == token.id_hex())?.ok_or(AuthError::InvalidToken)?;
        if record.client_cert_sha256.is_some() {
            // A certificate entry has no secret; only its certificate authenticates.
            return Err(AuthError::InvalidToken);
        }
        let stored = match decode_hex32(&record.secret_sha256) {
            Some(d) => d,
            None => return Err(AuthError::InvalidToken),
        };
        // Constant time: the comparison must not tell how many leading bytes of the digest matched.
        if !openssl::memcmp::eq(&stored, &token.secret_digest()) {
            return Err(AuthError::InvalidToken);
        }
        match record.state_at(now) {
            "revoked" => Err(AuthError::Revoked),
            "expired" => Err(AuthError::Expired),
            _ => Ok(record.caller()),
        }
    }

    /// The caller a verified client certificate (its SHA-256 `fingerprint`) authenticates, at `now`: the newest
    /// entry registered for it, if active.
    pub fn verify_certificate(&self, fingerprint: &[u8; 32], now: OffsetDateTime) -> Result<Caller, AuthError> {
        let wanted = hex(fingerprint);
        let record = self
            .find(|t| t.client_cert_sha256.as_deref() == Some(wanted.as_str()))?
            .ok_or(AuthError::UnknownCertificate)?;
        match record.state_at(now) {
            "revoked" => Err(AuthError::Revoked),
            "expired" => Err(AuthError::Expired),
            _ => Ok(record.caller()),
        }
    }

    fn find(&self, matches: impl Fn(&TokenRecord) -> bool) -> Result<Option<TokenRecord>, AuthError> {
        let stamp = stamp_of(&self.path).map_err(|e| {
            tracing::error!(file = %self.path.display(), error = %e, "api: cannot stat the tokens file");
            AuthError::TokensUnavailable
        })?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.as_ref().is_none_or(|l| l.stamp != stamp) {
            let tokens = match read(&self.path) {
                Ok(file) => Some(file.tokens),
                Err(e) => {
                    tracing::error!(error = %e, "api: the tokens file is unreadable; refusing every token");
                    None
                }
            };
            *loaded = Some(Loaded { stamp, tokens });
        }
        match loaded.as_ref().and_then(|l| l.tokens.as_ref()) {
            // The newest record of an id wins (ids are random; a duplicate would be a hand edit).
            Some(tokens) => Ok(tokens.iter().rev().find(|t| matches(t)).cloned()),
            None => Err(AuthError::TokensUnavailable),
        }
    }
}

/// RFC 3339 timestamps in the tokens file.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.format(&Rfc3339).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::rfc3339")] OffsetDateTime);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(at)| at))
    }
}

/// Now, to the second (what the file and `list` show).
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hostile_spellings_are_refused() {
        let token = ApiToken::generate().unwrap();
        let text = token.to_string();
        assert_eq!(text.len(), TOKEN_PREFIX.len() + 16 + 1 + SECRET_CHARS);
        assert_eq!(ApiToken::parse(&text), Some(token));
        assert_eq!(ApiToken::parse(&format!("{text}\n")), Some(token));
        assert!(!format!("{token:?}").contains(&text[TOKEN_PREFIX.len() + 17..]));
        for bad in [
            "",
            "sdkap_",
            "sdkap__",
            &text[1..],
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text.replacen("sdkap_", "SDKAP_", 1),
            &text.to_ascii_uppercase(),
            &format!("{}=", &text[..text.len() - 1]),
            "sdkap_zzzzzzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "sdkap_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
            // Non-canonical: the last character carries bits beyond the 256 of the secret.
            "sdkap_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
            "sdkap_0123456789abcdéf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(ApiToken::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scope_specs_parse_with_colons_in_the_organisation() {
        let s = StoredScope::parse("0203:2120000829/sdk:inkorg01:0203:x.se:send,read").unwrap();
        assert_eq!(s.organisation, "0203:2120000829");
        assert_eq!(s.functional_address.as_deref(), Some("sdk:inkorg01:0203:x.se"));
        assert!(s.send && s.read);
        assert_eq!(StoredScope::parse(&s.to_string()).unwrap(), s);
        let org = StoredScope::parse("iso6523-actorid-upis::0203:example.se:read").unwrap();
        assert_eq!(
            (org.organisation.as_str(), org.send, org.read),
            ("0203:example.se", false, true)
        );
        for bad in [
            "0203:example.se",
            "0203:example.se:write",
            "example.se:read",
            "0203:example.se/:read",
            ":read",
            "02x3:a:read",
        ] {
            assert!(StoredScope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_store_verifies_hash_only_records_and_sees_revocation_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-tokens.json");
        let new = NewToken {
            name: "case-system".into(),
            operator: false,
            scopes: vec![StoredScope::parse("0203:example.se/fa:send").unwrap()],
            expires: None,
        };
        let (record, token) = create(&path, new.clone()).unwrap();
        assert!(matches!(create(&path, new), Err(TokenError::NameTaken(_))));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&token.to_string()[TOKEN_PREFIX.len() + 17..]),
            "the secret is not at rest"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let store = TokenStore::new(&path);
        let now = OffsetDateTime::now_utc();
        let caller = store.verify(&token.to_string(), now).unwrap();
        assert_eq!(caller.actor(), "token:case-system");
        // Same id, other secret: refused.
        let mut forged = token;
        forged.secret[0] ^= 1;
        assert_eq!(store.verify(&forged.to_string(), now), Err(AuthError::InvalidToken));
        assert_eq!(revoke(&path, &record.id).unwrap().name, "case-system");
        assert_eq!(store.verify(&token.to_string(), now), Err(AuthError::Revoked));
        assert!(matches!(revoke(&path, "case-system"), Err(TokenError::Unknown(_))));
    }

    #[test]
    fn certificate_entries_answer_only_to_their_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-tokens.json");
        let pki = crate::pki::dev::DevPki::throwaway("AP-CERT-ENTRY").unwrap();
        let new = NewToken {
            name: "case-system".into(),
            operator: false,
            scopes: vec![StoredScope::parse("0203:example.se/fa:read").unwrap()],
            expires: None,
        };
        let record = create_for_certificate(&path, new.clone(), &pki.tls.certificate).unwrap();
        let again = NewToken {
            name: "other-name".into(),
            ..new
        };
        assert!(matches!(
            create_for_certificate(&path, again, &pki.tls.certificate),
            Err(TokenError::CertificateTaken(_))
        ));
        let store = TokenStore::new(&path);
        let now = OffsetDateTime::now_utc();
        let fingerprint = certificate_fingerprint(&pki.tls.certificate.to_der().unwrap());
        assert_eq!(
            store.verify_certificate(&fingerprint, now).unwrap().actor(),
            "mtls:case-system"
        );
        let other = certificate_fingerprint(&pki.message.certificate.to_der().unwrap());
        assert_eq!(
            store.verify_certificate(&other, now),
            Err(AuthError::UnknownCertificate)
        );
        // Even a hand-edited entry that carries a secret digest does not accept a bearer token with its id.
        let mut token_with_entry_id = ApiToken::generate().unwrap();
        for (i, byte) in token_with_entry_id.id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&record.id[2 * i..2 * i + 2], 16).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "\"secret_sha256\": \"\"",
            &format!("\"secret_sha256\": \"{}\"", hex(&token_with_entry_id.secret_digest())),
        );
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            store.verify(&token_with_entry_id.to_string(), now),
            Err(AuthError::InvalidToken)
        );
        revoke(&path, "case-system").unwrap();
        assert_eq!(store.verify_certificate(&fingerprint, now), Err(AuthError::Revoked));
    }

    #[test]
    fn an_unreadable_tokens_file_refuses_every_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-tokens.json");
        let (_, token) = create(
            &path,
            NewToken {
                name: "op".into(),
                operator: true,
                scopes: Vec::new(),
                expires: None,
            },
        )
        .unwrap();
        let store = TokenStore::new(&path);
        assert!(store.verify(&token.to_string(), OffsetDateTime::now_utc()).is_ok());
        std::fs::write(&path, b"{ not json").unwrap();
        assert_eq!(
            store.verify(&token.to_string(), OffsetDateTime::now_utc()),
            Err(AuthError::TokensUnavailable)
        );
    }
}
