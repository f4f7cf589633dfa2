//! Errors of loading and validating P-Modes. Each names the file, the line, the P-Mode and the field it is about.

use std::fmt;

/// What is wrong, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("the file has {size} bytes; at most {max} are accepted (pmode::MAX_PMODE_FILE_BYTES)")]
    FileTooLarge { size: u64, max: usize },
    #[error("the file holds {count} P-Modes; at most {max} are accepted (pmode::MAX_PMODES_PER_FILE)")]
    TooManyPModes { count: usize, max: usize },
    /// TOML syntax, an unknown field, a missing field or a value of the wrong type or spelling.
    #[error("{0}")]
    Toml(String),
    /// A broken or deprecated algorithm.
    #[error("{value:?} is not allowed ({reason})")]
    WeakAlgorithm { value: String, reason: &'static str },
    /// A value the P-Mode's profile forbids.
    #[error("{value:?} is not allowed by the {profile:?} profile, which requires {required}")]
    ProfileViolation {
        profile: &'static str,
        value: String,
        required: String,
    },
    /// A field that must be present in this situation is missing.
    #[error("is required: {0}")]
    Missing(String),
    /// A field that must be absent in this situation is present.
    #[error("must not be set: {0}")]
    NotExpected(String),
    /// A value out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    #[error("P-Mode id {id:?} is already defined at {first}")]
    DuplicateId { id: String, first: String },
}

/// One error with its location. Displays as `FILE:LINE: pmode "ID": FIELD: PROBLEM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PModeError {
    /// The file name as given to the loader (`<builtin>` or `<memory>` when there is none).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub pmode_id: Option<String>,
    /// Dotted path of the field inside the P-Mode, e.g. `security.signature.algorithm`.
    pub field: Option<String>,
    pub problem: Problem,
}

impl fmt::Display for PModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(id) = &self.pmode_id {
            write!(f, ": pmode {id:?}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for PModeError {}

/// All errors found in one load; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PModeErrors(pub Vec<PModeError>);

impl fmt::Display for PModeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PModeErrors {}

/// A problem found by validation, located inside one P-Mode by its field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}
