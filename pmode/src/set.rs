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

    /// Builds a set from P-Modes returned by [`crate::load_file`] / [`crate::load_str`] (already validated),
    /// refusing duplicate ids.
    pub fn from_loaded(loaded: Vec<LoadedPMode>) -> Result<Self, PModeErrors> {
        let mut set = PModeSet::default();
        set.add(loaded)?;
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
        self.match_incoming_leg(keys).map(|(pmode, _)| pmode)
    }

    /// The one P-Mode for a received user message, and which leg of it the message is: the request, or the reply
    /// of a two-way MEP (sent by the P-Mode's responder to its initiator, with the reply's service and action).
    pub fn match_incoming_leg(&self, keys: &IncomingKeys) -> Result<(&PMode, Leg), MatchError> {
        let mpc = keys.mpc.as_deref().unwrap_or(DEFAULT_MPC);
        let fits = |p: &PMode, leg: Leg| {
            let (sender, receiver, service, action) = match (leg, &p.reply) {
                (Leg::Request, _) => (
                    &p.initiator,
                    &p.responder,
                    &p.business_info.service,
                    &p.business_info.action,
                ),
                (Leg::Reply, Some(reply)) => (
                    &p.responder,
                    &p.initiator,
                    p.reply_service().unwrap_or(&p.business_info.service),
                    &reply.action,
                ),
                (Leg::Reply, None) => return false,
            };
            sender.accepts_party(&keys.from.party)
                && sender.role == keys.from.role
                && receiver.accepts_party(&keys.to.party)
                && receiver.role == keys.to.role
                && *service == keys.service
                && *action == keys.action
                && p.agreement == keys.agreement
                && p.business_info.mpc == mpc
        };
        let candidates: Vec<(&PMode, Leg)> = self
            .iter()
            .flat_map(|p| [(p, Leg::Request), (p, Leg::Reply)])
            .filter(|(p, leg)| fits(p, *leg))
            .collect();
        let specificity = |p: &PMode| u8::from(p.initiator.is_specific()) + u8::from(p.responder.is_specific());
        let Some(best) = candidates.iter().map(|(p, _)| specificity(p)).max() else {
            return Err(MatchError::NoMatch {
                keys: describe_incoming(keys),
            });
        };
        let top: Vec<(&PMode, Leg)> = candidates.into_iter().filter(|(p, _)| specificity(p) == best).collect();
        match top.as_slice() {
            [one] => Ok(*one),
            _ => Err(MatchError::Ambiguous {
                keys: describe_incoming(keys),
                candidates: top.iter().map(|(p, _)| p.id.clone()).collect(),
            }),
        }
    }
}

/// Which leg of a P-Mode a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The first leg: initiator to responder (the only leg of a one-way MEP).
    Request,
    /// The second leg of a two-way MEP: responder to initiator.
    Reply,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::{self, SDK_KVITTENS_ACTION, SDK_MESSAGE_ACTION, SDK_SERVICE};
    use crate::model::{PartySpec, DEFAULT_INITIATOR_ROLE, DEFAULT_RESPONDER_ROLE};
    use crate::validate::{SDK_PARTY_ID_TYPE, SDK_SERVICE_TYPE};

    fn ap(id: &str) -> PartyId {
        PartyId::new(id, Some(SDK_PARTY_ID_TYPE))
    }

    fn sdk_service() -> Service {
        Service::new(SDK_SERVICE, Some(SDK_SERVICE_TYPE))
    }

    fn outgoing(to: &str, action: &str) -> OutgoingKeys {
        OutgoingKeys {
            to_party: ap(to),
            service: sdk_service(),
            action: action.into(),
            pmode_id: None,
        }
    }

    fn incoming(from: &str, to: &str, action: &str) -> IncomingKeys {
        IncomingKeys {
            from: PartyKey {
                party: ap(from),
                role: DEFAULT_INITIATOR_ROLE.into(),
            },
            to: PartyKey {
                party: ap(to),
                role: DEFAULT_RESPONDER_ROLE.into(),
            },
            service: sdk_service(),
            action: action.into(),
            agreement: None,
            mpc: None,
        }
    }

    fn sdk_set() -> PModeSet {
        PModeSet::from_pmodes(builtin::sdk_profile(), "<builtin>").unwrap()
    }

    /// The SDK message P-Mode narrowed to one partner.
    fn partner_pmode(id: &str, partner: &str) -> PMode {
        let mut p = builtin::sdk_message();
        p.id = id.into();
        p.responder = PartySpec {
            party_id: Some(partner.into()),
            ..p.responder
        };
        p
    }

    #[test]
    fn outgoing_matches_by_service_action_and_open_party() {
        let set = sdk_set();
        assert_eq!(
            set.match_outgoing(&outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION))
                .unwrap()
                .id,
            "sdk-message"
        );
        assert_eq!(
            set.match_outgoing(&outgoing("AP0045-SDK-QA", SDK_KVITTENS_ACTION))
                .unwrap()
                .id,
            "sdk-kvittens"
        );
        assert!(matches!(
            set.match_outgoing(&outgoing("AP0045", "urn:other")),
            Err(MatchError::NoMatch { .. })
        ));
        // An open party still fixes the party id type.
        let mut keys = outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION);
        keys.to_party.id_type = Some("urn:other:type".into());
        assert!(matches!(set.match_outgoing(&keys), Err(MatchError::NoMatch { .. })));
        // The service type is part of the key.
        let mut keys = outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION);
        keys.service.service_type = None;
        assert!(matches!(set.match_outgoing(&keys), Err(MatchError::NoMatch { .. })));
    }

    #[test]
    fn a_partner_specific_pmode_wins_over_an_open_one() {
        let mut pmodes = builtin::sdk_profile();
        pmodes.push(partner_pmode("to-ap0045", "AP0045-SDK-QA"));
        let set = PModeSet::from_pmodes(pmodes, "t").unwrap();
        assert_eq!(
            set.match_outgoing(&outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION))
                .unwrap()
                .id,
            "to-ap0045"
        );
        assert_eq!(
            set.match_outgoing(&outgoing("AP0046-SDK-QA", SDK_MESSAGE_ACTION))
                .unwrap()
                .id,
            "sdk-message"
        );
    }

    #[test]
    fn equally_good_candidates_are_ambiguous_and_named() {
        let mut pmodes = builtin::sdk_profile();
        let mut twin = builtin::sdk_message();
        twin.id = "sdk-message-twin".into();
        pmodes.push(twin);
        let set = PModeSet::from_pmodes(pmodes, "t").unwrap();
        let err = set
            .match_outgoing(&outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION))
            .unwrap_err();
        assert_eq!(
            err,
            MatchError::Ambiguous {
                keys: describe_outgoing(&outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION)),
                candidates: vec!["sdk-message".into(), "sdk-message-twin".into()],
            }
        );
        assert!(err.to_string().contains("sdk-message, sdk-message-twin"));
        let err = set
            .match_incoming(&incoming("AP1", "AP2", SDK_MESSAGE_ACTION))
            .unwrap_err();
        assert!(matches!(err, MatchError::Ambiguous { candidates, .. } if candidates.len() == 2));
    }

    #[test]
    fn an_explicit_pmode_id_is_used_only_when_it_fits() {
        let mut pmodes = builtin::sdk_profile();
        pmodes.push(partner_pmode("to-ap0045", "AP0045-SDK-QA"));
        let set = PModeSet::from_pmodes(pmodes, "t").unwrap();
        let mut keys = outgoing("AP0045-SDK-QA", SDK_MESSAGE_ACTION);
        keys.pmode_id = Some("sdk-message".into());
        assert_eq!(set.match_outgoing(&keys).unwrap().id, "sdk-message");
        keys.pmode_id = Some("sdk-kvittens".into());
        assert_eq!(
            set.match_outgoing(&keys).unwrap_err(),
            MatchError::ExplicitPModeMismatch {
                id: "sdk-kvittens".into(),
                field: "action"
            }
        );
        keys.pmode_id = Some("nope".into());
        assert_eq!(
            set.match_outgoing(&keys).unwrap_err(),
            MatchError::UnknownPModeId("nope".into())
        );
        let mut keys = outgoing("AP0046-SDK-QA", SDK_MESSAGE_ACTION);
        keys.pmode_id = Some("to-ap0045".into());
        assert_eq!(
            set.match_outgoing(&keys).unwrap_err(),
            MatchError::ExplicitPModeMismatch {
                id: "to-ap0045".into(),
                field: "responder party"
            }
        );
    }

    #[test]
    fn incoming_checks_roles_agreement_and_mpc() {
        let set = sdk_set();
        let keys = incoming("AP0045-SDK-QA", "AP0001-SDK-QA", SDK_MESSAGE_ACTION);
        assert_eq!(set.match_incoming(&keys).unwrap().id, "sdk-message");
        let explicit_default_mpc = IncomingKeys {
            mpc: Some(crate::model::DEFAULT_MPC.into()),
            ..keys.clone()
        };
        assert_eq!(set.match_incoming(&explicit_default_mpc).unwrap().id, "sdk-message");
        let no_match = |k: IncomingKeys| matches!(set.match_incoming(&k), Err(MatchError::NoMatch { .. }));
        assert!(no_match(IncomingKeys {
            mpc: Some("urn:other-mpc".into()),
            ..keys.clone()
        }));
        assert!(no_match(IncomingKeys {
            agreement: Some(AgreementRef {
                value: "A1".into(),
                agreement_type: None
            }),
            ..keys.clone()
        }));
        let mut swapped_roles = keys.clone();
        std::mem::swap(&mut swapped_roles.from.role, &mut swapped_roles.to.role);
        assert!(no_match(swapped_roles));
        let mut wrong_type = keys.clone();
        wrong_type.from.party.id_type = None;
        assert!(no_match(wrong_type));
    }

    #[test]
    fn ids_must_be_unique_across_sets() {
        let mut set = sdk_set();
        let err = set.merge(sdk_set()).unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(matches!(&err.0[0].problem, Problem::DuplicateId { id, .. } if id == "sdk-message"));
        assert_eq!(set.len(), 2, "nothing is half-added");
    }

    #[test]
    fn invalid_pmodes_built_in_code_are_refused() {
        let mut p = builtin::sdk_message();
        p.security.signature.as_mut().unwrap().algorithm = crate::algorithms::SignatureAlgorithm::RsaSha1;
        let err = PModeSet::from_pmodes(vec![p], "<code>").unwrap_err();
        assert_eq!(err.0[0].field.as_deref(), Some("security.signature.algorithm"));
    }
}

#[cfg(test)]
mod reply_leg_tests {
    use super::*;
    use crate::model::{Mep, MepBinding, Profile, ReplyLeg, DEFAULT_INITIATOR_ROLE, DEFAULT_RESPONDER_ROLE};

    #[test]
    fn the_reply_of_a_two_way_pmode_matches_as_its_second_leg() {
        let mut p = crate::builtin::ebms_test_service(Profile::As4);
        p.id = "two-way".into();
        p.mep = Mep::TwoWay;
        p.mep_binding = MepBinding::PushAndPush;
        p.reply = Some(ReplyLeg {
            service: None,
            action: "urn:example:reply".into(),
        });
        let set = PModeSet::from_pmodes(vec![p.clone()], "t").unwrap();
        let a = PartyId::new("urn:example:a", None);
        let b = PartyId::new("urn:example:b", None);
        let keys = |from: &PartyId, from_role: &str, to: &PartyId, to_role: &str, action: &str| IncomingKeys {
            from: PartyKey {
                party: from.clone(),
                role: from_role.into(),
            },
            to: PartyKey {
                party: to.clone(),
                role: to_role.into(),
            },
            service: p.business_info.service.clone(),
            action: action.into(),
            agreement: None,
            mpc: None,
        };
        let request = keys(
            &a,
            DEFAULT_INITIATOR_ROLE,
            &b,
            DEFAULT_RESPONDER_ROLE,
            &p.business_info.action,
        );
        assert_eq!(set.match_incoming_leg(&request).unwrap().1, Leg::Request);
        let reply = keys(
            &b,
            DEFAULT_RESPONDER_ROLE,
            &a,
            DEFAULT_INITIATOR_ROLE,
            "urn:example:reply",
        );
        assert_eq!(set.match_incoming_leg(&reply).unwrap().1, Leg::Reply);
        // The reply action in the request direction (roles not swapped) is no match.
        let wrong = keys(
            &a,
            DEFAULT_INITIATOR_ROLE,
            &b,
            DEFAULT_RESPONDER_ROLE,
            "urn:example:reply",
        );
        assert!(matches!(
            set.match_incoming_leg(&wrong),
            Err(MatchError::NoMatch { .. })
        ));
    }
}
