//! Proves the performance tools run end to end, in seconds: `conformance bench --smoke` (two real `sdk-ap serve`
//! processes, a few tiny messages, openssl ceilings, the PyPI as4 row when its venv exists) writes the page and the
//! chart, and `sdk-ap-load` delivers a few messages. No timing is asserted: only that every message was delivered
//! and the outputs have their parts.
//!
//! The access points are the `sdk-ap` binary next to this crate's binaries (`cargo test --workspace` or
//! `cargo build -p access-point` builds it), or `SDK_AP_BIN`.

use std::path::PathBuf;
use std::process::Command;

/// The sdk-ap binary, or `None` after a loud SKIPPED (a panic with `SDK_AP_REQUIRE_PEERS=1`).
fn sdk_ap() -> Option<PathBuf> {
    let path = std::env::var_os("SDK_AP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_conformance")).with_file_name("sdk-ap"));
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "SKIPPED: no sdk-ap binary at {} (build it with `cargo build -p access-point`, or set SDK_AP_BIN)",
        path.display()
    );
    if std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{why}");
    }
    eprintln!("{why}");
    None
}

fn as4_available() -> bool {
    conformance::bench::as4::python().is_ok()
}

#[test]
fn conformance_bench_smoke_writes_the_page_and_the_chart() {
    let Some(bin) = sdk_ap() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (page, chart) = (tmp.path().join("performance.md"), tmp.path().join("performance.svg"));
    let output = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["bench", "--smoke", "--openssl-seconds", "1", "--sdk-ap"])
        .arg(&bin)
        .arg("--markdown")
        .arg(&page)
        .arg("--svg")
        .arg(&chart)
        .arg("--work-dir")
        .arg(tmp.path().join("work"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let page = std::fs::read_to_string(&page).unwrap();
    for needle in [
        "**Smoke run**",
        "**Machine**",
        "**Commit**",
        "| RSA-3072 sign |",
        // Every message delivered: the count has no "of N".
        "| sdk-ap → sdk-ap | 1 KB | 3 | 8 |",
        "| sdk-ap → sdk-ap | 100 KB | 3 | 8 |",
        "![Throughput by payload size](performance.svg)",
    ] {
        assert!(page.contains(needle), "missing {needle:?} in:\n{page}\n{stderr}");
    }
    assert!(!page.contains("not delivered"), "{page}");
    if as4_available() {
        assert!(
            page.contains("| PyPI as4 0.2.0 (in-process) | 1 KB | 3 | 1 |"),
            "{page}\n{stderr}"
        );
    } else {
        eprintln!("SKIPPED: the PyPI as4 row (no /opt/sdk-ap-as4-venv; scripts/install-test-deps.sh)");
    }
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("sdk-ap → sdk-ap"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    // The work folder's payloads and stores are removed after each size.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("work"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("sdk-ap-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sdk_ap_load_delivers_a_few_messages() {
    let Some(bin) = sdk_ap() else { return };
    let output = Command::new(env!("CARGO_BIN_EXE_sdk-ap-load"))
        .args([
            "--size",
            "2048",
            "--count",
            "4",
            "--concurrency",
            "2",
            "--openssl-seconds",
            "0",
            "--sdk-ap",
        ])
        .arg(&bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "| messages delivered / sent | 4 / 4 |",
        "| latency p99 |",
        "| peak RSS receiver AP (VmHWM) |",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}
