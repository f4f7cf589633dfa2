//! The conformance runner: every case id of `shared/conformance/cases.md`, run against a local federation of our
//! access points, one printed line per case and a closing `N passed, N failed, N skipped`.
//!
//! Policy: a case with no implementation is SKIP only when `known-gaps.toml` names it with a reason (otherwise
//! FAIL); an implemented case listed as a known gap that passes is FAIL, so the list stays honest.

pub mod cases;
pub mod federation;
pub mod raw;
pub mod report;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use federation::Federation;
use report::{CaseResult, Evidence, KnownGaps, Report, Verdict};

/// How long one case may take before it counts as failed.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(180);
/// A case that ends with an error starting with this is SKIPPED, not failed: a third-party peer it needs is missing
/// (the rest of the text says which and how to install it).
pub const SKIPPED_PREFIX: &str = "SKIPPED: ";

/// What a running case can use and record.
pub struct Ctx {
    pub fed: Federation,
    pub evidence: Evidence,
    /// Root of this run's temporary files (cases that need their own federation create it below).
    pub root: PathBuf,
    pub case_id: &'static str,
}

pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
pub type CaseFn = for<'a> fn(&'a mut Ctx) -> CaseFuture<'a>;

/// One case of cases.md.
pub struct Case {
    pub id: &'static str,
    /// `None`: not implemented (must then be listed in known-gaps.toml).
    pub run: Option<CaseFn>,
    /// Takes minutes; runs only with `--long` or `SDK_AP_CONFORMANCE_LONG=1`.
    pub long: bool,
}

/// Options of `conformance run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Substrings; a case runs when its id contains any of them (all cases when empty).
    pub filters: Vec<String>,
    pub report: Option<PathBuf>,
    pub long: bool,
    pub known_gaps: PathBuf,
}

/// The known-gaps file shipped with the crate.
pub fn default_known_gaps_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("known-gaps.toml")
}

fn selected(options: &RunOptions) -> Vec<Case> {
    cases::all()
        .into_iter()
        .filter(|c| options.filters.is_empty() || options.filters.iter().any(|f| c.id.contains(f.as_str())))
        .collect()
}

/// Runs the selected cases, printing each line as it completes; returns the report.
pub async fn run(options: &RunOptions) -> Result<Report, String> {
    let gaps = KnownGaps::load(&options.known_gaps).map_err(|e| e.to_string())?;
    let chosen = selected(options);
    if chosen.is_empty() {
        return Err(format!("no case matches {:?}", options.filters));
    }
    let tmp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let mut shared: Option<Federation> = None;
    let mut results = Vec::new();
    for case in chosen {
        let started = Instant::now();
        let gap = gaps.reason(case.id);
        let (result, reason, evidence) = match (case.run, gap) {
            (None, Some(reason)) => (Verdict::Skip, Some(format!("known gap: {reason}")), Evidence::default()),
            (None, None) => (
                Verdict::Fail,
                Some("not implemented and not listed in known-gaps.toml".into()),
                Evidence::default(),
            ),
            (Some(_), _) if case.long && !options.long => (
                Verdict::Skip,
                Some("long-running: run with --long or SDK_AP_CONFORMANCE_LONG=1".into()),
                Evidence::default(),
            ),
            (Some(run), gap) => {
                let fed = match shared.take() {
                    Some(fed) => fed,
                    None => Federation::start(&tmp.path().join("shared"), true)
                        .await
                        .map_err(|e| e.to_string())?,
                };
                let mut ctx = Ctx {
                    fed,
                    evidence: Evidence::default(),
                    root: tmp.path().join("cases").join(case.id),
                    case_id: case.id,
                };
                let outcome = match tokio::time::timeout(CASE_TIMEOUT, run(&mut ctx)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("timed out after {CASE_TIMEOUT:?}")),
                };
                // A case may stop B (outages); the next case gets it back.
                let restarted = ctx.fed.start_b().await;
                shared = Some(ctx.fed);
                if let Err(e) = restarted {
                    return Err(format!("restarting B after {}: {e}", case.id));
                }
                match (outcome, gap) {
                    (Ok(()), None) => (Verdict::Pass, None, ctx.evidence),
                    (Ok(()), Some(_)) => (
                        Verdict::Fail,
                        Some("passes but is listed in known-gaps.toml: remove it from the list".into()),
                        ctx.evidence,
                    ),
                    (Err(e), None) if e.starts_with(SKIPPED_PREFIX) => (Verdict::Skip, Some(e), ctx.evidence),
                    (Err(e), None) => (Verdict::Fail, Some(e), ctx.evidence),
                    (Err(e), Some(reason)) => (
                        Verdict::Skip,
                        Some(format!("known gap: {reason} (failed: {e})")),
                        ctx.evidence,
                    ),
                }
            }
        };
        let line = CaseResult {
            id: case.id.to_string(),
            result,
            seconds: started.elapsed().as_secs_f64(),
            reason,
            evidence,
        };
        println!("{}", line.line());
        results.push(line);
    }
    if let Some(fed) = shared {
        fed.shutdown().await;
    }
    let report = Report::new(results);
    println!("{}", report.summary());
    if let Some(path) = &options.report {
        report
            .write_json(path)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(report)
}
