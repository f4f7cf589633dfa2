//! DIGG's platform-approval cases on the SDK business layer: kvittens both ways (TF-01, TF-04), DIGG's maximal and
//! a minimal XHE (TF-06, TF-07), a malformed XHE dropped without kvittens (TF-09) and an XHE inconsistent with the
//! AS4 header answered with a REJECTED kvittens (TF-10).
//!
//! A plays DIGG's test bed where the case has the test bed initiate (TF-04, TF-06, TF-07, TF-09, TF-10) and B plays
//! it where the test bed answers (TF-01); either way both sides are our access point, driven through the same
//! library calls the local API makes (`sdk::outbound` envelopes submitted as `cid:message`, the inbox handlers,
//! `sdk::inbound::send_kvittens`).

use std::path::Path;

use access_point::api::auth::Caller;
use access_point::msh::{Accepted, ApEvent, Node};
use access_point::pki::KeyPair;
use access_point::sdk::inbound::{send_kvittens, KvittensRequest, KvittensSent, ReplyError};
use access_point::sdk::kvittens::{ReasonCode, ResponseCode};
use access_point::sdk::message_v3::{
    Attention, ContentFile, DigitalDocument, FileContent, InstanceId, MessageHeader, Party, Person, Reference,
    SdkMessage, SubOrganization, FUNCTIONAL_ADDRESS_ROOT,
};
use access_point::sdk::outbound::OutboundFile;
use access_point::sdk::xhe::{PayloadContent, Xhe, XhePayload};
use access_point::sdk::PARTICIPANT_SCHEME;
use access_point::store::{Classification, Direction, MessageRecord, State};
use http_body_util::BodyExt;

use super::sdk_support::{
    classified, digg_example, digg_federation, history, limits, linked_kvittens, outbound_in_conversation,
    outbound_message, submission_for, write_client_xhe, write_file, write_sdk, xhe_submission, ACTOR, BUSINESS_WITHIN,
    DIGG_FROM, DIGG_FULL_EXAMPLE, DIGG_TO, RECIPIENT_FUNCTION,
};
use crate::runner::cases::{ensure, expect_state, final_record, signed_receipt, submit};
use crate::runner::federation::{Federation, ORIGINAL_SENDER, SERVED};
use crate::runner::report::Evidence;
use crate::runner::{CaseFuture, Ctx};

/// The functional address DIGG's example message is for.
const DIGG_FUNCTION: &str = "sdk.testbed.0203:testa.testbed.inera.se";

/// TF-01: our AP sends an SDK message; after the AS4 receipt ("Success") the recipient's kvittens comes back and is
/// received without error codes, linked to the message it answers.
pub fn tf01(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (a, b) = (&ctx.fed.a, ctx.fed.b()?);
        let evidence = &mut ctx.evidence;
        let mut a_events = a.events().subscribe();
        let text = "Underlag för TF-01: meddelande och meddelandekvittens.\n".repeat(200);
        let file = OutboundFile {
            file_name: "underlag.txt".into(),
            content_type: "text/plain".into(),
            path: write_file(&dir, "underlag.txt", text.as_bytes())?,
        };
        let message = outbound_message("TF-01 meddelande med kvittens", vec![file]);
        let (envelope, path) = write_sdk(a, &dir, "tf01.xml", &message).await?;
        evidence.note("xhe_id", &envelope.xhe_id);
        let accepted = submit(a, submission_for(&envelope, path)).await?;
        evidence.note("message_id", &accepted.message_id);
        delivered_with_receipt(a, &accepted, evidence).await?;

        // B stands in for DIGG's TestAP-01: its message system accepts the message.
        let (_, class) = classified(b, &accepted.message_id, BUSINESS_WITHIN).await?;
        ensure(class == Classification::Inbox, || format!("B classified it {class:?}"))?;
        let sent = kvittens_from(b, &accepted.message_id, ResponseCode::Accepted).await?;
        evidence.note("kvittens_message_id", &sent.message_id);
        evidence.note("kvittens_id", &sent.kvittens_id);

        // A receives it without error codes and links it to the message it answers.
        let (kvittens, line) = linked_kvittens(a, &accepted.message_id, BUSINESS_WITHIN).await?;
        evidence.note("kvittens_response", kvittens.response.as_str());
        evidence.note("sender_history", &line);
        ensure(kvittens.response == ResponseCode::Accepted, || {
            format!("kvittens {line}")
        })?;
        ensure(kvittens.reasons.is_empty(), || {
            format!("the kvittens carries error codes: {line}")
        })?;
        ensure(kvittens.id == sent.kvittens_id, || {
            format!(
                "linked kvittens {} is not the one B sent ({})",
                kvittens.id, sent.kvittens_id
            )
        })?;
        ensure(kvittens.original_message_id == envelope.xhe_id, || {
            format!(
                "the kvittens answers XHE {}, not {}",
                kvittens.original_message_id, envelope.xhe_id
            )
        })?;
        let (record, class) = classified(a, &sent.message_id, BUSINESS_WITHIN).await?;
        let expected = Classification::Kvittens {
            linked_to: Some(accepted.message_id.clone()),
            response: "ACCEPTED".into(),
        };
        ensure(class == expected, || {
            format!("A classified the kvittens message {class:?}")
        })?;
        ensure(not_in_inbox(a, &record).await?, || {
            "the kvittens landed in A's inbox".into()
        })?;
        let event = kvittens_event(&mut a_events, &accepted.message_id).await?;
        evidence.note("kvittens_event", &event);
        ensure(event == "ACCEPTED", || format!("KvittensReceived says {event}"))
    })
}

/// TF-04: our AP receives an SDK message, makes it available to the recipient's message system (inbox API: list,
/// attachment download) and sends the kvittens, which reaches the sending AP.
pub fn tf04(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (a, b) = (&ctx.fed.a, ctx.fed.b()?);
        let evidence = &mut ctx.evidence;
        let drawing = noise(300_000, 0x7f04);
        let files = vec![
            OutboundFile {
                file_name: "ritning.bin".into(),
                content_type: "application/octet-stream".into(),
                path: write_file(&dir, "ritning.bin", &drawing)?,
            },
            OutboundFile {
                file_name: "brev.txt".into(),
                content_type: "text/plain".into(),
                path: write_file(&dir, "brev.txt", "Hej Åsa! Se bifogad ritning.".as_bytes())?,
            },
        ];
        let message = outbound_message("TF-04 ansökan", files);
        let (envelope, path) = write_sdk(a, &dir, "tf04.xml", &message).await?;
        let accepted = submit(a, submission_for(&envelope, path)).await?;
        evidence.note("message_id", &accepted.message_id);
        evidence.note("xhe_id", &envelope.xhe_id);
        delivered_with_receipt(a, &accepted, evidence).await?;

        let (record, class) = classified(b, &accepted.message_id, BUSINESS_WITHIN).await?;
        ensure(class == Classification::Inbox, || format!("B classified it {class:?}"))?;
        // The recipient's message system finds it through the inbox API, under its functional address.
        let operator = Caller::unrestricted(ACTOR);
        let query = format!("functional_address={RECIPIENT_FUNCTION}&limit=1000");
        let listed = access_point::api::inbox::list(b, &operator, Some(&query)).await;
        ensure(listed.status() == http::StatusCode::OK, || {
            format!("inbox list: HTTP {}", listed.status())
        })?;
        let listed: serde_json::Value =
            serde_json::from_slice(&collect(listed.into_body()).await?).map_err(|e| format!("inbox list JSON: {e}"))?;
        let item = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["message_id"] == accepted.message_id.as_str()))
            .ok_or_else(|| format!("{} is not in the inbox of {RECIPIENT_FUNCTION}", accepted.message_id))?;
        evidence.note("inbox_state", item["state"].as_str().unwrap_or("?"));
        ensure(item["recipient"] == SERVED && item["sender"] == ORIGINAL_SENDER, || {
            format!("inbox item addressed {} -> {}", item["sender"], item["recipient"])
        })?;
        ensure(item["attachments"].as_array().map(Vec::len) == Some(2), || {
            format!("inbox item attachments: {}", item["attachments"])
        })?;
        let download = access_point::api::inbox::attachment(b, &operator, &accepted.message_id, 0).await;
        ensure(download.status() == http::StatusCode::OK, || {
            format!("attachment download: HTTP {}", download.status())
        })?;
        let bytes = collect(download.into_body()).await?;
        evidence.note("attachment_bytes", bytes.len());
        ensure(bytes == drawing, || {
            "the downloaded attachment differs from the one sent".into()
        })?;

        // B sends the kvittens; a second one for the same message is refused.
        let sent = kvittens_from(b, &accepted.message_id, ResponseCode::Accepted).await?;
        evidence.note("kvittens_message_id", &sent.message_id);
        evidence.note("kvittens_id", &sent.kvittens_id);
        match kvittens_from(b, &accepted.message_id, ResponseCode::Accepted).await {
            Err(e) if e.contains("already sent") => {}
            other => return Err(format!("a second kvittens for the same message: {other:?}")),
        }
        let recorded = history(b, &record).await?;
        ensure(
            recorded
                .iter()
                .any(|r| r.starts_with("kvittens sent: ACCEPTED") && r.contains(&sent.message_id)),
            || format!("B's history does not record the kvittens: {recorded:?}"),
        )?;
        // The kvittens travels as an AS4 message of its own and A receipts it.
        let outbound = b
            .store()
            .get_by_message_id(Direction::Outbound, &sent.message_id)
            .await
            .map_err(|e| format!("store: {e}"))?
            .ok_or("B holds no outbound kvittens message")?;
        ensure(outbound.meta.action == pmode::builtin::SDK_KVITTENS_ACTION, || {
            format!("the kvittens went with action {}", outbound.meta.action)
        })?;
        let as_accepted = Accepted {
            key: outbound.key,
            message_id: outbound.meta.message_id.clone(),
            pmode_id: outbound.meta.pmode_id.clone(),
        };
        let final_kvittens = final_record(b, &as_accepted, BUSINESS_WITHIN).await?;
        expect_state(&final_kvittens, State::Delivered)?;
        signed_receipt(b, &final_kvittens).await?;
        evidence.note("kvittens_state", "Delivered (signed receipt)");
        let (kvittens, line) = linked_kvittens(a, &accepted.message_id, BUSINESS_WITHIN).await?;
        evidence.note("kvittens_response", kvittens.response.as_str());
        evidence.note("sender_history", &line);
        ensure(
            kvittens.response == ResponseCode::Accepted && kvittens.id == sent.kvittens_id,
            || format!("A linked {line}"),
        )
    })
}

/// TF-06: DIGG's complete example XHE (every element of the profile, HandlingServiceID, enveloped signature),
/// exactly as DIGG wrote it, is received into the inbox and answered with a kvittens; so is an envelope signed by A
/// whose SDK message fills every optional field (persons, references, labels, several documents, files and texts).
pub fn tf06(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let example = digg_example(DIGG_FULL_EXAMPLE)?;
        let text = String::from_utf8_lossy(&example);
        let criteria = text.matches("BusinessScopeCriterionTypeCode>").count() / 2;
        for element in [
            "HandlingServiceID",
            "InstanceEncryptionIndicator",
            "dsig:Signature",
            "generatingSystem",
        ] {
            ensure(text.contains(element), || format!("DIGG's example lacks {element}"))?;
        }
        ensure(criteria == 5, || {
            format!("DIGG's example has {criteria} scope criteria")
        })?;
        ctx.evidence.note("document", DIGG_FULL_EXAMPLE);
        ctx.evidence.note("scope_criteria", criteria);
        with_digg_federation(ctx, |fed, dir, evidence| {
            Box::pin(async move {
                let (envelope, path) = write_client_xhe(dir, "tf06.xml", &example).await?;
                receive_and_answer(fed, envelope, path, &example, evidence).await?;
                // Every optional field of SDK message 3 as well, in an envelope A signs.
                let maximal = maximal_xhe(&fed.a_config)?;
                let (envelope, path) = write_client_xhe(dir, "tf06-max.xml", &maximal).await?;
                let mut more = Evidence::default();
                receive_and_answer(fed, envelope, path, &maximal, &mut more).await?;
                for (key, value) in more.0 {
                    evidence.note(&format!("all_fields.{key}"), value);
                }
                Ok(())
            })
        })
        .await
    })
}

/// TF-07: a minimal XHE (DIGG's example reduced to the required elements: no HandlingServiceID, no signature, an
/// SDK message without optional fields) is received into the inbox and answered with a kvittens.
pub fn tf07(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let minimal = minimal_from(&digg_example(DIGG_FULL_EXAMPLE)?)?;
        for absent in [
            "HandlingServiceID",
            "Signature",
            "label>",
            "generatingSystem",
            "documentName",
            "attachment",
        ] {
            ensure(!minimal.contains(absent), || {
                format!("the minimal XHE still has {absent}")
            })?;
        }
        ctx.evidence.note("xhe_bytes", minimal.len());
        with_digg_federation(ctx, |fed, dir, evidence| {
            Box::pin(async move {
                let (envelope, path) = write_client_xhe(dir, "tf07.xml", minimal.as_bytes()).await?;
                receive_and_answer(fed, envelope, path, minimal.as_bytes(), evidence).await
            })
        })
        .await
    })
}

/// TF-09: malformed XHE envelopes are receipted at the AS4 level, then dropped (not in the inbox) with the
/// formatting fault recorded and logged, and no kvittens is sent.
pub fn tf09(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (a, b) = (&ctx.fed.a, ctx.fed.b()?);
        let evidence = &mut ctx.evidence;
        let example = String::from_utf8(digg_example(DIGG_FULL_EXAMPLE)?).map_err(|e| e.to_string())?;
        let handling = format!("<HandlingServiceID>{DIGG_FUNCTION}</HandlingServiceID>");
        ensure(example.contains(&handling), || {
            "DIGG's example changed: no HandlingServiceID".into()
        })?;
        let variants: [(&str, Vec<u8>, &str); 4] = [
            (
                "customization_id",
                example
                    .replace("urn:fdc:digg.se:edelivery:xhe:1", "urn:example:not-digg")
                    .into_bytes(),
                "R3-XHE",
            ),
            (
                "empty_element",
                example
                    .replace(&handling, "<HandlingServiceID></HandlingServiceID>")
                    .into_bytes(),
                "R2-XHE",
            ),
            (
                "not_well_formed",
                example.as_bytes()[..example.len() / 2].to_vec(),
                "well-formed",
            ),
            ("no_envelope", digg_example("messageWithAttachments3.xml")?, "XHE"),
        ];
        for (name, bytes, expected) in variants {
            let path = write_file(&dir, &format!("{name}.xml"), &bytes)?;
            let submission = xhe_submission(
                path,
                ORIGINAL_SENDER,
                SERVED,
                pmode::builtin::SDK_SERVICE,
                crate::runner::federation::SDK_SERVICE_TYPE,
                pmode::builtin::SDK_MESSAGE_ACTION,
            );
            let conversation = submission.conversation_id.clone().unwrap_or_default();
            let accepted = submit(a, submission).await?;
            evidence.note(&format!("{name}.message_id"), &accepted.message_id);
            let sent = final_record(a, &accepted, BUSINESS_WITHIN).await?;
            expect_state(&sent, State::Delivered)?;
            let (record, class) = classified(b, &accepted.message_id, BUSINESS_WITHIN).await?;
            let Classification::Dropped { reason } = class else {
                return Err(format!("{name}: B classified it {class:?}, expected dropped"));
            };
            evidence.note(&format!("{name}.reason"), &reason);
            ensure(reason.contains("malformed XHE") && reason.contains(expected), || {
                format!("{name}: dropped for {reason:?}, expected a malformed XHE naming {expected}")
            })?;
            let recorded = history(b, &record).await?;
            ensure(recorded.iter().any(|r| r.starts_with("dropped: malformed XHE")), || {
                format!("{name}: B's history does not record the fault: {recorded:?}")
            })?;
            ensure(not_in_inbox(b, &record).await?, || format!("{name}: in B's inbox"))?;
            let answers = outbound_in_conversation(b, &conversation).await?;
            ensure(answers.is_empty(), || {
                format!("{name}: B sent {} message(s) back (a kvittens?)", answers.len())
            })?;
        }
        evidence.note("kvittens_sent", 0);
        Ok(())
    })
}

/// TF-10: an XHE whose values disagree with the AS4 header (originalSender, Action) is not delivered to the inbox;
/// a REJECTED kvittens naming the inconsistency goes back and is linked at the sender.
pub fn tf10(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (a, b) = (&ctx.fed.a, ctx.fed.b()?);
        let evidence = &mut ctx.evidence;
        let variants = [("original_sender", "originalSender"), ("action", "Action")];
        for (name, expected) in variants {
            let message = outbound_message(&format!("TF-10 {name}"), Vec::new());
            let (envelope, path) = write_sdk(a, &dir, &format!("{name}.xml"), &message).await?;
            let mut submission = submission_for(&envelope, path);
            match name {
                "original_sender" => submission.original_sender = "0203:conformance-someone-else.example".into(),
                _ => submission.action = pmode::builtin::SDK_KVITTENS_ACTION.into(),
            }
            let accepted = submit(a, submission).await?;
            evidence.note(&format!("{name}.message_id"), &accepted.message_id);
            let sent = final_record(a, &accepted, BUSINESS_WITHIN).await?;
            expect_state(&sent, State::Delivered)?;
            let (record, class) = classified(b, &accepted.message_id, BUSINESS_WITHIN).await?;
            let Classification::Rejected {
                reason,
                kvittens_message_id,
            } = class
            else {
                return Err(format!("{name}: B classified it {class:?}, expected rejected"));
            };
            evidence.note(&format!("{name}.reason"), &reason);
            ensure(reason.contains(expected), || format!("{name}: rejected for {reason:?}"))?;
            ensure(not_in_inbox(b, &record).await?, || format!("{name}: in B's inbox"))?;
            let kvittens_message_id = kvittens_message_id.ok_or_else(|| format!("{name}: no kvittens sent"))?;
            evidence.note(&format!("{name}.kvittens_message_id"), &kvittens_message_id);
            let (kvittens, line) = linked_kvittens(a, &accepted.message_id, BUSINESS_WITHIN).await?;
            evidence.note(&format!("{name}.kvittens_response"), kvittens.response.as_str());
            ensure(kvittens.response == ResponseCode::Rejected, || {
                format!("{name}: {line}")
            })?;
            let first = kvittens
                .reasons
                .first()
                .ok_or_else(|| format!("{name}: a REJECTED kvittens without a reason"))?;
            evidence.note(
                &format!("{name}.kvittens_reason"),
                format!(
                    "{} {} {}",
                    first.code.as_str(),
                    first.detail_code.as_deref().unwrap_or("-"),
                    first.text
                ),
            );
            ensure(
                first.code == ReasonCode::BusinessRuleError && first.text.contains(expected),
                || format!("{name}: kvittens reason {} {:?}", first.code.as_str(), first.text),
            )?;
            ensure(kvittens.original_message_id == envelope.xhe_id, || {
                format!("{name}: the kvittens answers XHE {}", kvittens.original_message_id)
            })?;
        }
        Ok(())
    })
}

type FedCase<'a> = CaseFuture<'a>;

/// Runs `body` on a federation of its own whose access points also serve DIGG's example participants, and shuts
/// it down whatever the outcome.
async fn with_digg_federation<F>(ctx: &mut Ctx, body: F) -> Result<(), String>
where
    F: for<'a> FnOnce(&'a Federation, &'a Path, &'a mut Evidence) -> FedCase<'a>,
{
    let fed = digg_federation(&ctx.root.join("federation")).await?;
    let dir = ctx.root.join("files");
    let outcome = match std::fs::create_dir_all(&dir) {
        Ok(()) => body(&fed, &dir, &mut ctx.evidence).await,
        Err(e) => Err(format!("{}: {e}", dir.display())),
    };
    fed.shutdown().await;
    outcome
}

/// A sends the envelope at `path` to B; B puts it in the inbox with DIGG's addressing, the stored document is the
/// one sent byte for byte, B's kvittens ACCEPTED comes back to A.
async fn receive_and_answer(
    fed: &Federation,
    envelope: access_point::sdk::outbound::Envelope,
    path: std::path::PathBuf,
    sent_bytes: &[u8],
    evidence: &mut Evidence,
) -> Result<(), String> {
    let (a, b) = (&fed.a, fed.b()?);
    let accepted = submit(a, submission_for(&envelope, path)).await?;
    evidence.note("message_id", &accepted.message_id);
    evidence.note("xhe_id", &envelope.xhe_id);
    delivered_with_receipt(a, &accepted, evidence).await?;
    let (record, class) = classified(b, &accepted.message_id, BUSINESS_WITHIN).await?;
    ensure(class == Classification::Inbox, || format!("B classified it {class:?}"))?;
    let item = b
        .store()
        .inbox_get(record.key)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or("classified for the inbox but not in it")?;
    let entry = &item.entry;
    evidence.note("inbox_recipient", &entry.recipient);
    evidence.note(
        "inbox_functional_address",
        entry.functional_address.as_deref().unwrap_or("-"),
    );
    ensure(entry.recipient == DIGG_TO && entry.sender == DIGG_FROM, || {
        format!("inbox entry addressed {} -> {}", entry.sender, entry.recipient)
    })?;
    ensure(entry.functional_address.as_deref() == Some(DIGG_FUNCTION), || {
        format!("inbox entry functional address {:?}", entry.functional_address)
    })?;
    ensure(entry.xhe_id == envelope.xhe_id, || {
        format!("inbox entry XHE id {}", entry.xhe_id)
    })?;
    let files_sent = String::from_utf8_lossy(sent_bytes).matches(":ContentFiles>").count() / 2;
    evidence.note("inbox_attachments", entry.attachments.len());
    ensure(entry.attachments.len() == files_sent, || {
        format!(
            "{} attachments in the inbox, {files_sent} sent",
            entry.attachments.len()
        )
    })?;
    let operator = Caller::unrestricted(ACTOR);
    let document = access_point::api::inbox::document(b, &operator, &accepted.message_id).await;
    ensure(document.status() == http::StatusCode::OK, || {
        format!("inbox document: HTTP {}", document.status())
    })?;
    ensure(collect(document.into_body()).await? == sent_bytes, || {
        "the document in B's inbox differs from the XHE sent".into()
    })?;
    let sent = kvittens_from(b, &accepted.message_id, ResponseCode::Accepted).await?;
    evidence.note("kvittens_message_id", &sent.message_id);
    let (kvittens, line) = linked_kvittens(a, &accepted.message_id, BUSINESS_WITHIN).await?;
    evidence.note("kvittens_response", kvittens.response.as_str());
    evidence.note("sender_history", &line);
    ensure(
        kvittens.response == ResponseCode::Accepted && kvittens.reasons.is_empty(),
        || line.clone(),
    )?;
    ensure(
        kvittens.receiver.id == DIGG_FROM && kvittens.sender.id == DIGG_TO,
        || format!("kvittens from {} to {}", kvittens.sender.id, kvittens.receiver.id),
    )
}

/// An XHE from DIGG's example sender to its recipient whose SDK message has every optional element of SDK message 3
/// (refToMessageId, labels, generating system, persons, references, two documents with names, indexes, two files
/// and two texts each), with HandlingServiceID, signed (enveloped, rsa-sha256) with A's message key.
fn maximal_xhe(a_config: &Path) -> Result<Vec<u8>, String> {
    let config = access_point::config::Config::load(a_config).map_err(|e| e.to_string())?;
    let keys = &config.keys.message;
    let signer = KeyPair::load(&keys.key, &keys.cert, &keys.chain).map_err(|e| format!("A's message key: {e}"))?;
    let id = uuid::Uuid::new_v4().to_string();
    let instance = |root: &str, extension: &str| InstanceId::new(root, extension);
    let party = |participant: &str, function: &str, who: &str| Party {
        id: instance(PARTICIPANT_SCHEME, participant),
        label: Some(format!("{who} (organisation)")),
        attention: Some(Attention {
            persons: vec![Person {
                id: Some(instance("1.2.752.129.2.1.3.1", "19121212-1212")),
                label: Some(format!("Handläggare hos {who}")),
            }],
            sub_organization: SubOrganization {
                id: instance(FUNCTIONAL_ADDRESS_ROOT, function),
                label: Some(format!("{who}: funktionsadress")),
            },
            references: vec![Reference {
                id: instance("urn:conformance:diarienummer", "KS 2026/0042"),
                label: Some("Diarienummer".into()),
            }],
        }),
    };
    let document = |n: usize| DigitalDocument {
        document_id: format!("dokument-{n}"),
        document_name: Some(format!("Dokument {n}")),
        index: Some(n.to_string()),
        files: (1..=2)
            .map(|f| ContentFile {
                file_name: format!("bilaga-{n}-{f}.txt"),
                content_type: "text/plain".into(),
                content: FileContent::Bytes(format!("Bilaga {f} till dokument {n}: åäö.").into_bytes()),
            })
            .collect(),
        texts: vec![
            format!("Första texten i dokument {n}."),
            format!("Andra texten i dokument {n}."),
        ],
    };
    let message = SdkMessage {
        header: MessageHeader {
            creation_date_time: access_point::sdk::outbound::sdk_timestamp(time::OffsetDateTime::now_utc()),
            message_id: id.clone(),
            conversation_id: uuid::Uuid::new_v4().to_string(),
            ref_to_message_id: Some(uuid::Uuid::new_v4().to_string()),
            label: Some("TF-06: alla fält ifyllda".into()),
            confidentiality: true,
            generating_system: Some(instance("urn:conformance:system", "sdk-ap conformance")),
            recipient: party(DIGG_TO, DIGG_FUNCTION, "Mottagaren"),
            sender: party(DIGG_FROM, "sdk.testbed.0203:testb.testbed.inera.se", "Avsändaren"),
        },
        documents: vec![document(1), document(2)],
    };
    let rendered = message.render().map_err(|e| format!("the maximal SDK message: {e}"))?;
    let example = Xhe::parse(&digg_example(DIGG_FULL_EXAMPLE)?, &limits()).map_err(|e| e.to_string())?;
    let xhe = Xhe {
        id,
        creation_date_time: example.creation_date_time.clone(),
        scope: example.scope.clone(),
        from: example.from.clone(),
        to: example.to.clone(),
        payload: XhePayload {
            document_type_code: example.payload.document_type_code.clone(),
            content_type_code: example.payload.content_type_code.clone(),
            handling_service_id: Some(DIGG_FUNCTION.into()),
            content: PayloadContent::Xml(without_declaration(&rendered)),
        },
    };
    let unsigned = xhe.render().map_err(|e| format!("the maximal XHE: {e}"))?;
    access_point::sdk::xhe_signature::sign(unsigned.as_bytes(), &signer.key, &signer.certificate)
        .map_err(|e| format!("signing the maximal XHE: {e}"))
}

/// An XML document without its XML declaration (to embed it in the XHE payload).
fn without_declaration(rendered: &str) -> String {
    match rendered.find("?>") {
        Some(end) if rendered.starts_with("<?xml") => rendered[end + 2..].trim().to_string(),
        _ => rendered.trim().to_string(),
    }
}

/// DIGG's example reduced to what the XHE profile and the SDK message require, with fresh ids.
fn minimal_from(example: &[u8]) -> Result<String, String> {
    let full = Xhe::parse(example, &limits()).map_err(|e| format!("DIGG's example: {e}"))?;
    let PayloadContent::Xml(fragment) = &full.payload.content else {
        return Err("DIGG's example payload is not readable XML".into());
    };
    let message = SdkMessage::parse(fragment.as_bytes(), &limits()).map_err(|e| format!("DIGG's example: {e}"))?;
    let first = message.documents.first().ok_or("DIGG's example has no document")?;
    let recipient_function = message
        .header
        .recipient
        .attention
        .as_ref()
        .ok_or("DIGG's example has no recipient attention")?;
    let id = uuid::Uuid::new_v4().to_string();
    let minimal = SdkMessage {
        header: MessageHeader {
            creation_date_time: message.header.creation_date_time.clone(),
            message_id: id.clone(),
            conversation_id: id.clone(),
            ref_to_message_id: None,
            label: None,
            confidentiality: message.header.confidentiality,
            generating_system: None,
            recipient: Party {
                id: message.header.recipient.id.clone(),
                label: None,
                attention: Some(Attention {
                    persons: Vec::new(),
                    sub_organization: SubOrganization {
                        id: recipient_function.sub_organization.id.clone(),
                        label: None,
                    },
                    references: Vec::new(),
                }),
            },
            sender: Party {
                id: message.header.sender.id.clone(),
                label: None,
                attention: None,
            },
        },
        documents: vec![DigitalDocument {
            document_id: first.document_id.clone(),
            document_name: None,
            index: None,
            files: Vec::new(),
            texts: Vec::new(),
        }],
    };
    let rendered = minimal.render().map_err(|e| format!("the minimal SDK message: {e}"))?;
    let fragment = without_declaration(&rendered);
    let xhe = Xhe {
        id,
        creation_date_time: full.creation_date_time.clone(),
        scope: full.scope.clone(),
        from: full.from.clone(),
        to: full.to.clone(),
        payload: XhePayload {
            document_type_code: full.payload.document_type_code.clone(),
            content_type_code: full.payload.content_type_code.clone(),
            handling_service_id: None,
            content: PayloadContent::Xml(fragment),
        },
    };
    xhe.render().map_err(|e| format!("the minimal XHE: {e}"))
}

/// Waits for the sender's record to be Delivered with a signed AS4 receipt kept.
async fn delivered_with_receipt(node: &Node, accepted: &Accepted, evidence: &mut Evidence) -> Result<(), String> {
    let record = final_record(node, accepted, BUSINESS_WITHIN).await?;
    evidence.note("as4_state", format!("{:?}", record.state));
    expect_state(&record, State::Delivered)?;
    signed_receipt(node, &record).await.map(drop)
}

/// The recipient's message system answers `message_id` with a kvittens through `node`.
pub(super) async fn kvittens_from(
    node: &Node,
    message_id: &str,
    response: ResponseCode,
) -> Result<KvittensSent, String> {
    let request = KvittensRequest {
        message_id: message_id.into(),
        response,
        reasons: Vec::new(),
        actor: ACTOR.into(),
    };
    send_kvittens(node, request).await.map_err(|e| match e {
        ReplyError::AlreadySent(id) => format!("a kvittens was already sent for {id}"),
        other => format!("sending the kvittens: {other}"),
    })
}

async fn not_in_inbox(node: &Node, record: &MessageRecord) -> Result<bool, String> {
    Ok(node
        .store()
        .inbox_get(record.key)
        .await
        .map_err(|e| format!("store: {e}"))?
        .is_none())
}

/// Waits (bounded) for `KvittensReceived` about `message_id`; returns its response code.
async fn kvittens_event(
    events: &mut tokio::sync::broadcast::Receiver<ApEvent>,
    message_id: &str,
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Err(_) => return Err(format!("no KvittensReceived event for {message_id}")),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => return Err(format!("event bus: {e}")),
            Ok(Ok(ApEvent::KvittensReceived {
                message_id: id,
                response_code,
                ..
            })) if id == message_id => return Ok(response_code),
            Ok(Ok(_)) => continue,
        }
    }
}

async fn collect<B>(body: B) -> Result<Vec<u8>, String>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| format!("reading the API answer: {e}"))
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
