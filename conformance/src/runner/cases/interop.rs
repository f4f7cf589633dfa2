//! Interop cases: independent implementations on the other side of a running access point of the run, over HTTP.
//!
//! * `interop-as4-sends-to-us`: PyPI `as4` 0.2.0 (Peppol profile) builds, signs and encrypts a message, POSTs it to
//!   B's `/as4` over mutual TLS and checks B's receipt as its sender does; B stores the message.
//! * `interop-we-send-to-as4`: an access point of ours delivers to an `as4` receiver behind a small HTTPS server;
//!   `as4` verifies and decrypts the message, and our sender verifies `as4`'s signed receipt.
//! * `interop-santuario-verifies-ours`, `interop-xmlsec1-verifies-ours`, `interop-pyxmlsec-decrypts-ours`: a real
//!   send from A to B is captured on the wire (see [`capture`]) and checked by Apache Santuario (the whole signature
//!   including `cid:` attachments), Debian xmlsec1 (a message without attachments: the whole signature) and PyPI
//!   `xmlsec` (decrypts every attachment to the payloads submitted).
//!
//! Each case also checks that its tool refuses a changed byte (so a tool that accepts anything cannot pass it).
//! A missing peer makes the case SKIPPED with what is missing and how to install it, or FAILED under
//! `SDK_AP_REQUIRE_PEERS=1` (see [`peers`]); nothing is installed here.
//!
//! `as4` speaks only the Peppol profile (Peppol service, action, agreement and PartyId type), so these cases add
//! the P-Mode [`peppol_pmode`] (SDK security, Peppol business information) to the access point they drive.

mod capture;
mod peers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::{Node, NodeError, NodeOptions, SenderSettings, Submission, SubmittedPayload};
use access_point::store::State;
use pmode::{PMode, PModeSet, PartySpec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::super::federation::{
    payload_file, quick_retry_pmodes, sdk_submission, test_service_submission, B_PARTY, ORIGINAL_SENDER, SERVED,
};
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, signed_receipt, submit};
use capture::{Captured, Relay};
use peers::{run_tool, ToolOutput};

/// The Peppol party-id type `as4` requires on both parties.
pub const PEPPOL_PARTY_TYPE: &str = "urn:fdc:peppol.eu:2017:identifiers:ap";
const PEPPOL_AGREEMENT: &str = "urn:fdc:peppol.eu:2017:agreements:tia:ap_provider";
const PEPPOL_PROCESS: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";
const PEPPOL_PROCESS_TYPE: &str = "cenbii-procid-ubl";
const PEPPOL_DOCID: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1";
/// The id of [`peppol_pmode`].
pub const PEPPOL_PMODE_ID: &str = "interop-peppol-as4";
const INVOICE: &[u8] =
    b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><ID>F-4711</ID></Invoice>";
/// The `as4` peer script (HTTP client and server around `as4`), carried in the binary.
const AS4_PEER_SCRIPT: &str = include_str!("interop/as4_http_peer.py");
/// The Python tool that decrypts a whole captured message with PyPI xmlsec (shared with the access point's tests).
const PYXMLSEC_DECRYPT: &str = "../access-point/tests/interop_support/decrypt_message_with_xmlsec.py";

/// How long one delivery may take.
const DELIVERY: Duration = Duration::from_secs(60);
/// How long one run of a tool may take.
const TOOL: Duration = Duration::from_secs(90);
/// The bound on the part of a case that runs with a node swapped in, so its clean-up always runs before the
/// runner's own case timeout.
const SWAPPED: Duration = Duration::from_secs(120);

/// The P-Mode for `as4`'s Peppol profile: the SDK message P-Mode's security (rsa-sha256, aes128-gcm, rsa-oaep with
/// MGF1-SHA256, BinarySecurityToken references) and required originalSender / finalRecipient, with Peppol's
/// business information, under the plain AS4 profile.
pub fn peppol_pmode() -> PMode {
    let mut pm = pmode::builtin::sdk_message();
    pm.id = PEPPOL_PMODE_ID.into();
    // The plain AS4 profile: the SDK profile's validation would refuse Peppol's party and service types.
    pm.profile = pmode::Profile::As4;
    pm.initiator = PartySpec::any(pmode::DEFAULT_INITIATOR_ROLE, Some(PEPPOL_PARTY_TYPE));
    pm.responder = PartySpec::any(pmode::DEFAULT_RESPONDER_ROLE, Some(PEPPOL_PARTY_TYPE));
    pm.agreement = Some(pmode::AgreementRef {
        value: PEPPOL_AGREEMENT.into(),
        agreement_type: None,
    });
    pm.business_info.service = pmode::Service::new(PEPPOL_PROCESS, Some(PEPPOL_PROCESS_TYPE));
    pm.business_info.action = peppol_action();
    pm.payload_profile = pmode::PayloadProfile::default();
    pm.reception_awareness.retry = quick_retry_pmodes()
        .get(pmode::builtin::SDK_MESSAGE_ID)
        .map(|p| p.reception_awareness.retry.clone())
        .unwrap_or(pm.reception_awareness.retry);
    pm
}

fn peppol_action() -> String {
    format!("busdox-docid-qns::{PEPPOL_DOCID}")
}

/// The run's P-Modes plus [`peppol_pmode`].
fn with_peppol_pmode() -> Result<PModeSet, String> {
    let mut all: Vec<PMode> = quick_retry_pmodes().iter().cloned().collect();
    all.push(peppol_pmode());
    PModeSet::from_pmodes(all, "<conformance interop>").map_err(|e| format!("P-Modes: {e}"))
}

/// How long a node start may wait for the store of the node stopped just before (a task of the stopped node, such
/// as a classification it spawned, may still hold it for a moment).
const STORE_RELEASE: Duration = Duration::from_secs(10);

/// Starts a node with `pmodes` and the run's quick sender polling, retrying while its store is still held.
pub(super) async fn start_node_with(config: Config, pmodes: PModeSet) -> Result<Node, String> {
    let deadline = tokio::time::Instant::now() + STORE_RELEASE;
    loop {
        let options = NodeOptions {
            pmodes: Some(pmodes.clone()),
            sender: Some(SenderSettings {
                idle_poll: Duration::from_millis(200),
                ..SenderSettings::default()
            }),
            ..NodeOptions::default()
        };
        match Node::start(config.clone(), options).await {
            Ok(node) => return Ok(node),
            Err(NodeError::Store(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => return Err(format!("starting a node: {e}")),
        }
    }
}

fn load(config: &Path) -> Result<Config, String> {
    Config::load(config).map_err(|e| format!("{}: {e}", config.display()))
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The first line of `output` starting with `prefix`, without it.
fn line_after<'a>(output: &'a str, prefix: &str) -> Option<&'a str> {
    output.lines().find_map(|l| l.strip_prefix(prefix)).map(str::trim)
}

/// The `as4` peer's lines worth keeping as evidence.
fn as4_lines(output: &str) -> String {
    output
        .lines()
        .filter(|l| !l.starts_with("LISTENING"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs the `as4` peer script `command` with `args`, to completion.
async fn as4_tool(python: &str, script: &Path, command: &str, args: &[String]) -> Result<ToolOutput, String> {
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(command).args(args);
    run_tool(cmd, TOOL).await
}

/// Wraps [`INVOICE`] in a Peppol SBD made by `as4` itself; answers the SBD file.
async fn as4_sbd(python: &str, script: &Path, dir: &Path, sender: &str, recipient: &str) -> Result<PathBuf, String> {
    let invoice = write(dir, "invoice.xml", INVOICE)?;
    let sbd = dir.join("sbd.xml");
    let args = [sender.into(), recipient.into(), path_text(&invoice), path_text(&sbd)];
    let out = as4_tool(python, script, "sbd", &args).await?;
    ensure(out.success(), || format!("as4 could not build the SBD: {}", out.text()))?;
    Ok(sbd)
}

/// Finishes a case that swapped a node in: the outcome of the bounded part (a timeout is an error).
fn bounded<T>(outcome: Result<Result<T, String>, tokio::time::error::Elapsed>) -> Result<T, String> {
    outcome.unwrap_or_else(|_| Err(format!("not finished within {SWAPPED:?}")))
}

// ------------------------------------------------------------------------------------------- as4 as the sender

/// `interop-as4-sends-to-us`: `as4` sends to B over HTTPS; B stores it and `as4` accepts B's receipt.
pub fn as4_sends_to_us(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let python = peers::as4_python().await?;
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let script = write(&dir, "as4_http_peer.py", AS4_PEER_SCRIPT.as_bytes())?;
        // B again, with the Peppol P-Mode added; kept in the federation, so B serves whatever happens here.
        if let Some(b) = ctx.fed.b.take() {
            b.shutdown().await;
            drop(b);
        }
        ctx.fed.b = Some(start_node_with(load(&ctx.fed.b_config)?, with_peppol_pmode()?).await?);
        let outcome = tokio::time::timeout(SWAPPED, as4_sends(ctx, &python, &script, &dir)).await;
        // The runner starts the run's own B (without the extra P-Mode) again for the next case.
        if let Some(b) = ctx.fed.b.take() {
            b.shutdown().await;
        }
        bounded(outcome)
    })
}

async fn as4_sends(ctx: &mut Ctx, python: &str, script: &Path, dir: &Path) -> Result<(), String> {
    // as4 sends as A: A's message key (CN = From PartyId AP0001-DEV) and A's TLS client certificate, which B trusts.
    let a = load(&ctx.fed.a_config)?;
    let a_tls = a.keys.tls.as_ref().ok_or("A has no TLS key")?;
    let b = ctx.fed.b()?;
    let b_config = b.config();
    let b_tls_ca = b_config.base_dir.join("keys/ca.pem");
    let url = b_config.server.endpoint_url();
    let invoice = write(dir, "invoice.xml", INVOICE)?;
    let out_dir = dir.join("as4-send");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let args = [
        path_text(&a.keys.message.key),
        path_text(&a.keys.message.cert),
        path_text(&b_config.keys.message.cert),
        B_PARTY.into(),
        ORIGINAL_SENDER.into(),
        SERVED.into(),
        path_text(&invoice),
        url.clone(),
        path_text(&a_tls.key),
        path_text(&a_tls.cert),
        path_text(&b_tls_ca),
        path_text(&out_dir),
    ];
    let out = as4_tool(python, script, "send", &args).await?;
    ctx.evidence.note("endpoint", &url);
    ctx.evidence.note("as4_output", as4_lines(&out.stdout));
    let message_id = line_after(&out.stdout, "BUILT ")
        .ok_or_else(|| format!("as4 built no message: {}", out.text()))?
        .to_string();
    ctx.evidence.note("message_id", &message_id);
    ensure(out.success() && out.stdout.contains("STATE acknowledged"), || {
        format!("as4 did not accept B's answer: {}", out.text())
    })?;
    ensure(out.stdout.contains("TAMPERED-RECEIPT refused"), || {
        format!("as4 did not refuse B's receipt with a changed digest: {}", out.text())
    })?;

    let received = inbound(b, &message_id)
        .await?
        .ok_or("as4 got a receipt but B did not store the message")?;
    ctx.evidence.note("receiver_state", format!("{:?}", received.state));
    ensure(received.meta.from.id == "AP0001-DEV", || {
        format!("stored From {}", received.meta.from.id)
    })?;
    ensure(received.payloads.len() == 1, || {
        format!("B stored {} payloads, as4 sent 1", received.payloads.len())
    })?;
    let path = b
        .store()
        .payload_files()
        .path_of(received.key, &received.payloads[0])
        .map_err(|e| format!("payload path: {e}"))?;
    let stored = std::fs::read(path).map_err(|e| format!("reading B's payload: {e}"))?;
    let text = String::from_utf8_lossy(&stored);
    ensure(
        text.contains("StandardBusinessDocumentHeader") && text.contains("F-4711"),
        || {
            format!(
                "B's stored payload is not as4's SBD around the invoice: {}",
                super::super::raw::truncate(&text)
            )
        },
    )?;
    ctx.evidence.note("stored_payload_sha256", sha256_hex(&stored));
    Ok(())
}

// ----------------------------------------------------------------------------------------- as4 as the receiver

/// `interop-we-send-to-as4`: an access point of ours delivers to an `as4` receiver and verifies its receipt.
///
/// Peppol requires its own PartyId type on both parties, and an access point sends with the one type its
/// configuration names (`[node] party_id_type`), so this sender is a third access point of the run made for the
/// case by `sdk-ap init` (AP0003-DEV, Peppol type), linked like the others to the `as4` peer's keys (AP0004-DEV,
/// also made by init), running the same node code as A and B.
pub fn we_send_to_as4(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let python = peers::as4_python().await?;
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let script = write(&dir, "as4_http_peer.py", AS4_PEER_SCRIPT.as_bytes())?;
        let (sender_config, peer_config) = peppol_pair(&ctx.root)?;
        let sender = start_node_with(load(&sender_config)?, with_peppol_pmode()?).await?;
        let outcome = tokio::time::timeout(
            SWAPPED,
            send_to_as4(ctx, &sender, &python, &script, &dir, &sender_config, &peer_config),
        )
        .await;
        sender.shutdown().await;
        bounded(outcome)
    })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

/// `sdk-ap init` for our Peppol-typed sender and the `as4` peer's keys, the sender linked to the peer.
fn peppol_pair(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let mut files = Vec::new();
    for (name, party) in [("sender", "AP0003-DEV"), ("as4-peer", "AP0004-DEV")] {
        let outcome = init(&InitArgs {
            dir: root.join(name),
            party: party.into(),
            port: free_port()?,
            api_port: Some(free_port()?),
            force: false,
        })
        .map_err(|e| format!("init {party}: {e}"))?;
        let file = outcome.config_file;
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let sdk_type = format!("party_id_type = \"{}\"", access_point::config::SDK_PARTY_ID_TYPE);
        ensure(text.contains(&sdk_type), || {
            format!("{} names no SDK party type", file.display())
        })?;
        let peppol = text.replacen(&sdk_type, &format!("party_id_type = \"{PEPPOL_PARTY_TYPE}\""), 1);
        std::fs::write(&file, peppol).map_err(|e| e.to_string())?;
        files.push(file);
    }
    add_peer_from(&files[0], &files[1]).map_err(|e| format!("linking the sender to the as4 peer: {e}"))?;
    Ok((files[0].clone(), files[1].clone()))
}

#[allow(clippy::too_many_arguments)]
async fn send_to_as4(
    ctx: &mut Ctx,
    sender: &Node,
    python: &str,
    script: &Path,
    dir: &Path,
    sender_config: &Path,
    peer_config: &Path,
) -> Result<(), String> {
    let peer = load(peer_config)?;
    let peer_tls = peer.keys.tls.as_ref().ok_or("the as4 peer has no TLS key")?;
    let ours = load(sender_config)?;
    let our_ca = ours.base_dir.join("keys/ca.pem");
    let out_dir = dir.join("as4-receive");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let sbd = as4_sbd(python, script, dir, "0088:7300010000001", "0088:7300010000002").await?;

    // The as4 receiver: the peer's message and TLS keys, our CA as its anchor for signatures and client certificates.
    let mut child = Command::new(python)
        .arg(script)
        .arg("receive")
        .args([
            path_text(&peer.keys.message.key),
            path_text(&peer.keys.message.cert),
            path_text(&our_ca),
            path_text(&peer_tls.key),
            path_text(&peer_tls.cert),
            path_text(&our_ca),
            peer.server.listen.port().to_string(),
            path_text(&out_dir),
            DELIVERY.as_secs().to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{python}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(TOOL, lines.next_line())
        .await
        .map_err(|_| "the as4 receiver did not start".to_string())?
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if !first.starts_with("LISTENING") {
        let rest = child.wait_with_output().await.map_err(|e| e.to_string())?;
        return Err(format!(
            "the as4 receiver did not start: {first} {}",
            String::from_utf8_lossy(&rest.stderr)
        ));
    }
    ctx.evidence.note("as4_endpoint", peer.server.endpoint_url());

    let submission = Submission {
        to_party: Some(peer.node.party_id.clone()),
        to_party_type: Some(PEPPOL_PARTY_TYPE.into()),
        pmode_id: Some(PEPPOL_PMODE_ID.into()),
        service: PEPPOL_PROCESS.into(),
        service_type: Some(PEPPOL_PROCESS_TYPE.into()),
        action: peppol_action(),
        original_sender: "0088:7300010000001".into(),
        final_recipient: "0088:7300010000002".into(),
        conversation_id: Some(format!("conformance-{}", uuid::Uuid::new_v4())),
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path: sbd.clone(),
            mime_type: "application/xml".into(),
            content_id: None,
        }],
        actor: "conformance".into(),
    };
    let accepted = submit(sender, submission).await?;
    ctx.evidence.note("message_id", &accepted.message_id);
    let record = final_record(sender, &accepted, DELIVERY).await?;
    ctx.evidence.note("sender_state", format!("{:?}", record.state));

    let mut said = Vec::new();
    let reading = tokio::time::timeout(TOOL, async {
        while let Ok(Some(line)) = lines.next_line().await {
            said.push(line);
        }
    })
    .await;
    let status = tokio::time::timeout(TOOL, child.wait()).await;
    let said = said.join("\n");
    ctx.evidence.note("as4_output", as4_lines(&said));
    ensure(reading.is_ok(), || "the as4 receiver did not finish".into())?;
    let exit = status
        .map_err(|_| "the as4 receiver did not exit".to_string())?
        .map_err(|e| e.to_string())?;
    ensure(exit.success() && said.contains("STATE received"), || {
        format!("as4 refused our message: {said}")
    })?;
    ensure(
        line_after(&said, "RECEIVED ") == Some(accepted.message_id.as_str()),
        || format!("as4 received another message id: {said}"),
    )?;
    let sent = std::fs::read(&sbd).map_err(|e| e.to_string())?;
    ensure(
        line_after(&said, "PAYLOAD ").is_some_and(|l| l.starts_with(&sha256_hex(&sent))),
        || format!("as4 decrypted another payload than we sent: {said}"),
    )?;
    ensure(line_after(&said, "SIGNED ") == Some("3"), || {
        format!("as4 verified other than 3 signed references (Messaging, Body, attachment): {said}")
    })?;
    ensure(said.contains("TAMPERED-MESSAGE refused"), || {
        format!("as4 did not refuse our message with a changed MessageId: {said}")
    })?;
    // Our side: the message is Delivered on as4's receipt, which our sender verified and stored.
    expect_state(&record, State::Delivered)?;
    let receipt = signed_receipt(sender, &record).await?;
    ensure(receipt.contains(&accepted.message_id), || {
        "as4's receipt does not name the message".into()
    })?;
    ctx.evidence.note("receipt_bytes", receipt.len());
    Ok(())
}

// ------------------------------------------------------------------------------------------ captured real sends

/// Sends `submission` from A to B behind the recording relay; answers the message id and what crossed the wire.
async fn captured_send(ctx: &mut Ctx, submission: Submission) -> Result<(String, Captured), String> {
    let relay = Relay::start(&mut ctx.fed).await?;
    let sending = tokio::time::timeout(SWAPPED, async {
        let accepted = submit(&ctx.fed.a, submission).await?;
        let record = final_record(&ctx.fed.a, &accepted, DELIVERY).await?;
        expect_state(&record, State::Delivered)?;
        signed_receipt(&ctx.fed.a, &record).await?;
        Ok::<_, String>(accepted.message_id)
    })
    .await;
    let captured = relay.stop().await;
    let message_id = bounded(sending)?;
    ctx.evidence.note("message_id", &message_id);
    ctx.evidence.note("captured_requests", captured.len());
    let message = captured
        .into_iter()
        .rev()
        .find(|c| String::from_utf8_lossy(&c.body).contains(&message_id))
        .ok_or("the relay saw no request carrying the message")?;
    ctx.evidence.note("captured_bytes", message.body.len());
    Ok((message_id, message))
}

/// Two payloads (XML and binary) submitted as an SDK business message from A to B.
fn two_payloads(ctx: &Ctx) -> Result<(Submission, Vec<Vec<u8>>), String> {
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let xml = "<?xml version=\"1.0\"?><doc xmlns=\"urn:x\">Räksmörgås &amp; co</doc>"
        .as_bytes()
        .to_vec();
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let files = vec![
        payload_file(&dir, "doc.xml", "text/xml", &xml)?,
        payload_file(&dir, "blob.bin", "application/octet-stream", &binary)?,
    ];
    Ok((sdk_submission(SERVED, files), vec![xml, binary]))
}

/// Runs the PyPI xmlsec decryption of `capture` with `key`; answers the tool's output.
async fn pyxmlsec_decrypt(python: &str, capture: &Path, key: &Path, out_dir: &Path) -> Result<ToolOutput, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join(PYXMLSEC_DECRYPT);
    let mut command = Command::new(python);
    command.arg(tool).arg(capture).arg(key).arg(out_dir);
    run_tool(command, TOOL).await
}

/// The decrypted parts the tool listed: `(content id, plaintext)` in its order.
fn decrypted_parts(out: &ToolOutput) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut parts = Vec::new();
    for line in out.stdout.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [cid, sha, path] = fields[..] else {
            return Err(format!("unexpected xmlsec tool line {line:?}"));
        };
        let plaintext = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        ensure(sha256_hex(&plaintext) == sha, || {
            format!("{path} is not what the tool reported")
        })?;
        parts.push((cid.to_string(), plaintext));
    }
    Ok(parts)
}

async fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    access_point::compression::gzip_decompress(bytes, &mut out, 64 * 1024 * 1024)
        .await
        .map_err(|e| format!("gunzip: {e}"))?;
    Ok(out)
}

fn b_message_key(ctx: &Ctx) -> Result<PathBuf, String> {
    Ok(load(&ctx.fed.b_config)?.keys.message.key)
}

fn a_message_cert(ctx: &Ctx) -> Result<openssl::x509::X509, String> {
    access_point::pki::load_certificate(&load(&ctx.fed.a_config)?.keys.message.cert).map_err(|e| e.to_string())
}

/// `interop-pyxmlsec-decrypts-ours`: PyPI xmlsec decrypts every attachment of a real send to the payloads
/// submitted (gunzipped); B's key is needed (A's key cannot), and a changed ciphertext byte is refused.
pub fn pyxmlsec_decrypts_ours(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let python = peers::pyxmlsec_python().await?;
        let (submission, originals) = two_payloads(ctx)?;
        let (_, captured) = captured_send(ctx, submission).await?;
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let capture = dir.join("message.http");
        captured.write_capture(&capture)?;
        let out = pyxmlsec_decrypt(&python, &capture, &b_message_key(ctx)?, &dir.join("decrypted")).await?;
        ensure(out.success(), || {
            format!("PyPI xmlsec could not decrypt: {}", out.text())
        })?;
        ctx.evidence
            .note("pyxmlsec_output", out.stdout.trim().replace('\n', "; "));
        let parts = decrypted_parts(&out)?;
        ensure(parts.len() == originals.len(), || {
            format!("{} parts decrypted, {} sent", parts.len(), originals.len())
        })?;
        for (cid, plaintext) in &parts {
            let payload = gunzip(plaintext).await?;
            ensure(originals.contains(&payload), || {
                format!("{cid} decrypts to none of the payloads submitted")
            })?;
        }

        let wrong_key = load(&ctx.fed.a_config)?.keys.message.key;
        let out = pyxmlsec_decrypt(&python, &capture, &wrong_key, &dir.join("wrong-key")).await?;
        ensure(out.code == Some(2), || {
            format!("decrypted with A's key: {}", out.text())
        })?;
        let mut raw = std::fs::read(&capture).map_err(|e| e.to_string())?;
        let at = raw.len() - 80; // inside the last part's ciphertext or GCM tag
        raw[at] ^= 1;
        let changed = write(&dir, "changed.http", &raw)?;
        let out = pyxmlsec_decrypt(&python, &changed, &b_message_key(ctx)?, &dir.join("changed")).await?;
        ensure(out.code == Some(2), || {
            format!("a changed ciphertext decrypted: {}", out.text())
        })?;
        ctx.evidence
            .note("negative_controls", "A's key and a changed ciphertext byte: refused");
        Ok(())
    })
}

/// `interop-santuario-verifies-ours`: Apache Santuario verifies the whole signature of a real send — eb:Messaging,
/// the Body and both attachments by `cid:` — over the attachments PyPI xmlsec decrypted independently; a changed
/// attachment byte fails exactly that reference.
pub fn santuario_verifies_ours(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let classes = peers::santuario_classes().await?;
        let python = peers::pyxmlsec_python().await?;
        let (submission, _) = two_payloads(ctx)?;
        let (_, captured) = captured_send(ctx, submission).await?;
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let capture = dir.join("message.http");
        captured.write_capture(&capture)?;
        let decrypted_dir = dir.join("decrypted");
        let out = pyxmlsec_decrypt(&python, &capture, &b_message_key(ctx)?, &decrypted_dir).await?;
        ensure(out.success(), || {
            format!("PyPI xmlsec could not decrypt: {}", out.text())
        })?;
        let parts = decrypted_parts(&out)?;
        let envelope = std::fs::read(decrypted_dir.join("envelope.xml")).map_err(|e| e.to_string())?;
        let signer = a_message_cert(ctx)?;

        let verdict = peers::santuario_verify(&classes, &dir, &envelope, &signer, &parts).await?;
        ctx.evidence.note("santuario_output", verdict.lines.join("; "));
        ensure(verdict.ok, || {
            format!("Santuario refused our signature: {}", verdict.output)
        })?;
        let uris: Vec<&str> = verdict.references.iter().map(|(u, _)| u.as_str()).collect();
        ensure(
            uris.len() == 4
                && uris[..2].iter().all(|u| u.starts_with('#'))
                && uris[2..].iter().all(|u| u.starts_with("cid:")),
            || format!("expected Messaging, Body and two cid: references: {uris:?}"),
        )?;

        let mut changed = parts.clone();
        let middle = changed[1].1.len() / 2;
        changed[1].1[middle] ^= 0x20;
        let verdict = peers::santuario_verify(&classes, &dir, &envelope, &signer, &changed).await?;
        let failed: Vec<&str> = verdict
            .references
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(u, _)| u.as_str())
            .collect();
        ensure(!verdict.ok && failed == [format!("cid:{}", changed[1].0)], || {
            format!("a changed attachment byte: {}", verdict.output)
        })?;
        ctx.evidence
            .note("negative_control", format!("changed {}: REF FAIL", changed[1].0));
        Ok(())
    })
}

/// Runs `xmlsec1 --verify` on `envelope` with the signer's certificate, the Ids of Messaging and Body declared.
async fn xmlsec1_verify(dir: &Path, envelope: &[u8], signer_pem: &Path) -> Result<ToolOutput, String> {
    let file = write(dir, "xmlsec1-envelope.xml", envelope)?;
    let mut command = Command::new("xmlsec1");
    command
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(signer_pem)
        .args(["--id-attr:Id", "Messaging", "--id-attr:Id", "Body"])
        .arg(file);
    run_tool(command, TOOL).await
}

/// `interop-xmlsec1-verifies-ours`: xmlsec1 (libxml2's canonicaliser) verifies the whole signature — both
/// reference digests and the SignatureValue — of a real send without attachments (the ebMS test service: xmlsec1
/// has no SwA attachment transform, see docs/conformance.md), and refuses a changed Messaging byte.
pub fn xmlsec1_verifies_ours(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let version = peers::xmlsec1().await?;
        ctx.evidence.note("xmlsec1", &version);
        let (message_id, captured) = captured_send(ctx, test_service_submission()).await?;
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (envelope, parts) = captured.split(&dir).await?;
        ensure(parts.is_empty(), || {
            format!("{} attachments on a test message", parts.len())
        })?;
        let signer = write(
            &dir,
            "signer.pem",
            &a_message_cert(ctx)?.to_pem().map_err(|e| e.to_string())?,
        )?;

        let out = xmlsec1_verify(&dir, &envelope, &signer).await?;
        let references = line_after(&out.stderr, "SignedInfo References (ok/all):")
            .unwrap_or("?")
            .to_string();
        ctx.evidence.note("xmlsec1_references", &references);
        let said: Vec<&str> = out.stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        ctx.evidence.note("xmlsec1_output", said.join("; "));
        ensure(out.success() && references == "2/2", || {
            format!("xmlsec1 refused our signature: {}", out.text())
        })?;

        let text = String::from_utf8_lossy(&envelope).into_owned();
        let changed_id = format!("x{message_id}");
        let changed = text.replacen(&format!(">{message_id}<"), &format!(">{changed_id}<"), 1);
        ensure(changed != text, || "the envelope does not carry the MessageId".into())?;
        let out = xmlsec1_verify(&dir, changed.as_bytes(), &signer).await?;
        ensure(!out.success(), || {
            format!("xmlsec1 accepted a changed Messaging: {}", out.text())
        })?;
        ctx.evidence
            .note("negative_control", "changed MessageId: xmlsec1 refuses");
        Ok(())
    })
}

/// The interop cases, in the order they run.
pub fn cases() -> Vec<super::super::Case> {
    let case = |id: &'static str, run: super::super::CaseFn| super::super::Case {
        id,
        run: Some(run),
        long: false,
    };
    vec![
        case("interop-as4-sends-to-us", as4_sends_to_us),
        case("interop-we-send-to-as4", we_send_to_as4),
        case("interop-santuario-verifies-ours", santuario_verifies_ours),
        case("interop-xmlsec1-verifies-ours", xmlsec1_verifies_ours),
        case("interop-pyxmlsec-decrypts-ours", pyxmlsec_decrypts_ours),
    ]
}
