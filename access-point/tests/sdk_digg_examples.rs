//! DIGG's published examples and error test data, read at their ../shared path, validate (or fail) exactly as
//! their names say. Each test iterates over its folder, prints a table and asserts every row.

use access_point::sdk::kvittens::{Kvittens, ReasonCode, ResponseCode};
use access_point::sdk::message_v3::SdkMessage;
use access_point::sdk::xhe::{PayloadContent, Xhe};
use base64::Engine;
use std::path::{Path, PathBuf};
use xmldsig::dom::{Document, ParseLimits};

fn spec_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sdk-spec/repo")
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn print_table(title: &str, rows: &[(String, String, String)]) {
    println!("\n{title}\n{:<40} | {:<10} | outcome", "file", "expected");
    for (file, expected, outcome) in rows {
        println!("{file:<40} | {expected:<10} | {outcome}");
    }
}

#[test]
fn xhe_profile_examples_are_valid() {
    let dir =
        spec_repo().join("Accesspunktoperatör/Tekniska specifiktioner/C3.2.2 Kuverteringsprofil-XHE/XHE Exempel_v1.0");
    let mut rows = Vec::new();
    for file in xml_files(&dir) {
        let bytes = std::fs::read(&file).unwrap();
        let result = Xhe::parse(&bytes, &ParseLimits::default());
        rows.push((
            name(&file),
            "valid".into(),
            format!("{:?}", result.as_ref().map(|x| &x.id).map_err(|e| e.to_string())),
        ));
        let xhe = result.unwrap_or_else(|e| panic!("{}: {e}", name(&file)));
        // The file name says which transport model: tm-base-ext-sigenc is encrypted, the others are not.
        let encrypted = name(&file).contains("sigenc");
        assert_eq!(xhe.payload.is_encrypted(), encrypted, "{}", name(&file));
        if name(&file).contains("NonXML") {
            assert!(matches!(xhe.payload.content, PayloadContent::Text(_)));
        }
        assert_eq!(xhe.from.id, "0203:myndighetA.org");
        assert_eq!(xhe.to.id, "0203:myndighetB.org");
        // Every example survives render → parse.
        let again = Xhe::parse(xhe.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap();
        assert_eq!(again, xhe);
    }
    print_table("XHE profile examples", &rows);
}

#[test]
fn kvittens_examples_are_valid_and_say_what_their_names_say() {
    let dir = spec_repo()
        .join("Accesspunktoperatör/Meddelandetyper/Medelandekvittens-1/C3.2.4 Meddelandekvittens_exempel_v1.0");
    let mut rows = Vec::new();
    for file in xml_files(&dir) {
        let file_name = name(&file);
        // Kvittens_AP-Accepterat: ACCEPTED; Kvittens_RE-*: REJECTED with XSDFel → SV, SCHFel/AnnatFel → BV, SIG → SIG.
        let (expected_response, expected_reason) = if file_name.contains("AP-Accepterat") {
            (ResponseCode::Accepted, None)
        } else if file_name.contains("RE-XSDFel") {
            (ResponseCode::Rejected, Some(ReasonCode::SchemaError))
        } else if file_name.contains("RE-SCHFel") || file_name.contains("RE-AnnatFel") {
            (ResponseCode::Rejected, Some(ReasonCode::BusinessRuleError))
        } else if file_name.contains("RE-SIG") {
            (ResponseCode::Rejected, Some(ReasonCode::SignatureError))
        } else {
            panic!("unexpected kvittens example {file_name}");
        };
        let kvittens = Kvittens::parse(&std::fs::read(&file).unwrap(), &ParseLimits::default())
            .unwrap_or_else(|e| panic!("{file_name}: {e}"));
        rows.push((
            file_name.clone(),
            expected_response.as_str().into(),
            format!(
                "{:?} {:?}",
                kvittens.response,
                kvittens.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>()
            ),
        ));
        assert_eq!(kvittens.response, expected_response, "{file_name}");
        assert_eq!(kvittens.original_message_id, "ID-FROM-XHE-12354689");
        match expected_reason {
            None => assert!(kvittens.reasons.is_empty()),
            Some(code) => assert!(
                !kvittens.reasons.is_empty() && kvittens.reasons.iter().all(|r| r.code == code),
                "{file_name}"
            ),
        }
        let again = Kvittens::parse(kvittens.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap();
        assert_eq!(again, kvittens);
    }
    print_table("kvittens examples", &rows);
}

/// The SDK message v3 folder: `example/` holds valid documents — a bare message, XHE envelopes with a clear or an
/// encrypted payload, and Domibus backend submissions (`soap:Envelope`) carrying such an XHE in base64;
/// `felhantering/` ("error handling") holds `min.xml` (the minimal valid message) and `TF2.4.*` test cases that
/// must fail the named rules.
#[test]
fn sdk_message_examples_and_error_test_data() {
    let base = spec_repo().join("Meddelandesystem/Meddelandetyper/sdk-meddelande-3");
    let mut rows = Vec::new();
    for file in xml_files(&base.join("sdk-meddelande-v3.1/example")) {
        let bytes = std::fs::read(&file).unwrap();
        let outcome = check_valid_example(&bytes);
        rows.push((name(&file), "valid".into(), outcome.clone().unwrap_or_else(|e| e)));
        outcome.unwrap_or_else(|e| panic!("{}: {e}", name(&file)));
    }
    for file in xml_files(&base.join("sdk-meddelande-testdata-v3.1/felhantering")) {
        let file_name = name(&file);
        let result = SdkMessage::parse(&std::fs::read(&file).unwrap(), &ParseLimits::default());
        let expected_rules: &[&str] = match file_name.as_str() {
            "min.xml" => &[],
            // creationDateTime "3 Sept. 2019" and a conversationId that is no UUID.
            "TF2.4.1.xml" => &["creationDateTime", "conversationId"],
            // senderID/root is not iso6523-actorid-upis.
            "TF2.4.2.xml" => &["senderIdvalue"],
            other => panic!("unexpected test file {other}"),
        };
        let failed: Vec<&str> = match &result {
            Ok(_) => Vec::new(),
            Err(e) => e.rule_ids(),
        };
        rows.push((
            file_name.clone(),
            if expected_rules.is_empty() {
                "valid".into()
            } else {
                "invalid".into()
            },
            match &result {
                Ok(_) => "valid".into(),
                Err(e) => e.to_string(),
            },
        ));
        for rule in expected_rules {
            assert!(failed.contains(rule), "{file_name}: expected {rule} among {failed:?}");
        }
        if expected_rules.is_empty() {
            result.unwrap_or_else(|e| panic!("{file_name}: {e}"));
        }
    }
    print_table("SDK message v3 examples and error test data", &rows);
}

/// Validates one example of the SDK message folder by its root element, descending into envelopes.
fn check_valid_example(bytes: &[u8]) -> Result<String, String> {
    let doc = Document::parse(bytes, &ParseLimits::default()).map_err(|e| e.to_string())?;
    let root = doc.element(doc.root()).unwrap();
    match root.name.local.as_str() {
        "messagePayload" => {
            let message = SdkMessage::parse(bytes, &ParseLimits::default()).map_err(|e| e.to_string())?;
            Ok(format!("SDK message {}", message.header.message_id))
        }
        "XHE" => {
            let xhe = Xhe::parse(bytes, &ParseLimits::default()).map_err(|e| e.to_string())?;
            match &xhe.payload.content {
                PayloadContent::Xml(inner) => {
                    let message =
                        SdkMessage::parse(inner.as_bytes(), &ParseLimits::default()).map_err(|e| e.to_string())?;
                    Ok(format!("XHE {} with SDK message {}", xhe.id, message.header.message_id))
                }
                PayloadContent::Encrypted(_) => Ok(format!("XHE {} with an encrypted payload", xhe.id)),
                PayloadContent::Text(_) => Err("unexpected text payload".into()),
            }
        }
        "Envelope" => {
            let value = doc
                .all_nodes()
                .find(|&n| doc.element(n).is_some_and(|e| e.name.local == "value"))
                .ok_or("no payload value in the submission")?;
            let text: String = doc.text_content(value).split_whitespace().collect();
            let inner = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| e.to_string())?;
            check_valid_example(&inner).map(|s| format!("submission: {s}"))
        }
        other => Err(format!("unexpected root {other}")),
    }
}
