//! A validated set of P-Modes and the matching of outgoing submissions and incoming user messages to exactly one.
//!
//! Matching rule: a P-Mode is a candidate when every key it fixes equals the message's key. A party left open in
//! the P-Mode ("any party") accepts every party id (of the given type, if a type is fixed). Among the candidates,
//! those naming more parties exactly win over those leaving parties open, so that a partner-specific P-Mode can
//! sit next to a federation-wide one. If more than one candidate remains at the top, the match is ambiguous: an
//! error that names every candidate. Nothing is ever chosen by file order.

use crate::error::{PModeError, PModeErrors, Problem};
use crate::load::{load_file, load_str, LoadedPMode};
use crate::model::{AgreementRef, PMode, PartyId, Service, DEFAULT_MPC};
use crate::validate::validate;
use std::fmt;
use std::path::Path;

/// What the sender knows when a message is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingKeys {
    /// The receiving access point (from the submission, or from the SMP certificate's CN).
    pub to_party: PartyId,
    pub service: Service,
    pub action: String,
    /// A P-Mode the submitter chose explicitly; it must still fit the other keys.
    pub pmode_id: Option<String>,
}

/// A party as it appears in a received `eb:From` / `eb:To`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyKey {
    pub party: PartyId,
    pub role: String,
}

/// What a received user message says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingKeys {
    pub from: PartyKey,
    pub to: PartyKey,
    pub service: Service,
    pub action: String,
    pub agreement: Option<AgreementRef>,
    /// `None` when the message names no MPC (= the default MPC).
    pub mpc: Option<String>,
}

/// Why no single P-Mode fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("no P-Mode matches {keys}")]
    NoMatch { keys: String },
    #[error("{keys} matches several P-Modes equally well: {}", candidates.join(", "))]
    Ambiguous { keys: String, candidates: Vec<String> },
    #[error("there is no P-Mode with id {0:?}")]
    UnknownPModeId(String),
    #[error("P-Mode {id:?} was chosen explicitly but its {field} does not fit the message")]
    ExplicitPModeMismatch { id: String, field: &'static str },
}

/// A set of validated P-Modes with unique ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PModeSet {
    entries: Vec<LoadedPMode>,
}

impl PModeSet {
    /// Validates P-Modes built in code; `origin` names them in errors (e.g. `<builtin>`).
    pub fn from_pmodes(pmodes: Vec<PMode>, origin: &str) -> Result<Self, PModeErrors> {
        let mut errors = Vec::new();
        for pmode in &pmodes {
            for issue in validate(pmode) {
                errors.push(PModeError {
                    file: origin.to_string(),
                    line: None,
                    pmode_id: Some(pmode.id.clone()),
                    field: Some(issue.field),
                    problem: issue.problem,
                });
            }
        }
        if !errors.is_empty() {
            return Err(PModeErrors(errors));
        }
        let mut set = PModeSet::default();
        let entries = pmodes
            .into_iter()
            .map(|pmode| LoadedPMode {
                pmode,
                origin: origin.to_string(),
            })
            .collect();
        set.add(entries)?;
        Ok(set)
    }

    /// Loads TOML text.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, PModeErrors> {
        let mut set = PModeSet::default();
        set.add(load_str(text, file)?)?;
        Ok(set)
    }

    /// Loads several files into one set; reports the errors of all files, and ids defined in two files.
    pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, PModeErrors> {
        let mut set = PModeSet::default();
        let mut errors = Vec::new();
        for path in paths {
            match load_file(path.as_ref()) {
                Ok(loaded) => {
                    if let Err(PModeErrors(mut e)) = set.add(loaded) {
                        errors.append(&mut e);
                    }
                }
                Err(PModeErrors(mut e)) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(PModeErrors(errors))
        }
    }

    /// Adds another set, refusing ids that are already present.
    pub fn merge(&mut self, other: PModeSet) -> Result<(), PModeErrors> {
        self.add(other.entries)
    }

    fn add(&mut self, loaded: Vec<LoadedPMode>) -> Result<(), PModeErrors> {
        let mut errors = Vec::new();
        for entry in &loaded {
            if let Some(first) = self.entries.iter().find(|e| e.pmode.id == entry.pmode.id) {
                let (file, line) = split_origin(&entry.origin);
                errors.push(PModeError {
                    file,
                    line,
                    pmode_id: Some(entry.pmode.id.clone()),
                    field: Some("id".into()),
                    problem: Problem::DuplicateId {
                        id: entry.pmode.id.clone(),
                        first: first.origin.clone(),
                    },
                });
            }
        }
        if !errors.is_empty() {
            return Err(PModeErrors(errors));
        }
        self.entries.extend(loaded);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&PMode> {
        self.entries.iter().map(|e| &e.pmode).find(|p| p.id == id)
    }

    /// Where a P-Mode was defined (`file:line`).
    pub fn origin(&self, id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.pmode.id == id)
            .map(|e| e.origin.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &PMode> {
        self.entries.iter().map(|e| &e.pmode)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The one P-Mode for sending a submission.
    pub fn match_outgoing(&self, keys: &OutgoingKeys) -> Result<&PMode, MatchError> {
        if let Some(id) = &keys.pmode_id {
            let pmode = self.get(id).ok_or_else(|| MatchError::UnknownPModeId(id.clone()))?;
            let mismatch = |field| MatchError::ExplicitPModeMismatch { id: id.clone(), field };
            if pmode.business_info.service != keys.service {
                return Err(mismatch("service"));
            }
            if pmode.business_info.action != keys.action {
                return Err(mismatch("action"));
            }
            if !pmode.responder.accepts_party(&keys.to_party) {
                return Err(mismatch("responder party"));
            }
            return Ok(pmode);
        }
        let candidates = self.iter().filter(|p| {
            p.business_info.service == keys.service
                && p.business_info.action == keys.action
                && p.responder.accepts_party(&keys.to_party)
        });
        pick(
            candidates,
            |p| u8::from(p.responder.is_specific()),
            || describe_outgoing(keys),
        )
    }

    /// The one P-Mode for a received user message.
    pub fn match_incoming(&self, keys: &IncomingKeys) -> Result<&PMode, MatchError> {
        let mpc = keys.mpc.as_deref().unwrap_or(DEFAULT_MPC);
        let candidates = self.iter().filter(|p| {
            p.initiator.accepts_party(&keys.from.party)
                && p.initiator.role == keys.from.role
                && p.responder.accepts_party(&keys.to.party)
                && p.responder.role == keys.to.role
                && p.business_info.service == keys.service
                && p.business_info.action == keys.action
                && p.agreement == keys.agreement
                && p.business_info.mpc == mpc
        });
        pick(
            candidates,
            |p| u8::from(p.initiator.is_specific()) + u8::from(p.responder.is_specific()),
            || describe_incoming(keys),
        )
    }
}

/// The single most specific candidate, or a typed error.
fn pick<'a>(
    candidates: impl Iterator<Item = &'a PMode>,
    specificity: impl Fn(&PMode) -> u8,
    describe: impl Fn() -> String,
) -> Result<&'a PMode, MatchError> {
    let candidates: Vec<&PMode> = candidates.collect();
    let Some(best) = candidates.iter().map(|p| specificity(p)).max() else {
        return Err(MatchError::NoMatch { keys: describe() });
    };
    let top: Vec<&PMode> = candidates.into_iter().filter(|p| specificity(p) == best).collect();
    match top.as_slice() {
        [one] => Ok(one),
        _ => Err(MatchError::Ambiguous {
            keys: describe(),
            candidates: top.iter().map(|p| p.id.clone()).collect(),
        }),
    }
}

struct Shown<'a>(&'a PartyId);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.id_type {
            Some(t) => write!(f, "{:?} (type {t:?})", self.0.id),
            None => write!(f, "{:?}", self.0.id),
        }
    }
}

fn describe_service(s: &Service) -> String {
    match &s.service_type {
        Some(t) => format!("{:?} (type {t:?})", s.value),
        None => format!("{:?}", s.value),
    }
}

fn describe_outgoing(k: &OutgoingKeys) -> String {
    format!(
        "to party {}, service {}, action {:?}",
        Shown(&k.to_party),
        describe_service(&k.service),
        k.action
    )
}

fn describe_incoming(k: &IncomingKeys) -> String {
    format!(
        "from party {} role {:?}, to party {} role {:?}, service {}, action {:?}",
        Shown(&k.from.party),
        k.from.role,
        Shown(&k.to.party),
        k.to.role,
        describe_service(&k.service),
        k.action
    )
}

fn split_origin(origin: &str) -> (String, Option<usize>) {
    match origin.rsplit_once(':') {
        Some((file, line)) if line.parse::<usize>().is_ok() => (file.to_string(), line.parse().ok()),
        _ => (origin.to_string(), None),
    }
}
