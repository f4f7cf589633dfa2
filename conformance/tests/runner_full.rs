//! The whole conformance suite, once, through the real binary (`conformance run --report FILE`), as CI runs it:
//! the closing line says 0 failed, every case id of shared/conformance/cases.md shows up as a result line or a
//! documented gap (conformance/known-gaps.toml), the JSON report agrees with the printed lines, and under
//! `SDK_AP_REQUIRE_PEERS=1` no interop case is skipped (a missing third-party peer fails instead).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most the whole run may take before the test gives up (it takes a few minutes on 2 busy cores).
const RUN_LIMIT: Duration = Duration::from_secs(25 * 60);

fn peers_required() -> bool {
    std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn cases_md() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cases.md")
}

/// The case ids cases.md defines, named as the runner names them: the CEF table's first column (`cef-TA05-06`,
/// en dashes as hyphens), the DIGG range `TF-01 … TF-10` (`digg-TF-NN`) and the AS4 2.0 event's `TCNN`
/// (`as4v2-TCNN`).
fn ids_of_cases_md(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut section = 0;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading
                .split('.')
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            continue;
        }
        match section {
            1 => {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                if cells.len() > 2 && cells[0].is_empty() {
                    let id = cells[1];
                    let looks_like_id =
                        id.contains("TA") && id.chars().all(|c| c.is_ascii_alphanumeric() || "-–".contains(c));
                    if looks_like_id {
                        ids.push(format!("cef-{}", id.replace('–', "-")));
                    }
                }
            }
            2 => {
                let numbers: Vec<u32> = line
                    .match_indices("TF-")
                    .filter_map(|(at, _)| line[at + 3..].get(..2).and_then(|n| n.parse().ok()))
                    .collect();
                if let (Some(first), Some(last)) = (numbers.iter().min(), numbers.iter().max()) {
                    ids.extend((*first..=*last).map(|n| format!("digg-TF-{n:02}")));
                }
            }
            3 => {
                for (at, _) in line.match_indices("TC") {
                    if let Some(n) = line[at + 2..]
                        .get(..2)
                        .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
                    {
                        ids.push(format!("as4v2-TC{n}"));
                    }
                }
            }
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

/// Result lines: `id RESULT seconds [reason]`, as `(id, result, whole line)`.
fn result_lines(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (id, result) = (words.next()?, words.next()?);
            ["PASS", "FAIL", "SKIP"]
                .contains(&result)
                .then(|| (id.to_string(), result.to_string(), line.to_string()))
        })
        .collect()
}

fn known_gaps() -> BTreeSet<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("known-gaps.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    parsed
        .get("gaps")
        .and_then(|g| g.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Runs the binary to completion within [`RUN_LIMIT`]; answers (exit success, stdout, stderr).
fn run_suite(report: &Path) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["run", "--report"])
        .arg(report)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the conformance binary starts");
    // Drain both pipes on threads so a full pipe never stalls the run.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the conformance run took more than {RUN_LIMIT:?}:\n{}",
                out.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

#[test]
fn the_whole_suite_passes_and_covers_every_case_of_cases_md() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let started = Instant::now();
    let (success, stdout, stderr) = run_suite(&report);
    eprintln!("conformance run: {:.0} s\n{stdout}", started.elapsed().as_secs_f64());
    let summary = stdout.lines().last().unwrap_or_default();
    let lines = result_lines(&stdout);
    let failed: Vec<&str> = lines.iter().filter(|l| l.1 == "FAIL").map(|l| l.2.as_str()).collect();
    assert!(
        summary.contains(" passed, 0 failed, "),
        "closing line {summary:?}; failed cases:\n{}\nstderr: {stderr}",
        failed.join("\n")
    );
    assert!(success, "the run exited with failure: {stderr}");

    // The JSON report agrees with the printed lines.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["failed"], 0);
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), lines.len(), "{stdout}");
    assert_eq!(
        summary,
        format!(
            "{} passed, {} failed, {} skipped",
            json["passed"], json["failed"], json["skipped"]
        )
    );

    // Interop: present; with evidence when passed; never skipped when peers are required.
    let interop: Vec<&(String, String, String)> = lines.iter().filter(|l| l.0.starts_with("interop-")).collect();
    assert!(interop.len() >= 5, "interop cases missing from the run:\n{stdout}");
    for case in cases
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("interop-"))
    {
        if case["result"] == "PASS" {
            assert!(case["evidence"]["message_id"].is_string(), "{case}");
        }
    }
    let skipped: Vec<&str> = interop.iter().filter(|l| l.1 == "SKIP").map(|l| l.2.as_str()).collect();
    if peers_required() {
        assert!(
            skipped.is_empty(),
            "interop cases skipped under SDK_AP_REQUIRE_PEERS=1:\n{}",
            skipped.join("\n")
        );
    } else if !skipped.is_empty() {
        eprintln!("\n==================================================\nSKIPPED interop cases (peers missing):\n{}\n==================================================\n", skipped.join("\n"));
    }

    // Every id of cases.md: a result line, or a documented gap.
    let Ok(text) = std::fs::read_to_string(cases_md()) else {
        if peers_required() {
            panic!("{} is missing (SDK_AP_REQUIRE_PEERS=1)", cases_md().display());
        }
        eprintln!(
            "\n==================================================\nSKIPPED: the cases.md coverage check: {} is missing\n==================================================\n",
            cases_md().display()
        );
        return;
    };
    let ids = ids_of_cases_md(&text);
    assert!(
        ids.len() >= 30,
        "cases.md yielded only {} ids; has its layout changed? {ids:?}",
        ids.len()
    );
    let reported: BTreeSet<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    let gaps = known_gaps();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !reported.contains(id.as_str()) && !gaps.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "ids of cases.md neither run nor listed as a known gap: {missing:?}\n{stdout}"
    );
    assert!(
        reported.iter().any(|id| id.starts_with("sec-")),
        "no security case ran:\n{stdout}"
    );
}

#[test]
fn ids_of_cases_md_are_read_as_the_runner_names_them() {
    let text = "## 1. CEF\n\n| id | what |\n|---|---|\n| TA01 | x |\n| TA05–06 | y |\n| 4C-TA01–03 | z |\n\n\
                ## 2. DIGG\n\nTF-01 … TF-03, plus planned ones\n\n## 3. AS4 2.0\n\nTC00 a · TC01 b\n\n## 4. Security\n\nTC99 no\n";
    assert_eq!(
        ids_of_cases_md(text),
        [
            "cef-TA01",
            "cef-TA05-06",
            "cef-4C-TA01-03",
            "digg-TF-01",
            "digg-TF-02",
            "digg-TF-03",
            "as4v2-TC00",
            "as4v2-TC01"
        ]
    );
}

#[test]
fn the_real_cases_md_yields_every_family_of_ids() {
    let Ok(text) = std::fs::read_to_string(cases_md()) else {
        if peers_required() {
            panic!("{} is missing (SDK_AP_REQUIRE_PEERS=1)", cases_md().display());
        }
        eprintln!("SKIPPED: {} is missing", cases_md().display());
        return;
    };
    let ids = ids_of_cases_md(&text);
    for expected in [
        "cef-TA01",
        "cef-TA05-06",
        "cef-TA45",
        "cef-4C-TA01-03",
        "digg-TF-01",
        "digg-TF-10",
        "as4v2-TC00",
        "as4v2-TC03",
    ] {
        assert!(
            ids.iter().any(|id| id == expected),
            "{expected} not read from cases.md: {ids:?}"
        );
    }
    // Every id read is one the runner knows (so a misread id cannot pass unnoticed as "missing").
    let reported: BTreeSet<String> = conformance::runner::cases::all()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    let unknown: Vec<&String> = ids.iter().filter(|id| !reported.contains(*id)).collect();
    assert!(
        unknown.is_empty(),
        "ids of cases.md the runner does not register: {unknown:?}"
    );
}
