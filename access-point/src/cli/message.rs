//! `sdk-ap message seal` and `sdk-ap message inspect`: the interop tester's and operator's tools.
//!
//! `seal` writes a complete signed and encrypted AS4 request to a file: the HTTP headers (`Content-Type`,
//! `Content-Length`), a blank line, then the MIME body, exactly as it would be POSTed. `inspect` reads such a file
//! (or one captured from the wire, request or signal) and prints what it holds and what holds up: the parties,
//! service and action, properties, each signature reference with its digest status, the signing certificate and its
//! chain status, the decrypted part sizes, and any failure as its ebMS error code. Its exit status is non-zero when
//! anything fails or could not be checked.

use crate::config::Config;
use crate::ebms::{
    AgreementRef, CollaborationInfo, EbmsError, ErrorCode, MessageIdGenerator, MessageInfo, ParsedEnvelope, Party,
    PartyId, PartyInfo, Property, Receipt, Service, Signal, Timestamp, UserMessage,
};
use crate::mime::read_message;
use crate::pki::{load_certificate, load_certificates, load_crls, load_private_key, KeyPair, NodeIdentity, TrustStore};
use crate::wss::message::{open, seal, OpenLimits, OpenParams, OutgoingPayload, SealParams};
use crate::wss::verify::{verify_security_header, VerificationPolicy};
use clap::{Args, Subcommand};
use pmode::{PMode, PModeSet};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xmldsig::{digest_reference, IdAttribute, ReferenceContext, Signature};

/// Largest HTTP header section `inspect` reads before the body.
pub const MAX_CAPTURED_HEADER_BYTES: usize = 64 * 1024;

/// MIME type of a payload given without one.
const DEFAULT_PAYLOAD_MIME_TYPE: &str = "application/octet-stream";

#[derive(Debug, Args)]
pub struct MessageArgs {
    #[command(subcommand)]
    pub command: MessageCommand,
}

#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Write a signed and encrypted AS4 request (HTTP headers, blank line, MIME body) to a file.
    Seal(SealArgs),
    /// Verify and decrypt a captured AS4 message or signal and print a report (non-zero exit on any failure).
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The access point configuration whose message key signs.
    #[arg(long)]
    pub config: PathBuf,
    /// The receiver's encryption certificate (PEM).
    #[arg(long)]
    pub to_cert: PathBuf,
    /// P-Mode id (built-in or from the configuration).
    #[arg(long, default_value = pmode::builtin::SDK_MESSAGE_ID)]
    pub pmode: String,
    /// The receiver's PartyId; default: the CN of --to-cert.
    #[arg(long)]
    pub to_party: Option<String>,
    /// A payload file, optionally with its MIME type: FILE[:type/subtype]. Repeatable, order kept.
    #[arg(long = "payload", required = true)]
    pub payloads: Vec<String>,
    /// A message property NAME=VALUE (its type comes from the P-Mode). Repeatable.
    #[arg(long = "property")]
    pub properties: Vec<String>,
    /// ConversationId; default: a new UUID.
    #[arg(long)]
    pub conversation_id: Option<String>,
    /// Where to write the message.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The captured message: HTTP headers, a blank line, the body.
    pub message: PathBuf,
    /// Our decryption private key (PEM); its certificate comes from --key-cert or from the same file.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The certificate of --key (PEM).
    #[arg(long)]
    pub key_cert: Option<PathBuf>,
    /// Trust anchors for the signer (PEM, one or more certificates).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// CRL(s) of the signer's CA (PEM or DER); revocation is checked when given.
    #[arg(long)]
    pub crl: Option<PathBuf>,
    /// Take the key, trust anchors, CRLs and P-Modes from this access point configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// P-Mode id; default: the message's AgreementRef/@pmode, else the one matching its service and action.
    #[arg(long)]
    pub pmode: Option<String>,
}

pub fn run(args: MessageArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.command {
        MessageCommand::Seal(a) => match runtime.block_on(run_seal(&a)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        MessageCommand::Inspect(a) => {
            let mut out = std::io::stdout().lock();
            match runtime.block_on(run_inspect(&a, &mut out)) {
                Ok(Verdict::Verified) => ExitCode::SUCCESS,
                Ok(Verdict::Failed) => ExitCode::FAILURE,
                Ok(Verdict::Incomplete) => ExitCode::from(2),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}

/// The built-in P-Modes plus those of the configuration, if any.
fn pmodes(config: Option<&Config>) -> Result<PModeSet, String> {
    let mut set = PModeSet::default();
    for (file, text) in pmode::builtin::toml_files() {
        set.merge(PModeSet::from_toml_str(text, file).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    if let Some(c) = config {
        if !c.pmodes.files.is_empty() {
            let files = PModeSet::load_files(&c.pmodes.files).map_err(|e| e.to_string())?;
            set.merge(files).map_err(|e| e.to_string())?;
        }
    }
    Ok(set)
}

/// Splits `FILE[:type/subtype]`: an existing file named by the whole argument wins; otherwise the suffix after
/// the last `:` counts as a MIME type if it looks like one.
fn parse_payload_arg(arg: &str) -> (PathBuf, String) {
    if Path::new(arg).is_file() {
        return (PathBuf::from(arg), DEFAULT_PAYLOAD_MIME_TYPE.to_string());
    }
    if let Some((file, mime)) = arg.rsplit_once(':') {
        let looks_like_mime = mime.split_once('/').is_some_and(|(t, s)| {
            !t.is_empty() && !s.is_empty() && !s.contains('/') && !mime.contains(char::is_whitespace)
        });
        if looks_like_mime && !file.is_empty() {
            return (PathBuf::from(file), mime.to_string());
        }
    }
    (PathBuf::from(arg), DEFAULT_PAYLOAD_MIME_TYPE.to_string())
}

fn build_user_message(args: &SealArgs, config: &Config, pm: &PMode, to_party: &str) -> Result<UserMessage, String> {
    let party = |id: &str, id_type: Option<&str>, role: &str| -> Result<Party, String> {
        let pid = PartyId::new(id, id_type.map(str::to_string)).map_err(|e| format!("party {id:?}: {e}"))?;
        Ok(Party::new(pid, role))
    };
    let from_type = pm
        .initiator
        .party_id_type
        .as_deref()
        .unwrap_or(&config.node.party_id_type);
    let to_type = pm
        .responder
        .party_id_type
        .as_deref()
        .unwrap_or(&config.node.party_id_type);
    let mut properties = Vec::new();
    for p in &args.properties {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| format!("--property {p:?}: expected NAME=VALUE"))?;
        let rule = pm.business_info.properties.iter().find(|r| r.name == name);
        properties.push(match rule.and_then(|r| r.value_type.as_deref()) {
            Some(t) => Property::typed(name, t, value),
            None => Property::new(name, value),
        });
    }
    if let Some(missing) = pm
        .business_info
        .properties
        .iter()
        .find(|r| r.required && !properties.iter().any(|p| p.name == r.name))
    {
        return Err(format!(
            "P-Mode {} requires the message property {} (--property {}=VALUE)",
            pm.id, missing.name, missing.name
        ));
    }
    let domain = MessageIdGenerator::new("sdk-ap.cli").map_err(|e| e.to_string())?;
    let service = Service::new(
        pm.business_info.service.value.clone(),
        pm.business_info.service.service_type.clone(),
    )
    .map_err(|e| format!("P-Mode service: {e}"))?;
    Ok(UserMessage {
        mpc: (pm.business_info.mpc != crate::ebms::ns::DEFAULT_MPC).then(|| pm.business_info.mpc.clone()),
        message_info: MessageInfo::new(domain.generate(), Timestamp::now()),
        party_info: PartyInfo {
            from: party(&config.node.party_id, Some(from_type), &pm.initiator.role)?,
            to: party(to_party, Some(to_type), &pm.responder.role)?,
        },
        collaboration_info: CollaborationInfo {
            agreement_ref: pm.agreement.as_ref().map(|a| AgreementRef {
                value: a.value.clone(),
                agreement_type: a.agreement_type.clone(),
                pmode: None,
            }),
            service,
            action: pm.business_info.action.clone(),
            conversation_id: args
                .conversation_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        },
        message_properties: properties,
        payload_info: Vec::new(),
    })
}

async fn run_seal(args: &SealArgs) -> Result<(), String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let identity = config.identity().map_err(|e| e.to_string())?;
    let set = pmodes(Some(&config))?;
    let pm = set
        .get(&args.pmode)
        .ok_or_else(|| format!("no P-Mode {:?} (built-in or configured)", args.pmode))?;
    let to_cert = load_certificate(&args.to_cert).map_err(|e| e.to_string())?;
    let to_party = match &args.to_party {
        Some(p) => p.clone(),
        None => {
            crate::pki::certinfo::common_name(to_cert.subject_name()).ok_or("--to-cert has no CN; give --to-party")?
        }
    };
    let message = build_user_message(args, &config, pm, &to_party)?;
    let signer = match pm.security.signature.as_ref().map(|s| s.algorithm) {
        Some(pmode::algorithms::SignatureAlgorithm::EddsaEd25519) => identity
            .ed25519
            .as_ref()
            .ok_or("the P-Mode signs with Ed25519: configure keys.ed25519")?,
        _ => &identity.message,
    };
    let payloads: Vec<OutgoingPayload> = args
        .payloads
        .iter()
        .enumerate()
        .map(|(n, arg)| {
            let (source, mime_type) = parse_payload_arg(arg);
            OutgoingPayload {
                content_id: format!("payload-{n}@sdk-ap.cli"),
                mime_type,
                character_set: None,
                compress: pm.compression.compress_outgoing,
                source,
                extra_part_properties: Vec::new(),
            }
        })
        .collect();
    for p in &payloads {
        if !p.source.is_file() {
            return Err(format!("payload {}: no such file", p.source.display()));
        }
    }
    let spool = tempfile::tempdir().map_err(|e| format!("spool directory: {e}"))?;
    let params = SealParams {
        pmode: pm,
        signer,
        receiver_encryption_cert: pm.security.encryption.as_ref().map(|_| &to_cert),
        spool_dir: spool.path(),
    };
    let sealed = seal(&message, &payloads, &params).await.map_err(|e| e.to_string())?;
    let mut out = std::fs::File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let write = |out: &mut std::fs::File| -> std::io::Result<()> {
        write!(
            out,
            "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
            sealed.content_type, sealed.body_len
        )?;
        std::io::copy(&mut std::fs::File::open(sealed.body.path()?)?, out)?;
        out.sync_all()
    };
    write(&mut out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!(
        "sealed {} ({} bytes) under P-Mode {} -> {}",
        sealed.message_id,
        sealed.body_len,
        pm.id,
        args.out.display()
    );
    Ok(())
}

/// The overall outcome of `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything was checked and holds.
    Verified,
    /// Something failed (the ebMS error is printed).
    Failed,
    /// Nothing failed, but something could not be checked (e.g. encrypted parts without --key).
    Incomplete,
}

/// A captured message split into its Content-Type and the offset of its body.
#[derive(Debug)]
struct Captured {
    content_type: String,
    body_offset: u64,
}

fn read_captured_headers(path: &Path) -> Result<Captured, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut offset = 0u64;
    let mut content_type = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take((MAX_CAPTURED_HEADER_BYTES as u64).saturating_sub(offset))
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(format!(
                "{}: no blank line after the HTTP headers within {MAX_CAPTURED_HEADER_BYTES} bytes",
                path.display()
            ));
        }
        offset += n as u64;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            }
        }
    }
    Ok(Captured {
        content_type: content_type.ok_or_else(|| format!("{}: no Content-Type header", path.display()))?,
        body_offset: offset,
    })
}

async fn body_reader(path: &Path, offset: u64) -> std::io::Result<tokio::io::BufReader<tokio::fs::File>> {
    use tokio::io::AsyncSeekExt;
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(tokio::io::BufReader::new(file))
}

fn ebms_line(error: &EbmsError) -> String {
    format!("{} {}: {}", error.code.code(), error.code.short_name(), error.detail)
}

fn print_user_message<W: Write>(out: &mut W, u: &UserMessage) -> std::io::Result<()> {
    let party = |p: &Party| {
        let ids: Vec<String> = p
            .party_ids
            .iter()
            .map(|id| match id.party_type() {
                Some(t) => format!("{} (type {t})", id.value()),
                None => id.value().to_string(),
            })
            .collect();
        format!("{} [role {}]", ids.join(", "), p.role)
    };
    let c = &u.collaboration_info;
    writeln!(out, "UserMessage")?;
    writeln!(out, "  MessageId:      {}", u.message_info.message_id.as_str())?;
    writeln!(out, "  Timestamp:      {}", u.message_info.timestamp)?;
    if let Some(r) = &u.message_info.ref_to_message_id {
        writeln!(out, "  RefToMessageId: {}", r.as_str())?;
    }
    writeln!(out, "  From:           {}", party(&u.party_info.from))?;
    writeln!(out, "  To:             {}", party(&u.party_info.to))?;
    writeln!(
        out,
        "  Service:        {}{}",
        c.service.value(),
        c.service
            .service_type()
            .map(|t| format!(" (type {t})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "  Action:         {}", c.action)?;
    if let Some(a) = &c.agreement_ref {
        writeln!(out, "  AgreementRef:   {}", a.value)?;
    }
    writeln!(out, "  ConversationId: {}", c.conversation_id)?;
    writeln!(out, "  MPC:            {}", u.effective_mpc())?;
    for p in &u.message_properties {
        writeln!(out, "  Property:       {} = {}", p.name, p.value)?;
    }
    for info in &u.payload_info {
        let props: Vec<String> = info
            .part_properties
            .iter()
            .map(|p| format!("{}={}", p.name, p.value))
            .collect();
        writeln!(
            out,
            "  PartInfo:       {} [{}]",
            info.part_ref.href().unwrap_or_else(|| "(SOAP Body)".into()),
            props.join(", ")
        )?;
    }
    Ok(())
}

fn print_signals<W: Write>(out: &mut W, envelope: &ParsedEnvelope) -> std::io::Result<()> {
    for s in envelope.messaging().signal_messages() {
        writeln!(out, "SignalMessage")?;
        writeln!(out, "  MessageId:      {}", s.message_info.message_id.as_str())?;
        if let Some(r) = &s.message_info.ref_to_message_id {
            writeln!(out, "  RefToMessageId: {}", r.as_str())?;
        }
        match &s.signal {
            Signal::Receipt(Receipt::NonRepudiation(nri)) => writeln!(
                out,
                "  Receipt:        non-repudiation, {} echoed reference(s)",
                nri.parts.len()
            )?,
            Signal::Receipt(_) => writeln!(out, "  Receipt:        (not non-repudiation)")?,
            Signal::Errors(errors) => {
                for e in errors.iter() {
                    writeln!(out, "  Error:          {e:?}")?;
                }
            }
            Signal::PullRequest(_) => writeln!(out, "  PullRequest")?,
        }
    }
    Ok(())
}

/// Prints every signature reference with the status of its digest; attachment digests get `attachment_status`.
fn print_references<W: Write>(
    out: &mut W,
    envelope: &ParsedEnvelope,
    attachment_status: &dyn Fn(&str) -> String,
) -> std::io::Result<bool> {
    let doc = envelope.document();
    let Some(security) = envelope.security_node() else {
        writeln!(out, "Signature: none (no wsse:Security header)")?;
        return Ok(false);
    };
    let Some(sig_node) = doc.children_named(security, crate::ebms::ns::DS, "Signature").next() else {
        writeln!(out, "Signature: none in the wsse:Security header")?;
        return Ok(false);
    };
    let sig = match Signature::parse(doc, sig_node) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "Signature: unreadable: {e}")?;
            return Ok(false);
        }
    };
    writeln!(
        out,
        "Signature: {} over {} reference(s), SignedInfo c14n {}",
        sig.signed_info.signature_method.uri(),
        sig.signed_info.references.len(),
        sig.signed_info.canonicalization.uri()
    )?;
    let ids = IdAttribute::common();
    let ctx = ReferenceContext {
        id_attributes: &ids,
        resolver: None,
        signature: Some(sig.node),
    };
    let mut all_ok = true;
    for r in &sig.signed_info.references {
        let status = if r.uri.starts_with('#') {
            match digest_reference(doc, r, &ctx) {
                Ok((digest, _)) if digest == r.digest_value => "digest OK".to_string(),
                Ok(_) => {
                    all_ok = false;
                    "digest MISMATCH".to_string()
                }
                Err(e) => {
                    all_ok = false;
                    format!("not resolvable: {e}")
                }
            }
        } else {
            attachment_status(&r.uri)
        };
        writeln!(out, "  Reference {} ({}): {status}", r.uri, r.digest_method.uri())?;
    }
    Ok(all_ok)
}

fn print_signer<W: Write>(out: &mut W, signer: &crate::pki::VerifiedCertificate) -> std::io::Result<()> {
    let i = &signer.info;
    writeln!(
        out,
        "Signing certificate: {} (issuer {}, serial {})",
        i.subject, i.issuer, i.serial_hex
    )?;
    writeln!(
        out,
        "  chain: OK, {} certificate(s) to the anchor; valid {} .. {}; revocation {}",
        signer.chain.len(),
        i.not_before,
        i.not_after,
        if signer.revocation_checked {
            "checked (CRL)"
        } else {
            "NOT checked (no CRL given)"
        }
    )
}

/// What `inspect` works with: trust, our key (if any), P-Modes and limits.
struct InspectSetup {
    trust: TrustStore,
    identity: Option<NodeIdentity>,
    pmodes: PModeSet,
    limits: OpenLimits,
}

fn inspect_setup(args: &InspectArgs) -> Result<InspectSetup, String> {
    let config = args
        .config
        .as_deref()
        .map(Config::load)
        .transpose()
        .map_err(|e| e.to_string())?;
    let trust = match (&args.trust, &config) {
        (Some(path), _) => {
            let mut store = TrustStore::new(load_certificates(path).map_err(|e| e.to_string())?);
            if let Some(crl) = &args.crl {
                store = store.with_crls(load_crls(crl).map_err(|e| e.to_string())?);
            }
            store
        }
        (None, Some(c)) => c.message_trust_store().map_err(|e| e.to_string())?,
        (None, None) => return Err("give --trust CA.pem (or --config) to check the signer's certificate".into()),
    };
    let identity = match (&args.key, &config) {
        (Some(key_path), _) => {
            let key = load_private_key(key_path).map_err(|e| e.to_string())?;
            let cert_path = args.key_cert.as_deref().unwrap_or(key_path);
            let cert =
                load_certificate(cert_path).map_err(|e| format!("the certificate of --key (give --key-cert): {e}"))?;
            let pair = KeyPair::new(key, cert, Vec::new()).map_err(|e| format!("--key: {e}"))?;
            let x25519 = (pair.algorithm() == crate::pki::KeyAlgorithm::X25519).then(|| pair.clone());
            Some(NodeIdentity {
                message: pair,
                ed25519: None,
                x25519,
                tls: None,
            })
        }
        (None, Some(c)) => Some(c.identity().map_err(|e| e.to_string())?),
        (None, None) => None,
    };
    let mut limits = OpenLimits::default();
    if let Some(c) = &config {
        limits.xml = c.limits.xml_parse_limits();
        limits.max_decompressed_bytes = c.limits.max_decompressed_bytes;
        limits.mime.max_attachment_bytes = c.limits.max_payload_bytes;
    }
    Ok(InspectSetup {
        trust,
        identity,
        pmodes: pmodes(config.as_ref())?,
        limits,
    })
}

/// The signature method the message's header signature declares, if readable (to tell apart P-Modes that share
/// a service and action, e.g. the ebMS test service under the SDK and the AS4 2.0 profiles).
fn declared_signature_method(envelope: &ParsedEnvelope) -> Option<String> {
    let doc = envelope.document();
    let security = envelope.security_node()?;
    let node = doc.children_named(security, crate::ebms::ns::DS, "Signature").next()?;
    Signature::parse(doc, node)
        .ok()
        .map(|s| s.signed_info.signature_method.uri().to_string())
}

fn choose_pmode(
    args: &InspectArgs,
    set: &PModeSet,
    user: Option<&UserMessage>,
    signature_method: Option<&str>,
) -> Result<PMode, String> {
    if let Some(id) = &args.pmode {
        return set.get(id).cloned().ok_or_else(|| format!("no P-Mode {id:?}"));
    }
    let Some(u) = user else {
        // Signals carry no service or action: take the SDK message P-Mode's signature policy.
        return set
            .get(pmode::builtin::SDK_MESSAGE_ID)
            .cloned()
            .ok_or_else(|| "give --pmode".to_string());
    };
    let c = &u.collaboration_info;
    if let Some(pm) = c
        .agreement_ref
        .as_ref()
        .and_then(|a| a.pmode.as_deref())
        .and_then(|id| set.get(id))
    {
        return Ok(pm.clone());
    }
    let candidates: Vec<&PMode> = set
        .iter()
        .filter(|p| {
            p.business_info.action == c.action
                && p.business_info.service.value == c.service.value()
                && p.business_info.service.service_type.as_deref() == c.service.service_type()
        })
        .collect();
    let signs_like_the_message =
        |p: &&&PMode| p.security.signature.as_ref().map(|s| s.algorithm.uri()) == signature_method;
    candidates
        .iter()
        .find(signs_like_the_message)
        .or(candidates.first())
        .map(|p| (*p).clone())
        .ok_or_else(|| {
            format!(
                "no P-Mode for service {} / action {}: give --pmode",
                c.service.value(),
                c.action
            )
        })
}

/// Runs `inspect`, writing the report to `out`.
pub async fn run_inspect<W: Write>(args: &InspectArgs, out: &mut W) -> Result<Verdict, String> {
    let setup = inspect_setup(args)?;
    let captured = read_captured_headers(&args.message)?;
    let io = |e: std::io::Error| e.to_string();
    let spool = tempfile::tempdir().map_err(|e| format!("spool directory: {e}"))?;
    writeln!(out, "Content-Type: {}", captured.content_type).map_err(io)?;

    let fail = |out: &mut W, error: &EbmsError| -> Result<Verdict, String> {
        writeln!(out, "RESULT: FAILED {}", ebms_line(error)).map_err(io)?;
        Ok(Verdict::Failed)
    };
    let body = body_reader(&args.message, captured.body_offset).await.map_err(io)?;
    let mime = match read_message(body, &captured.content_type, &setup.limits.mime, spool.path()).await {
        Ok(m) => m,
        Err(e) => return fail(out, &EbmsError::new(ErrorCode::MimeInconsistency, e.to_string())),
    };
    let envelope = match crate::ebms::Envelope::parse(&mime.root.content, &setup.limits.xml) {
        Ok(e) => e,
        Err(e) => return fail(out, &e.to_ebms_error()),
    };
    for part in &mime.attachments {
        writeln!(
            out,
            "MIME part {} ({}, {} bytes)",
            part.content_id.as_deref().unwrap_or("(no Content-ID)"),
            part.content_type.as_deref().unwrap_or("no Content-Type"),
            part.size
        )
        .map_err(io)?;
    }
    let user = envelope.messaging().user_message().cloned();
    match &user {
        Some(u) => print_user_message(out, u).map_err(io)?,
        None => print_signals(out, &envelope).map_err(io)?,
    }
    let method = declared_signature_method(&envelope);
    let pm = match choose_pmode(args, &setup.pmodes, user.as_ref(), method.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(out, &EbmsError::new(ErrorCode::ProcessingModeMismatch, e)),
    };
    writeln!(out, "P-Mode: {}", pm.id).map_err(io)?;

    let Some(user) = user else {
        return inspect_signal(out, &envelope, &pm, &setup).map_err(io);
    };
    let encrypted = mime
        .attachments
        .iter()
        .any(|p| p.content_type.as_deref() == Some(crate::wss::encrypt::ENCRYPTED_PART_CONTENT_TYPE));
    let Some(identity) = setup.identity.clone() else {
        return inspect_without_key(out, &envelope, &mime, &user, &pm, &setup, encrypted).map_err(io);
    };
    let chosen = pm.clone();
    let choose = move |_: &UserMessage| -> Result<PMode, EbmsError> { Ok(chosen.clone()) };
    let params = OpenParams {
        our_keys: &identity,
        message_trust: &setup.trust,
        limits: &setup.limits,
        spool_dir: spool.path(),
    };
    let body = body_reader(&args.message, captured.body_offset).await.map_err(io)?;
    match open(&captured.content_type, body, &choose, &params).await {
        Ok(opened) => {
            print_references(out, &envelope, &|_| "digest OK (over the decrypted content)".into()).map_err(io)?;
            print_signer(out, &opened.signer).map_err(io)?;
            for p in &opened.payloads {
                writeln!(
                    out,
                    "Payload {} ({}): {} bytes decrypted{}, sha256 {}",
                    p.content_id,
                    p.mime_type,
                    p.size,
                    if p.part_properties.iter().any(|(n, _)| n == "CompressionType") {
                        " and decompressed"
                    } else {
                        ""
                    },
                    hex(&p.sha256)
                )
                .map_err(io)?;
            }
            writeln!(out, "RESULT: OK").map_err(io)?;
            Ok(Verdict::Verified)
        }
        Err(e) => {
            let detail = e.error.detail.clone();
            print_references(out, &envelope, &|uri| {
                let cid = uri.strip_prefix("cid:").unwrap_or(uri);
                if detail.contains(cid) && detail.contains("digest") {
                    "digest MISMATCH (over the decrypted content)".into()
                } else {
                    "not confirmed (see the error)".into()
                }
            })
            .map_err(io)?;
            fail(out, &e.error)
        }
    }
}

/// Without our key: the header signature and the signer, and the attachments' digests when they are not
/// encrypted (then nothing is left unchecked).
fn inspect_without_key<W: Write>(
    out: &mut W,
    envelope: &ParsedEnvelope,
    mime: &crate::mime::SoapWithAttachments,
    user: &UserMessage,
    pm: &PMode,
    setup: &InspectSetup,
    encrypted: bool,
) -> std::io::Result<Verdict> {
    let ids: Vec<&str> = mime
        .attachments
        .iter()
        .filter_map(|p| p.content_id.as_deref())
        .collect();
    let policy = match VerificationPolicy::from_pmode(pm) {
        Ok(p) => p,
        Err(e) => {
            writeln!(out, "RESULT: FAILED {} {e}", e.ebms_code().code())?;
            return Ok(Verdict::Failed);
        }
    };
    let from = user.party_info.from.single_party_id().map(|p| p.value().to_string());
    let verified = verify_security_header(
        envelope,
        &ids,
        from.as_deref(),
        &policy,
        &setup.trust,
        time::OffsetDateTime::now_utc(),
    );
    let attachment_check = |uri: &str| -> Result<(), String> {
        let cid = uri.strip_prefix("cid:").unwrap_or(uri);
        let part = mime.attachment(cid).ok_or("no such MIME part")?;
        match &verified {
            Ok(v) => {
                let sha256 = part.sha256().map_err(|e| e.to_string())?;
                v.check_attachment(cid, &sha256).map_err(|e| e.to_string())
            }
            Err(_) => Err("header not verified".into()),
        }
    };
    let mut attachments_ok = true;
    let status = |uri: &str| -> String {
        if encrypted {
            "encrypted: NOT checked (no --key)".into()
        } else {
            match attachment_check(uri) {
                Ok(()) => "digest OK".into(),
                Err(e) => format!("FAILED: {e}"),
            }
        }
    };
    print_references(out, envelope, &status)?;
    let v = match verified {
        Ok(v) => v,
        Err(e) => {
            writeln!(
                out,
                "RESULT: FAILED {} {}: {e}",
                e.ebms_code().code(),
                e.ebms_code().short_name()
            )?;
            return Ok(Verdict::Failed);
        }
    };
    print_signer(out, &v.signer)?;
    if encrypted {
        writeln!(
            out,
            "RESULT: INCOMPLETE header signature verified; encrypted attachments not checked (no --key)"
        )?;
        return Ok(Verdict::Incomplete);
    }
    for part in &mime.attachments {
        let cid = part.content_id.as_deref().unwrap_or_default();
        if let Err(e) = v.check_attachment(cid, &part.sha256()?) {
            attachments_ok = false;
            writeln!(
                out,
                "RESULT: FAILED {} {}: {e}",
                e.ebms_code().code(),
                e.ebms_code().short_name()
            )?;
        }
    }
    if !attachments_ok {
        return Ok(Verdict::Failed);
    }
    writeln!(out, "RESULT: OK")?;
    Ok(Verdict::Verified)
}

fn inspect_signal<W: Write>(
    out: &mut W,
    envelope: &ParsedEnvelope,
    pm: &PMode,
    setup: &InspectSetup,
) -> std::io::Result<Verdict> {
    let refs_ok = print_references(out, envelope, &|_| "unexpected in a signal".into())?;
    let mut policy = match VerificationPolicy::from_pmode(pm) {
        Ok(p) => p,
        Err(e) => {
            writeln!(out, "RESULT: FAILED {} {e}", e.ebms_code().code())?;
            return Ok(Verdict::Failed);
        }
    };
    // A signal names no From party: its signer must chain to --trust; there is no PartyId to match the CN with.
    policy.require_cn_match = false;
    match verify_security_header(
        envelope,
        &[],
        None,
        &policy,
        &setup.trust,
        time::OffsetDateTime::now_utc(),
    ) {
        Ok(v) => {
            print_signer(out, &v.signer)?;
            if refs_ok {
                writeln!(out, "RESULT: OK")?;
                Ok(Verdict::Verified)
            } else {
                writeln!(out, "RESULT: FAILED a reference did not verify")?;
                Ok(Verdict::Failed)
            }
        }
        Err(e) => {
            writeln!(
                out,
                "RESULT: FAILED {} {}: {e}",
                e.ebms_code().code(),
                e.ebms_code().short_name()
            )?;
            Ok(Verdict::Failed)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_argument_takes_a_mime_type_only_when_it_looks_like_one() {
        assert_eq!(
            parse_payload_arg("a.xml:text/xml"),
            (PathBuf::from("a.xml"), "text/xml".to_string())
        );
        assert_eq!(
            parse_payload_arg("c:/data/a.bin"),
            (PathBuf::from("c:/data/a.bin"), DEFAULT_PAYLOAD_MIME_TYPE.to_string())
        );
        assert_eq!(
            parse_payload_arg("a.bin:not a type"),
            (PathBuf::from("a.bin:not a type"), DEFAULT_PAYLOAD_MIME_TYPE.to_string())
        );
        // A file whose own name has a colon and a slash after it: the whole argument is the file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x:y")).unwrap();
        let file = dir.path().join("x:y/a.bin");
        std::fs::write(&file, b"1").unwrap();
        let arg = file.to_str().unwrap();
        assert_eq!(
            parse_payload_arg(arg),
            (file.clone(), DEFAULT_PAYLOAD_MIME_TYPE.to_string())
        );
        assert_eq!(
            parse_payload_arg(&format!("{arg}:application/pdf")),
            (file, "application/pdf".to_string())
        );
    }

    #[test]
    fn captured_headers_need_a_blank_line_and_a_content_type() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(
            &p,
            b"Content-Length: 3\r\ncontent-type: application/soap+xml\r\n\r\nabc",
        )
        .unwrap();
        let c = read_captured_headers(&p).unwrap();
        assert_eq!(c.content_type, "application/soap+xml");
        assert_eq!(c.body_offset, 57);
        std::fs::write(&p, b"Content-Length: 3\r\n\r\nabc").unwrap();
        assert!(read_captured_headers(&p).unwrap_err().contains("no Content-Type"));
        std::fs::write(&p, b"Content-Type: a/b\r\nabc").unwrap();
        assert!(read_captured_headers(&p).unwrap_err().contains("no blank line"));
    }
}
