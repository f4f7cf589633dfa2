//! Revocation in the runner's federation: each access point's dev CA publishes a CRL, and `peers add` gave the
//! peer a copy (in its `trust/crls` folder, listed in `trust.message_crls`). Revoking a certificate re-signs that
//! CRL with the issuing CA's key and replaces the peer's copy, as a CRL refresh would. Trust stores load CRLs at
//! start, so the relying access point starts (or restarts) after the change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::config::{Config, DiscoveryConfig};
use access_point::msh::{Node, NodeOptions, SenderSettings};
use access_point::pki::dev::{CertSpec, DevPki, DevPkiFiles, DEV_CRL_VALIDITY_DAYS};
use access_point::pki::{load_certificate, load_crls, KeyPair};
use access_point::store::State;
use openssl::x509::X509Ref;

use crate::runner::cases::{ensure, final_record, inbound, submit};
use crate::runner::federation::{create_linked_pair, quick_retry_pmodes, sdk_submission, start_node, A_PARTY, SERVED};
use crate::runner::raw::{
    b_still_serves, body_bytes, new_message_id, post_to_b, sdk_user_message, seal_for_b, truncate, Answer,
};
use crate::runner::{CaseFuture, Ctx};
use crate::sim::config::FederationConfig;
use crate::sim::FederationSim;

/// How long the sender may take to give up on a revoked receiver (the run's P-Modes retry 3 times, 1 s apart).
const REFUSAL_WITHIN: Duration = Duration::from_secs(60);

/// TF-02: our AP sends to a participant whose AP certificate, as the SMP publishes it, its CA has revoked. The
/// sender finds the receiving AP through dynamic discovery (SML → signed SMP of the federation simulator), checks
/// the certificate against its trust store and CRLs, and fails the message at once naming the revocation; nothing
/// reaches B.
pub fn tf02(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let root = ctx.root.join("federation");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let (a_config, b_config) = create_linked_pair(&root).map_err(|e| e.to_string())?;
        let b_cert = message_certificate(&b_config)?;
        ctx.evidence.note("revoked_serial", serial_hex(&b_cert)?);
        let replaced = revoke_in_peer_crls(&b_config, &[&b_cert], &a_config)?;
        ctx.evidence.note("crl_replaced", replaced.display());
        let b = start_node(&b_config).await.map_err(|e| e.to_string())?;
        let outcome = refused_through_discovery(ctx, &root, &a_config, &b).await;
        b.shutdown().await;
        outcome
    })
}

async fn refused_through_discovery(ctx: &mut Ctx, root: &Path, a_config: &Path, b: &Node) -> Result<(), String> {
    let sim = FederationSim::start(simulated_federation(root, b.config())?)
        .await
        .map_err(|e| format!("the federation simulator: {e}"))?;
    let a = Node::start(discovering_config(a_config, &sim, root)?, quick_options())
        .await
        .map_err(|e| format!("starting A: {e}"))?;
    let outcome = async {
        let accepted = submit(&a, sdk_submission(SERVED, Vec::new())).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&a, &accepted, REFUSAL_WITHIN).await?;
        let error = record.last_error.clone().unwrap_or_default();
        ctx.evidence.note("sender_state", format!("{:?}", record.state));
        ctx.evidence.note("attempts", record.attempts);
        ctx.evidence.note("last_error", &error);
        ctx.evidence.note("smp_requests", sim.stats().smp_requests);
        ensure(record.state == State::Failed, || {
            format!("state {:?}, expected Failed (last error: {error})", record.state)
        })?;
        ensure(error.to_lowercase().contains("revoked"), || {
            format!("the failure does not name the revocation: {error}")
        })?;
        ensure(record.attempts == 1, || {
            format!(
                "{} attempts: a revoked certificate is a definite error",
                record.attempts
            )
        })?;
        ensure(inbound(b, &accepted.message_id).await?.is_none(), || {
            "B received the message although its certificate is revoked".into()
        })
    }
    .await;
    a.shutdown().await;
    outcome
}

/// The simulator's federation: B's AP (endpoint, message certificate) serving B's participant for the SDK message.
fn simulated_federation(root: &Path, b: &Config) -> Result<FederationConfig, String> {
    let toml = format!(
        r#"
sml_zone = "sml.conformance.test"

[[access_points]]
name = "ap-b"
endpoint_url = "{endpoint}"
certificate = "{cert}"
transport_profile = "digg-transport-as4-v1_2"

[[organisations]]
id = "org-b"
name = "Mottagaren med revokerat certifikat"
participant_id = "{SERVED}"
access_point = "ap-b"
documents = ["{document}"]
"#,
        endpoint = b.server.endpoint_url(),
        cert = b.keys.message.cert.display(),
        document = address_book_client::ids::SDK_MESSAGE_SIGENC,
    );
    FederationConfig::from_toml(&toml, root)
}

/// A's configuration without `[[peers]]`: B is found through the simulator's SML and SMP only.
fn discovering_config(a_config: &Path, sim: &FederationSim, root: &Path) -> Result<Config, String> {
    let mut config = Config::load(a_config).map_err(|e| e.to_string())?;
    config.peers.clear();
    let anchor = root.join("smp-ca.pem");
    std::fs::write(&anchor, sim.smp_ca_pem()).map_err(|e| format!("{}: {e}", anchor.display()))?;
    config.trust.smp_anchors = vec![anchor];
    let section = format!(
        "sml_zone = \"{}\"\ndns_servers = [\"{}\"]\ndns_timeout_ms = 1000\nsmp_timeout_ms = 2000\n",
        sim.sml_zone(),
        sim.dns_addr()
    );
    config.discovery = Some(toml::from_str::<DiscoveryConfig>(&section).map_err(|e| e.to_string())?);
    Ok(config)
}

fn quick_options() -> NodeOptions {
    NodeOptions {
        pmodes: Some(quick_retry_pmodes()),
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    }
}

/// The message certificate of the access point configured in `config`.
pub fn message_certificate(config: &Path) -> Result<openssl::x509::X509, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    load_certificate(&config.keys.message.cert).map_err(|e| e.to_string())
}

/// Revokes `certificates` (issued by the dev CA of the access point configured in `issuer_config`) in the copy of
/// that CA's CRL that the access point configured in `relying_config` trusts. Returns the file replaced.
pub fn revoke_in_peer_crls(
    issuer_config: &Path,
    certificates: &[&X509Ref],
    relying_config: &Path,
) -> Result<PathBuf, String> {
    let ca = dev_ca_of(issuer_config)?;
    let now = time::OffsetDateTime::now_utc();
    let crl = DevPki::crl_from(
        &ca,
        certificates,
        now - time::Duration::minutes(1),
        now + time::Duration::days(DEV_CRL_VALIDITY_DAYS),
    )
    .map_err(|e| format!("signing the CRL: {e}"))?;
    let pem = crl.to_pem().map_err(|e| e.to_string())?;
    let relying = Config::load(relying_config).map_err(|e| e.to_string())?;
    let mut replaced = None;
    for file in crl_files(&relying.trust.message_crls)? {
        let crls = load_crls(&file).map_err(|e| e.to_string())?;
        let same_issuer = crls.iter().any(|c| {
            c.issuer_name()
                .try_cmp(ca.certificate.subject_name())
                .is_ok_and(|o| o == std::cmp::Ordering::Equal)
        });
        if same_issuer {
            std::fs::write(&file, &pem).map_err(|e| format!("{}: {e}", file.display()))?;
            replaced = Some(file);
        }
    }
    replaced.ok_or_else(|| format!("{} holds no CRL of the issuing CA", relying_config.display()))
}

/// The dev CA (certificate and key) that `sdk-ap init` wrote beside the message certificate of `config`.
fn dev_ca_of(config: &Path) -> Result<KeyPair, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let keys_dir = config
        .keys
        .message
        .cert
        .parent()
        .ok_or("the message certificate has no folder")?;
    let files = DevPkiFiles::in_dir(keys_dir);
    KeyPair::load(&files.ca_key, &files.ca_cert, &[]).map_err(|e| format!("the dev CA in {}: {e}", keys_dir.display()))
}

/// The CRL files named by `trust.message_crls` (files, and the `.pem` files of folders).
fn crl_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for entry in entries {
                let file = entry.map_err(|e| format!("{}: {e}", path.display()))?.path();
                if file.extension().is_some_and(|x| x == "pem") {
                    files.push(file);
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        }
    }
    files.sort();
    Ok(files)
}

fn serial_hex(cert: &X509Ref) -> Result<String, String> {
    let bn = cert.serial_number().to_bn().map_err(|e| e.to_string())?;
    Ok(bn.to_hex_str().map_err(|e| e.to_string())?.to_string())
}

/// sec-revoked-cert: a message signed with a certificate of A's CA that the CA has revoked is refused by B with
/// EBMS:0101 and nothing is stored; the same certificate was accepted before the revocation (control), and B still
/// serves A's own certificate afterwards. B's copy of A's CRL keeps listing only this throwaway certificate.
pub fn sec_revoked_cert(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let spool = ctx.fed.scratch(ctx.case_id)?;
        let victim = issue_from_ca_of(&ctx.fed.a_config, A_PARTY)?;
        ctx.evidence.note("revoked_serial", serial_hex(&victim.certificate)?);
        let control_id = new_message_id();
        ctx.evidence.note("control_message_id", &control_id);
        let answer = post_signed_by(ctx, &victim, &control_id, &spool).await?;
        ensure(answer.is_signed_receipt(), || {
            format!(
                "before its revocation the certificate was refused: {}",
                truncate(&answer.body)
            )
        })?;

        let replaced = revoke_in_peer_crls(&ctx.fed.a_config, &[&victim.certificate], &ctx.fed.b_config)?;
        ctx.evidence.note("crl_replaced", replaced.display());
        // B loads CRLs at start: restart it, as a CRL refresh would take effect.
        if let Some(b) = ctx.fed.b.take() {
            b.shutdown().await;
        }
        ctx.fed.start_b().await.map_err(|e| e.to_string())?;

        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let answer = post_signed_by(ctx, &victim, &id, &spool).await?;
        let code = answer.error_code().unwrap_or_default();
        ctx.evidence.note("http_status", answer.status);
        ctx.evidence.note("error_code", &code);
        ensure(code == "EBMS:0101", || {
            format!(
                "expected EBMS:0101, got HTTP {} {}",
                answer.status,
                truncate(&answer.body)
            )
        })?;
        ensure(answer.body.to_lowercase().contains("revoked"), || {
            format!("the refusal does not name the revocation: {}", truncate(&answer.body))
        })?;
        let b = ctx.fed.b()?;
        ensure(inbound(b, &id).await?.is_none(), || "stored anyway".into())?;
        b_still_serves(&ctx.fed.a_config, b, &spool).await
    })
}

/// Seals an SDK user message as A would, signed by `signer`, and POSTs it to B over A's TLS identity.
async fn post_signed_by(ctx: &Ctx, signer: &KeyPair, message_id: &str, spool: &Path) -> Result<Answer, String> {
    let b = ctx.fed.b()?;
    let user = sdk_user_message(message_id, "revoked-cert", 0)?;
    let sealed = seal_for_b(&ctx.fed.a_config, b, &user, &[], Some(signer), spool).await?;
    post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body_bytes(&sealed)?).await
}

/// A fresh message certificate and key for `common_name`, issued by the dev CA of the access point configured in
/// `config` (so only its revocation can make it unacceptable).
fn issue_from_ca_of(config: &Path, common_name: &str) -> Result<KeyPair, String> {
    let ca = dev_ca_of(config)?;
    let spec = CertSpec::leaf(common_name, CertSpec::message_key_usage());
    let key = access_point::pki::dev::pooled_rsa_key().map_err(|e| e.to_string())?;
    let certificate = DevPki::issue_from(&ca, &spec, &key).map_err(|e| e.to_string())?;
    Ok(KeyPair {
        key,
        certificate,
        chain: Vec::new(),
    })
}
