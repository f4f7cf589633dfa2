//! The node configuration file (`sdk-ap.toml`): typed settings with defaults and errors that name file, line and
//! setting, e.g. `sdk-ap.toml:7: server.listen: invalid socket address "x"`.
//!
//! [`Config::load`] parses (unknown settings are errors) and resolves relative paths against the file's folder;
//! [`Config::validate`] then opens every referenced file and checks that keys match their certificates.
//! Every setting is documented, with its default, in `docs/configuration.md`.

mod api_events;
mod api_tls;
mod discovery;
pub mod link;
mod locate;
mod sdk;
mod sender;
mod transport;
mod validate;

pub use api_events::{EventsConfig, WebhookConfig};
pub use api_tls::ApiTlsConfig;
pub use discovery::DiscoveryConfig;
pub use sdk::SdkConfig;
pub use sender::{SenderConfig, DEFAULT_COMPRESSION_LEVEL, MAX_COMPRESSION_LEVEL};
pub use transport::TransportConfig;
pub use validate::PeerCertificates;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

pub use locate::SettingLines;

/// The PartyId type of SDK access points.
pub const SDK_PARTY_ID_TYPE: &str = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap";
/// Default AS4 listen address.
pub const DEFAULT_SERVER_LISTEN: &str = "127.0.0.1:8443";
/// Default local API listen address.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";
/// Name of the configuration file `sdk-ap init` writes.
pub const CONFIG_FILE_NAME: &str = "sdk-ap.toml";

/// A configuration problem: the file, the line when known, the setting, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {message}", file.display())]
    Read { file: PathBuf, message: String },
    #[error("{}", render_invalid(file, *line, setting, message))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        setting: String,
        message: String,
    },
}

fn render_invalid(file: &Path, line: Option<usize>, setting: &str, message: &str) -> String {
    let name = file.display();
    match (line, setting.is_empty()) {
        (Some(l), false) => format!("{name}:{l}: {setting}: {message}"),
        (Some(l), true) => format!("{name}:{l}: {message}"),
        (None, false) => format!("{name}: {setting}: {message}"),
        (None, true) => format!("{name}: {message}"),
    }
}

impl ConfigError {
    /// The setting the error is about (empty when the file as a whole is unreadable).
    pub fn setting(&self) -> &str {
        match self {
            ConfigError::Read { .. } => "",
            ConfigError::Invalid { setting, .. } => setting,
        }
    }
}

/// The whole configuration of one access point.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from (as given); errors name it.
    pub file: PathBuf,
    /// The folder relative paths were resolved against.
    pub base_dir: PathBuf,
    pub node: NodeConfig,
    pub server: ServerConfig,
    pub keys: KeysConfig,
    pub trust: TrustConfig,
    pub pmodes: PmodesConfig,
    pub limits: LimitsConfig,
    pub api: ApiConfig,
    /// `[transport]`: HTTP server and client limits and timeouts.
    pub transport: TransportConfig,
    /// `[sender]`: the MSH sender task (in-flight bound, attempt timeout).
    pub sender: SenderConfig,
    /// `[sdk]`: the SDK business layer on received messages (inbox, kvittens).
    pub sdk: SdkConfig,
    /// `[discovery]`: SML/SMP recipient discovery; `None` means only `[[peers]]`.
    pub discovery: Option<DiscoveryConfig>,
    /// Static peer table (`[[peers]]`), used until (and beside) dynamic discovery.
    pub peers: Vec<PeerConfig>,
    lines: SettingLines,
}

/// `[node]`: who this access point is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The AP's PartyId, equal to the CN of its message certificate (e.g. `AP0040-SDK-PROD`).
    #[serde(deserialize_with = "party_id")]
    pub party_id: String,
    #[serde(default = "default_party_id_type", deserialize_with = "non_empty")]
    pub party_id_type: String,
    /// Participants (final recipients) this AP delivers to, e.g. `0203:example.se` (scheme
    /// `iso6523-actorid-upis`). A message for anyone else is refused with EBMS:0004 NOT_SERVICED.
    #[serde(default, deserialize_with = "participant_ids")]
    pub served_participants: Vec<String>,
    /// Where the message store and spooled payloads live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

/// `[server]`: the AS4 endpoint other access points push to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_server_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// HTTPS with client certificates. Turning it off needs `allow_plain_http = true` as well.
    #[serde(default = "yes")]
    pub tls: bool,
    /// Explicit consent to plain HTTP (loopback tests, or TLS terminated by a proxy in front).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// The URL peers use to reach this AP (published in SMP, given to `peers add`). Default: derived from `listen`.
    #[serde(default, deserialize_with = "optional_http_url")]
    pub public_endpoint: Option<String>,
    /// How MessageIds of received messages are checked: `lenient` (default) or `rfc2822`.
    #[serde(default)]
    pub received_message_ids: ReceivedMessageIds,
}

/// `[server] received_message_ids`. ebMS3 §5.2.2.1 says a MessageId MUST be an RFC 2822 `id-left@id-right`, but
/// Domibus forwards the id a back end supplies unchanged, and DIGG's back-end examples carry bare UUIDs; refusing
/// them would refuse real SDK peers. So by default any 1 to 255 printable-ASCII id without spaces, `<` or `>` is
/// accepted (it is only a key for duplicate detection and echoed in RefToMessageId); `rfc2822` refuses the rest
/// with an ebMS error. Ids this AP creates are always RFC 2822.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceivedMessageIds {
    #[default]
    Lenient,
    Rfc2822,
}

impl ServerConfig {
    /// `public_endpoint`, or `https://localhost:PORT/as4` (`http://` when TLS is off) derived from `listen`.
    pub fn endpoint_url(&self) -> String {
        if let Some(url) = &self.public_endpoint {
            return url.clone();
        }
        let scheme = if self.tls { "https" } else { "http" };
        let host = match self.listen.ip() {
            ip if ip.is_loopback() || ip.is_unspecified() => "localhost".to_string(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("{scheme}://{host}:{}/as4", self.listen.port())
    }
}

/// A private key, its certificate, and optional intermediate certificates to send along.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFiles {
    /// Unencrypted private key, PEM (PKCS#8 or traditional) or DER; keep it mode 0600.
    pub key: PathBuf,
    /// Certificate, PEM or DER. A PEM file may continue with the chain.
    pub cert: PathBuf,
    #[serde(default)]
    pub chain: Vec<PathBuf>,
}

/// `[keys]`: this AP's own key pairs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// RSA (≥ 3072 bits) message key: SDK / eDelivery AS4 1.15 signing and RSA-OAEP key transport.
    pub message: KeyFiles,
    /// Ed25519 signing key for eDelivery AS4 2.0 P-Modes.
    #[serde(default)]
    pub ed25519: Option<KeyFiles>,
    /// X25519 key-agreement key for eDelivery AS4 2.0 P-Modes.
    #[serde(default)]
    pub x25519: Option<KeyFiles>,
    /// TLS server and client key; required when `server.tls` is on.
    #[serde(default)]
    pub tls: Option<KeyFiles>,
}

/// `[trust]`: whom we believe. Keep environments apart: PROD, QA and TEST anchors never share a store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// CAs issuing peers' message certificates (DIGG "PKI för Accesspunkter" of this environment).
    #[serde(default)]
    pub message_anchors: Vec<PathBuf>,
    /// Intermediate CAs offered for path building (not trusted by themselves).
    #[serde(default)]
    pub message_intermediates: Vec<PathBuf>,
    /// CRLs for the message-level CAs. When any is given, every CA in a chain must have a current CRL.
    #[serde(default)]
    pub message_crls: Vec<PathBuf>,
    /// CAs issuing peers' TLS certificates (SITHS in production).
    #[serde(default)]
    pub tls_anchors: Vec<PathBuf>,
    #[serde(default)]
    pub tls_intermediates: Vec<PathBuf>,
    /// CRLs for the TLS CAs; same rule as `message_crls`.
    #[serde(default)]
    pub tls_crls: Vec<PathBuf>,
    /// CAs of SMP signing certificates (`Rot CA eDelivery SMP-*`); needed only with dynamic discovery.
    #[serde(default)]
    pub smp_anchors: Vec<PathBuf>,
}

/// `[pmodes]`: which P-Modes this AP uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PmodesConfig {
    /// P-Mode TOML files (see `sdk-ap pmode check`).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Built-in profiles to enable, by name (e.g. `sdk`, `edelivery-as4-2.0`).
    #[serde(default = "default_builtin_pmodes", deserialize_with = "names")]
    pub builtin: Vec<String>,
}

impl Default for PmodesConfig {
    fn default() -> Self {
        PmodesConfig {
            files: Vec::new(),
            builtin: default_builtin_pmodes(),
        }
    }
}

/// `[limits]`: caps on untrusted input. Every cap is a named setting here; new caps go here too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest HTTP request body accepted on `/as4` (all MIME parts together).
    #[serde(deserialize_with = "positive_u64")]
    pub max_message_bytes: u64,
    /// Largest SOAP envelope part (held in memory).
    #[serde(deserialize_with = "positive_u64")]
    pub max_soap_part_bytes: u64,
    /// Largest header section of one MIME part.
    #[serde(deserialize_with = "positive_u64")]
    pub max_mime_header_bytes: u64,
    /// Most MIME parts in one message (SOAP part included).
    #[serde(deserialize_with = "positive_u64")]
    pub max_mime_parts: u64,
    /// Largest single payload as received (spooled to disk).
    #[serde(deserialize_with = "positive_u64")]
    pub max_payload_bytes: u64,
    /// Largest payload after gzip decompression (a larger one fails with EBMS:0303).
    #[serde(deserialize_with = "positive_u64")]
    pub max_decompressed_bytes: u64,
    /// Deepest XML element nesting in any parsed XML.
    #[serde(deserialize_with = "positive_u64")]
    pub max_xml_depth: u64,
    /// Most XML nodes in one parsed document.
    #[serde(deserialize_with = "positive_u64")]
    pub max_xml_nodes: u64,
    /// Most attributes (namespace declarations included) on one XML element.
    #[serde(deserialize_with = "positive_u64")]
    pub max_xml_attributes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        LimitsConfig {
            max_message_bytes: 2048 * MIB,
            max_soap_part_bytes: 4 * MIB,
            max_mime_header_bytes: 16 * 1024,
            max_mime_parts: 64,
            max_payload_bytes: 2048 * MIB,
            max_decompressed_bytes: 2048 * MIB,
            max_xml_depth: 64,
            max_xml_nodes: 200_000,
            max_xml_attributes: 256,
        }
    }
}

impl LimitsConfig {
    /// The XML parser limits for SOAP envelopes.
    pub fn xml_parse_limits(&self) -> xmldsig::dom::ParseLimits {
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        xmldsig::dom::ParseLimits {
            max_bytes: clamp(self.max_soap_part_bytes),
            max_depth: clamp(self.max_xml_depth),
            max_nodes: clamp(self.max_xml_nodes),
            max_attributes: clamp(self.max_xml_attributes),
        }
    }
}

/// `[api]`: the local submission API for message systems.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "default_api_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Without `[api.tls]` the API speaks plain HTTP: it refuses a non-loopback `listen` unless this is `true`
    /// (bearer tokens would cross the network in clear; put a TLS proxy in front). With `[api.tls]` not needed.
    #[serde(default)]
    pub allow_non_loopback: bool,
    /// `token` (default): every call needs `Authorization: Bearer <token>` (`sdk-ap api-token create`);
    /// `none`: every caller is unrestricted, allowed only with a loopback `listen` (development).
    #[serde(default)]
    pub authentication: ApiAuthentication,
    /// The tokens file (hashes only); default `<data_dir>/api-tokens.json`.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// A file holding the token `sdk-ap send` / `status` use (`SDK_AP_TOKEN` and `--token` take precedence).
    #[serde(default)]
    pub client_token_file: Option<PathBuf>,
    /// The audit log (`<data_dir>/audit/api-audit.jsonl`) is rotated before it grows past this many bytes.
    #[serde(default = "default_audit_max_bytes", deserialize_with = "positive_u64")]
    pub audit_max_bytes: u64,
    /// Rotated audit files kept (`api-audit.jsonl.1` … `.N`).
    #[serde(default = "default_audit_keep", deserialize_with = "positive_u64")]
    pub audit_keep: u64,
    /// `fdatasync` every audit line before answering (survives power loss; one disk flush per call).
    #[serde(default)]
    pub audit_fsync: bool,
    /// `[api.events]`: the event stream (`GET /api/v1/events`) and webhook retries.
    #[serde(default)]
    pub events: EventsConfig,
    /// `[[api.webhooks]]`: endpoints that receive events as signed POSTs.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// `[api.tls]`: serve the API over HTTPS and accept client certificates (mutual TLS); absent: plain HTTP.
    #[serde(default)]
    pub tls: Option<ApiTlsConfig>,
    /// The client certificate `sdk-ap send` / `status` / `inbox` present to a TLS API (with `client_key`); it
    /// authenticates instead of a token file (`--token` and `SDK_AP_TOKEN` still take precedence).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// CAs (file, folder or list) the API client checks a TLS API's server certificate with; absent: the client
    /// accepts exactly the certificate `[api.tls] cert` of the same configuration (pinned).
    #[serde(default, deserialize_with = "api_tls::one_or_many")]
    pub client_trust: Vec<PathBuf>,
}

/// `[api] authentication`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiAuthentication {
    #[default]
    Token,
    None,
}

/// File name of the default tokens file under the data directory.
pub const DEFAULT_API_TOKENS_FILE: &str = "api-tokens.json";

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_api_listen(),
            allow_non_loopback: false,
            authentication: ApiAuthentication::default(),
            tokens_file: None,
            client_token_file: None,
            audit_max_bytes: default_audit_max_bytes(),
            audit_keep: default_audit_keep(),
            audit_fsync: false,
            events: EventsConfig::default(),
            webhooks: Vec::new(),
            tls: None,
            client_cert: None,
            client_key: None,
            client_trust: Vec::new(),
        }
    }
}

impl Config {
    /// `[api] tokens_file`, or `<data_dir>/api-tokens.json`.
    pub fn api_tokens_file(&self) -> PathBuf {
        self.api
            .tokens_file
            .clone()
            .unwrap_or_else(|| self.node.data_dir.join(DEFAULT_API_TOKENS_FILE))
    }
}

fn default_audit_max_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_audit_keep() -> u64 {
    5
}

/// `[[peers]]`: one access point we can send to without discovery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    #[serde(deserialize_with = "party_id")]
    pub party_id: String,
    #[serde(default = "default_party_id_type", deserialize_with = "non_empty")]
    pub party_id_type: String,
    /// The peer's AS4 endpoint URL.
    #[serde(deserialize_with = "http_url")]
    pub endpoint: String,
    /// The peer's message certificate (encrypt to it; its signatures on receipts must verify with it).
    pub message_cert: PathBuf,
    /// The peer's TLS server certificate, when it should be pinned (otherwise the TLS trust store decides).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The peer's Ed25519 signing certificate (eDelivery AS4 2.0).
    #[serde(default)]
    pub ed25519_cert: Option<PathBuf>,
    /// The peer's X25519 key-agreement certificate (eDelivery AS4 2.0 encryption).
    #[serde(default)]
    pub x25519_cert: Option<PathBuf>,
    /// Participants (final recipients, `0203:example.se`) this peer serves: a submission that names only the final
    /// recipient goes to this peer without asking SML/SMP (the static override of discovery).
    #[serde(default, deserialize_with = "participant_ids")]
    pub participants: Vec<String>,
}

/// The file as written; `Config` adds resolved paths and the file's identity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: NodeConfig,
    #[serde(default)]
    server: Option<ServerConfig>,
    keys: KeysConfig,
    #[serde(default)]
    trust: TrustConfig,
    #[serde(default)]
    pmodes: PmodesConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    api: ApiConfig,
    #[serde(default)]
    transport: TransportConfig,
    #[serde(default)]
    sender: SenderConfig,
    #[serde(default)]
    sdk: SdkConfig,
    #[serde(default)]
    discovery: Option<DiscoveryConfig>,
    #[serde(default)]
    peers: Vec<PeerConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_server_listen(),
            tls: true,
            allow_plain_http: false,
            public_endpoint: None,
            received_message_ids: ReceivedMessageIds::default(),
        }
    }
}

impl Config {
    /// Reads, parses and checks the structure of a configuration file. Files it refers to are checked by
    /// [`Config::validate`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::from_toml(&source, path)
    }

    /// Parses configuration text as if read from `path` (relative paths resolve against its folder).
    pub fn from_toml(source: &str, path: &Path) -> Result<Config, ConfigError> {
        let lines = SettingLines::scan(source);
        let raw: RawConfig = toml::from_str(source).map_err(|e| parse_error(path, source, &lines, &e))?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut config = Config {
            file: path.to_path_buf(),
            base_dir,
            node: raw.node,
            server: raw.server.unwrap_or_default(),
            keys: raw.keys,
            trust: raw.trust,
            pmodes: raw.pmodes,
            limits: raw.limits,
            api: raw.api,
            transport: raw.transport,
            sender: raw.sender,
            sdk: raw.sdk,
            discovery: raw.discovery,
            peers: raw.peers,
            lines,
        };
        config.resolve_paths();
        api_events::resolve_and_check(&mut config)?;
        api_tls::resolve_and_check(&mut config)?;
        sdk::resolve_and_check(&mut config)?;
        config.check_consistency()?;
        Ok(config)
    }

    /// An error about `setting`, located at its line when the file mentions it.
    pub fn error(&self, setting: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            line: self.lines.line_of(setting),
            setting: setting.to_string(),
            message: message.into(),
        }
    }

    /// The peer with this party id, if configured.
    pub fn peer(&self, party_id: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.party_id == party_id)
    }

    /// Whether this AP delivers to the participant (`0203:example.se`; a leading `iso6523-actorid-upis::` and
    /// letter case are ignored, as participant ids are case-insensitive).
    pub fn serves(&self, participant: &str) -> bool {
        let wanted = normalize_participant(participant);
        self.node
            .served_participants
            .iter()
            .any(|p| normalize_participant(p) == wanted)
    }

    fn resolve_paths(&mut self) {
        let base = self.base_dir.clone();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.node.data_dir);
        for p in [&mut self.api.tokens_file, &mut self.api.client_token_file]
            .into_iter()
            .flatten()
        {
            resolve(p);
        }
        let resolve_files = |f: &mut KeyFiles| {
            resolve(&mut f.key);
            resolve(&mut f.cert);
            f.chain.iter_mut().for_each(resolve);
        };
        resolve_files(&mut self.keys.message);
        for f in [&mut self.keys.ed25519, &mut self.keys.x25519, &mut self.keys.tls]
            .into_iter()
            .flatten()
        {
            resolve_files(f);
        }
        let t = &mut self.trust;
        for list in [
            &mut t.message_anchors,
            &mut t.message_intermediates,
            &mut t.message_crls,
            &mut t.tls_anchors,
            &mut t.tls_intermediates,
            &mut t.tls_crls,
            &mut t.smp_anchors,
            &mut self.pmodes.files,
        ] {
            list.iter_mut().for_each(resolve);
        }
        if let Some(discovery) = &mut self.discovery {
            discovery.smp_tls_trust.iter_mut().for_each(resolve);
        }
        for peer in &mut self.peers {
            resolve(&mut peer.message_cert);
            for p in [&mut peer.tls_cert, &mut peer.ed25519_cert, &mut peer.x25519_cert]
                .into_iter()
                .flatten()
            {
                resolve(p);
            }
        }
    }

    /// Rules that span settings.
    fn check_consistency(&self) -> Result<(), ConfigError> {
        if !self.server.tls && !self.server.allow_plain_http {
            return Err(self.error(
                "server.tls",
                "TLS is off but `allow_plain_http` is not set; set `allow_plain_http = true` to run plain HTTP",
            ));
        }
        if self.server.tls && self.keys.tls.is_none() {
            return Err(self.error(
                "keys.tls",
                "required when server.tls is on (add [keys.tls] with key and cert)",
            ));
        }
        if self.server.tls && self.trust.tls_anchors.is_empty() {
            return Err(self.error(
                "trust.tls_anchors",
                "required when server.tls is on (client certificates are checked)",
            ));
        }
        if self.trust.message_anchors.is_empty() {
            return Err(self.error(
                "trust.message_anchors",
                "at least one CA is needed to check peers' signatures",
            ));
        }
        if let Some(url) = &self.server.public_endpoint {
            if self.server.tls && url.starts_with("http://") {
                return Err(self.error(
                    "server.public_endpoint",
                    format!("{url:?} is http:// while server.tls is on"),
                ));
            }
        }
        if self.api.authentication == ApiAuthentication::None && !self.api.listen.ip().is_loopback() {
            return Err(self.error(
                "api.authentication",
                format!(
                    "\"none\" is allowed only with a loopback api.listen, not {}",
                    self.api.listen
                ),
            ));
        }
        if self.server.listen == self.api.listen {
            return Err(self.error("api.listen", format!("{} is also server.listen", self.api.listen)));
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if self.peers[..i].iter().any(|p| p.party_id == peer.party_id) {
                return Err(self.error(
                    &format!("peers[{i}].party_id"),
                    format!("duplicate peer {:?}", peer.party_id),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} at {})",
            self.file.display(),
            self.node.party_id,
            self.server.endpoint_url()
        )
    }
}

fn normalize_participant(p: &str) -> String {
    let p = p.trim();
    let p = p.strip_prefix("iso6523-actorid-upis::").unwrap_or(p);
    p.to_ascii_lowercase()
}

/// Turns a toml/serde error into `file:line: setting: message`.
fn parse_error(path: &Path, source: &str, lines: &SettingLines, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_string();
    let line = e.span().map(|s| locate::line_of_offset(source, s.start));
    let setting = match line {
        Some(l) => {
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                match lines.table_at(l) {
                    Some(table) => format!("{table}.{field}"),
                    None => field.to_string(),
                }
            } else {
                lines.setting_at(l).unwrap_or_default().to_string()
            }
        }
        None => String::new(),
    };
    ConfigError::Invalid {
        file: path.to_path_buf(),
        line,
        setting,
        message,
    }
}

fn yes() -> bool {
    true
}
fn default_party_id_type() -> String {
    SDK_PARTY_ID_TYPE.to_string()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_server_listen() -> SocketAddr {
    DEFAULT_SERVER_LISTEN.parse().expect("valid default")
}
fn default_api_listen() -> SocketAddr {
    DEFAULT_API_LISTEN.parse().expect("valid default")
}
fn default_builtin_pmodes() -> Vec<String> {
    vec!["sdk".to_string()]
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.trim().parse().map_err(|_| {
        D::Error::custom(format!(
            "invalid socket address {s:?} (expected IP:PORT, e.g. 127.0.0.1:8443)"
        ))
    })
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(s)
}

fn party_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || s.len() > 255 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(D::Error::custom(format!(
            "invalid party id {s:?} (non-empty, no spaces, e.g. AP0001-DEV)"
        )));
    }
    Ok(s)
}

fn participant_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    for id in &ids {
        let bare = id.strip_prefix("iso6523-actorid-upis::").unwrap_or(id);
        let valid = bare
            .split_once(':')
            .is_some_and(|(icd, value)| icd.len() == 4 && icd.chars().all(|c| c.is_ascii_digit()) && !value.is_empty())
            && !bare.chars().any(char::is_whitespace);
        if !valid {
            return Err(D::Error::custom(format!(
                "invalid participant id {id:?} (expected ICD:VALUE such as \"0203:example.se\")"
            )));
        }
    }
    Ok(ids)
}

fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if let Some(bad) = names.iter().find(|n| n.trim().is_empty()) {
        return Err(D::Error::custom(format!("invalid name {bad:?}")));
    }
    Ok(names)
}

fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    if v <= 0 {
        return Err(D::Error::custom(format!("must be a positive number, got {v}")));
    }
    Ok(v as u64)
}

fn check_http_url(s: &str) -> Result<(), String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("invalid URL {s:?}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("https" | "http"), Some(_)) => Ok(()),
        _ => Err(format!("invalid URL {s:?} (expected https://host[:port]/path)")),
    }
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_http_url(&s).map_err(D::Error::custom)?;
    Ok(s)
}

fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    http_url(d).map(Some)
}

#[cfg(test)]
mod tests;
