//! The comparison row: PyPI `as4` 0.2.0 playing both sides in one Python process (as4_bench.py), for the sizes it
//! can hold in memory. Found like the interop tests find it: `SDK_AP_AS4_PYTHON`, else the venv
//! `scripts/install-test-deps.sh` makes.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::Measured;

/// The script, carried in the binary so the bench runs from any folder.
const SCRIPT: &str = include_str!("as4_bench.py");

/// The Python that has `as4`, or why there is none.
pub fn python() -> Result<String, String> {
    let python = std::env::var("SDK_AP_AS4_PYTHON").unwrap_or_else(|_| "/opt/sdk-ap-as4-venv/bin/python".into());
    let ok = Command::new(&python)
        .args(["-c", "import as4"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{python} cannot import as4 (scripts/install-test-deps.sh makes /opt/sdk-ap-as4-venv with as4==0.2.0, \
             or set SDK_AP_AS4_PYTHON)"
        ))
    }
}

#[derive(Deserialize)]
struct Output {
    size: u64,
    count: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
    max_rss_kib: u64,
}

/// Runs `count` as4 exchanges of about `size` bytes in a fresh Python process (so its peak RSS is this size's).
pub fn measure(python: &str, work: &Path, size: u64, count: usize) -> Result<Measured, String> {
    let script = work.join("as4_bench.py");
    if !script.exists() {
        std::fs::write(&script, SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    }
    let out = Command::new(python)
        .arg(&script)
        .args([size.to_string(), count.to_string()])
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "as4_bench.py {size} {count}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let parsed: Output = serde_json::from_slice(&out.stdout).map_err(|e| format!("as4_bench.py output: {e}"))?;
    let latencies = parsed
        .latencies_ms
        .iter()
        .map(|ms| std::time::Duration::from_secs_f64(ms / 1000.0))
        .collect();
    Ok(Measured::new(
        parsed.size,
        parsed.count,
        parsed.count,
        std::time::Duration::from_secs_f64(parsed.seconds),
        latencies,
        Some(parsed.max_rss_kib),
        None,
    ))
}
