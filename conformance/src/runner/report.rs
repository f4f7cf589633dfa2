//! Case results, the known-gaps list and the JSON report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a case proved (or why it could not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

/// Observable facts a case collected: message ids, states, error codes, sizes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence(pub BTreeMap<String, String>);

impl Evidence {
    pub fn note(&mut self, key: &str, value: impl ToString) {
        self.0.insert(key.to_string(), value.to_string());
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub result: Verdict,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub evidence: Evidence,
}

impl CaseResult {
    /// The printed line: `id  RESULT  seconds  [reason]`.
    pub fn line(&self) -> String {
        let mut line = format!("{:<24} {} {:>7.2}s", self.id, self.result.label(), self.seconds);
        if let Some(reason) = &self.reason {
            line.push_str("  ");
            line.push_str(reason);
        }
        line
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn new(cases: Vec<CaseResult>) -> Report {
        let count = |v| cases.iter().filter(|c| c.result == v).count();
        Report {
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skip),
            cases,
        }
    }

    /// The closing line, exactly `N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}

/// `conformance/known-gaps.toml`: case id → why it is not (yet) expected to pass.
#[derive(Debug, Default, Deserialize)]
pub struct KnownGaps {
    #[serde(default)]
    pub gaps: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KnownGapsError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: String, source: toml::de::Error },
}

impl KnownGaps {
    pub fn load(path: &Path) -> Result<KnownGaps, KnownGapsError> {
        let text = std::fs::read_to_string(path).map_err(|source| KnownGapsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| KnownGapsError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn reason(&self, id: &str) -> Option<&str> {
        self.gaps.get(id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_each_verdict() {
        let case = |id: &str, result| CaseResult {
            id: id.into(),
            result,
            seconds: 0.5,
            reason: None,
            evidence: Evidence::default(),
        };
        let report = Report::new(vec![
            case("a", Verdict::Pass),
            case("b", Verdict::Fail),
            case("c", Verdict::Skip),
            case("d", Verdict::Skip),
        ]);
        assert_eq!(report.summary(), "1 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn known_gaps_parse_from_a_gaps_table() {
        let gaps: KnownGaps = toml::from_str("[gaps]\n\"cef-TA02\" = \"two-way MEP not supported\"\n").unwrap();
        assert_eq!(gaps.reason("cef-TA02"), Some("two-way MEP not supported"));
        assert_eq!(gaps.reason("cef-TA01"), None);
    }
}
