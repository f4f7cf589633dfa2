//! Import of Domibus P-Mode configuration XML, so that operators can migrate from Domibus.
//!
//! Domibus describes processes (MEP, binding, roles, initiator and responder parties) whose legs reference named
//! services, actions, security policies, reception awareness, reliability, error handling, property sets and
//! payload profiles. Each (process, leg, initiator party, responder party) becomes one P-Mode; an empty party list
//! becomes an open ("any party") side. The XML is parsed with the hardened DOM of `xmldsig` (DTDs refused, sizes
//! capped). Values Domibus does not carry take the defaults listed in docs/pmode.md; the importer fails with a
//! typed error on anything it cannot map faithfully rather than guessing.

use crate::algorithms::*;
use crate::builtin::DUPLICATE_WINDOW_SECONDS;
use crate::error::PModeErrors;
use crate::model::*;
use crate::set::PModeSet;
use crate::validate::{SDK_PARTY_ID_TYPE, SDK_SERVICE_TYPE};
use xmldsig::dom::{Document, DomError, NodeId, ParseLimits};

/// The namespace of the Domibus configuration root element.
pub const DOMIBUS_NS: &str = "http://domibus.eu/configuration";
/// Largest accepted Domibus P-Mode file, in bytes.
pub const MAX_DOMIBUS_XML_BYTES: usize = 4 * 1024 * 1024;
/// Most P-Modes one import may produce (processes × legs × parties).
pub const MAX_IMPORTED_PMODES: usize = crate::load::MAX_PMODES_PER_FILE;

/// Why a Domibus file could not be imported.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomibusError {
    #[error("the file has {size} bytes; at most {max} are accepted (pmode::domibus::MAX_DOMIBUS_XML_BYTES)")]
    TooLarge { size: usize, max: usize },
    #[error("the XML is refused: {0}")]
    Xml(#[from] DomError),
    #[error("the root element is {0:?}, not a Domibus <configuration> in namespace {DOMIBUS_NS}")]
    NotDomibus(String),
    #[error("<{element}> lacks the attribute {attribute:?}")]
    MissingAttribute { element: String, attribute: &'static str },
    #[error("<{element}> is missing")]
    MissingElement { element: &'static str },
    #[error("<{element} name={name:?}> refers to {kind} {reference:?}, which is not defined")]
    UnknownReference {
        element: &'static str,
        name: String,
        kind: &'static str,
        reference: String,
    },
    #[error("<{element} name={name:?}>: {attribute}={value:?} is not supported: {reason}")]
    Unsupported {
        element: &'static str,
        name: String,
        attribute: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("the import would produce {count} P-Modes; at most {max} are accepted")]
    TooManyPModes { count: usize, max: usize },
    #[error("the imported P-Modes do not validate:\n{0}")]
    Invalid(PModeErrors),
}

/// Imports a Domibus P-Mode file into validated P-Modes.
pub fn import(xml: &[u8]) -> Result<Vec<PMode>, DomibusError> {
    if xml.len() > MAX_DOMIBUS_XML_BYTES {
        return Err(DomibusError::TooLarge {
            size: xml.len(),
            max: MAX_DOMIBUS_XML_BYTES,
        });
    }
    let limits = ParseLimits {
        max_bytes: MAX_DOMIBUS_XML_BYTES,
        ..ParseLimits::default()
    };
    let doc = Document::parse(strip_leading_comments(xml), &limits)?;
    let pmodes = Importer { doc: &doc }.run()?;
    PModeSet::from_pmodes(pmodes.clone(), "<domibus import>").map_err(DomibusError::Invalid)?;
    Ok(pmodes)
}

/// Imports a Domibus P-Mode file and renders the P-Modes as TOML.
pub fn import_to_toml(xml: &[u8]) -> Result<String, DomibusError> {
    Ok(crate::load::to_toml(&import(xml)?))
}

/// DIGG's published file starts with a comment *before* the XML declaration, which is not well-formed XML
/// (the declaration must come first). Comments carry no configuration, so leading ones are skipped.
fn strip_leading_comments(mut xml: &[u8]) -> &[u8] {
    loop {
        let trimmed = xml.trim_ascii_start();
        if !trimmed.starts_with(b"<!--") {
            return xml;
        }
        match trimmed.windows(3).position(|w| w == b"-->") {
            Some(end) => xml = &trimmed[end + 3..],
            None => return xml,
        }
    }
}

struct Importer<'d> {
    doc: &'d Document,
}

/// One Domibus element with a `name`, for error messages.
#[derive(Clone, Copy)]
struct Named<'d> {
    id: NodeId,
    name: &'d str,
}

impl<'d> Importer<'d> {
    fn children(&self, parent: NodeId, local: &'static str) -> Vec<NodeId> {
        self.doc
            .child_elements(parent)
            .filter(|c| {
                self.doc
                    .element(*c)
                    .is_some_and(|e| e.name.local == local && matches!(e.namespace.as_deref(), None | Some(DOMIBUS_NS)))
            })
            .collect()
    }

    fn child(&self, parent: NodeId, local: &'static str) -> Result<NodeId, DomibusError> {
        self.children(parent, local)
            .into_iter()
            .next()
            .ok_or(DomibusError::MissingElement { element: local })
    }

    fn attr(&self, id: NodeId, name: &'static str) -> Result<&'d str, DomibusError> {
        self.doc
            .attribute(id, None, name)
            .ok_or_else(|| DomibusError::MissingAttribute {
                element: self.doc.element(id).map(|e| e.name.local.clone()).unwrap_or_default(),
                attribute: name,
            })
    }

    fn opt_attr(&self, id: NodeId, name: &str) -> Option<&'d str> {
        self.doc
            .attribute(id, None, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Elements `<container><local name=…/></container>` below `parent`, by name.
    fn table(
        &self,
        parent: NodeId,
        container: &'static str,
        local: &'static str,
    ) -> Result<Vec<Named<'d>>, DomibusError> {
        let mut out = Vec::new();
        for c in self.children(parent, container) {
            for id in self.children(c, local) {
                out.push(Named {
                    id,
                    name: self.attr(id, "name")?,
                });
            }
        }
        Ok(out)
    }

    fn lookup(
        &self,
        table: &[Named<'d>],
        element: &'static str,
        owner: &str,
        kind: &'static str,
        reference: &str,
    ) -> Result<NodeId, DomibusError> {
        table
            .iter()
            .find(|n| n.name == reference)
            .map(|n| n.id)
            .ok_or_else(|| DomibusError::UnknownReference {
                element,
                name: owner.to_string(),
                kind,
                reference: reference.to_string(),
            })
    }

    fn run(&self) -> Result<Vec<PMode>, DomibusError> {
        let root = self.doc.root();
        let root_el = self.doc.element(root).expect("the root is an element");
        if root_el.name.local != "configuration" || root_el.namespace.as_deref() != Some(DOMIBUS_NS) {
            return Err(DomibusError::NotDomibus(root_el.name.qualified()));
        }
        let bp = self.child(root, "businessProcesses")?;
        let roles = self.table(bp, "roles", "role")?;
        let parties = self.table(bp, "parties", "party")?;
        let party_id_types: Vec<Named<'d>> = {
            let mut v = Vec::new();
            for parties_el in self.children(bp, "parties") {
                v.extend(self.table(parties_el, "partyIdTypes", "partyIdType")?);
            }
            v
        };
        let meps = self.table(bp, "meps", "mep")?;
        let bindings = self.table(bp, "meps", "binding")?;
        let properties = self.table(bp, "properties", "property")?;
        let property_sets = self.table(bp, "properties", "propertySet")?;
        let payloads = self.table(bp, "payloadProfiles", "payload")?;
        let payload_profiles = self.table(bp, "payloadProfiles", "payloadProfile")?;
        let securities = self.table(bp, "securities", "security")?;
        let error_handlings = self.table(bp, "errorHandlings", "errorHandling")?;
        let agreements = self.table(bp, "agreements", "agreement")?;
        let services = self.table(bp, "services", "service")?;
        let actions = self.table(bp, "actions", "action")?;
        let awareness = self.table(bp, "as4", "receptionAwareness")?;
        let reliabilities = self.table(bp, "as4", "reliability")?;
        let legs = self.table(bp, "legConfigurations", "legConfiguration")?;
        let mpcs = self.table(root, "mpcs", "mpc")?;
        // An open party side gets the file's party id type when the file declares exactly one.
        let only_party_id_type = match party_id_types.as_slice() {
            [one] => Some(self.attr(one.id, "value")?.to_string()),
            _ => None,
        };

        let mut pmodes = Vec::new();
        for process_id in self.children(bp, "process") {
            let process = self.attr(process_id, "name")?;
            let mep_name = self.attr(process_id, "mep")?;
            let mep_uri = self.attr(self.lookup(&meps, "process", process, "mep", mep_name)?, "value")?;
            let mep = Mep::from_uri(mep_uri)
                .ok_or_else(|| self.unsupported("process", process, "mep", mep_uri, "unknown MEP"))?;
            if mep == Mep::TwoWay {
                return Err(self.unsupported("process", process, "mep", mep_uri, "two-way processes are not imported"));
            }
            let binding_name = self.attr(process_id, "binding")?;
            let binding_uri = self.attr(
                self.lookup(&bindings, "process", process, "binding", binding_name)?,
                "value",
            )?;
            let mep_binding = MepBinding::from_uri(binding_uri)
                .ok_or_else(|| self.unsupported("process", process, "binding", binding_uri, "unknown MEP binding"))?;
            let role = |attr| -> Result<String, DomibusError> {
                let name = self.attr(process_id, attr)?;
                Ok(self
                    .attr(self.lookup(&roles, "process", process, "role", name)?, "value")?
                    .to_string())
            };
            let (initiator_role, responder_role) = (role("initiatorRole")?, role("responderRole")?);
            let agreement = match self.opt_attr(process_id, "agreement") {
                Some(name) => {
                    let a = self.lookup(&agreements, "process", process, "agreement", name)?;
                    Some(AgreementRef {
                        value: self.attr(a, "value")?.to_string(),
                        agreement_type: self.opt_attr(a, "type").map(str::to_string),
                    })
                }
                None => None,
            };
            let side = |container, member| -> Result<Vec<Option<SideParty>>, DomibusError> {
                let mut out = Vec::new();
                for list in self.children(process_id, container) {
                    for member_id in self.children(list, member) {
                        let name = self.attr(member_id, "name")?;
                        let party = self.lookup(&parties, "process", process, "party", name)?;
                        let identifier = self.child(party, "identifier")?;
                        let type_name = self.attr(identifier, "partyIdType")?;
                        let id_type = self.attr(
                            self.lookup(&party_id_types, "party", name, "partyIdType", type_name)?,
                            "value",
                        )?;
                        let party_id = PartyId::new(
                            self.attr(identifier, "partyId")?,
                            Some(id_type).filter(|t| !t.is_empty()),
                        );
                        let endpoint = self.opt_attr(party, "endpoint").map(str::to_string);
                        out.push(Some((name.to_string(), party_id, endpoint)));
                    }
                }
                if out.is_empty() {
                    out.push(None);
                }
                Ok(out)
            };
            let initiators = side("initiatorParties", "initiatorParty")?;
            let responders = side("responderParties", "responderParty")?;
            let several = initiators.len() * responders.len() > 1;

            for leg_ref in self
                .children(process_id, "legs")
                .into_iter()
                .flat_map(|l| self.children(l, "leg"))
            {
                let leg_name = self.attr(leg_ref, "name")?;
                let leg = self.lookup(&legs, "process", process, "leg", leg_name)?;
                let base = self.leg(
                    leg_name,
                    leg,
                    LegTables {
                        services: &services,
                        actions: &actions,
                        securities: &securities,
                        awareness: &awareness,
                        reliabilities: &reliabilities,
                        error_handlings: &error_handlings,
                        property_sets: &property_sets,
                        properties: &properties,
                        payload_profiles: &payload_profiles,
                        payloads: &payloads,
                        mpcs: &mpcs,
                    },
                )?;
                for initiator in &initiators {
                    for responder in &responders {
                        if pmodes.len() >= MAX_IMPORTED_PMODES {
                            return Err(DomibusError::TooManyPModes {
                                count: pmodes.len() + 1,
                                max: MAX_IMPORTED_PMODES,
                            });
                        }
                        let mut id = format!("{process}.{leg_name}");
                        if several {
                            for side in [initiator, responder] {
                                id.push('.');
                                id.push_str(side.as_ref().map_or("any", |(name, _, _)| name.as_str()));
                            }
                        }
                        let spec = |side: &Option<SideParty>, role: &str| match side {
                            Some((_, party, _)) => PartySpec {
                                party_id: Some(party.id.clone()),
                                party_id_type: party.id_type.clone(),
                                role: role.to_string(),
                            },
                            None => PartySpec::any(role, only_party_id_type.as_deref()),
                        };
                        let mut pmode = base.clone();
                        pmode.id = sanitize_id(&id);
                        pmode.mep = mep;
                        pmode.mep_binding = mep_binding;
                        pmode.agreement = agreement.clone();
                        pmode.initiator = spec(initiator, &initiator_role);
                        pmode.responder = spec(responder, &responder_role);
                        pmode.protocol.address = responder.as_ref().and_then(|(_, _, endpoint)| endpoint.clone());
                        pmode.profile = infer_profile(&pmode);
                        pmodes.push(pmode);
                    }
                }
            }
        }
        Ok(pmodes)
    }

    fn unsupported(
        &self,
        element: &'static str,
        name: &str,
        attribute: &'static str,
        value: &str,
        reason: &'static str,
    ) -> DomibusError {
        DomibusError::Unsupported {
            element,
            name: name.to_string(),
            attribute,
            value: value.to_string(),
            reason,
        }
    }

    /// Everything a leg configuration determines.
    fn leg(&self, leg_name: &str, leg: NodeId, t: LegTables<'_, 'd>) -> Result<PMode, DomibusError> {
        let reference = |attr: &'static str, table: &[Named<'d>], kind: &'static str| -> Result<NodeId, DomibusError> {
            self.lookup(table, "legConfiguration", leg_name, kind, self.attr(leg, attr)?)
        };
        let service = reference("service", t.services, "service")?;
        let action = reference("action", t.actions, "action")?;
        let mpc = reference("defaultMpc", t.mpcs, "mpc")?;
        let mpc_uri = self.opt_attr(mpc, "qualifiedName").unwrap_or(DEFAULT_MPC).to_string();
        let security = self.security(reference("security", t.securities, "security")?)?;
        let reliability = reference("reliability", t.reliabilities, "reliability")?;
        let reply_pattern = match self.attr(reliability, "replyPattern")? {
            "response" => ReplyPattern::Response,
            "callback" => ReplyPattern::Callback,
            other => {
                return Err(self.unsupported(
                    "reliability",
                    leg_name,
                    "replyPattern",
                    other,
                    "expected response or callback",
                ))
            }
        };
        let non_repudiation = parse_bool(self.attr(reliability, "nonRepudiation")?);
        let reception_awareness =
            self.reception_awareness(reference("receptionAwareness", t.awareness, "receptionAwareness")?)?;
        let eh = reference("errorHandling", t.error_handlings, "errorHandling")?;
        let flag = |name| self.opt_attr(eh, name).is_some_and(parse_bool);
        let error_handling = ErrorHandling {
            report_as_response: flag("errorAsResponse"),
            process_error_notify_producer: flag("businessErrorNotifyProducer"),
            process_error_notify_consumer: flag("businessErrorNotifyConsumer"),
            delivery_failure_notify_producer: flag("deliveryFailureNotifyProducer"),
        };
        let mut property_rules = Vec::new();
        if let Some(set_name) = self.opt_attr(leg, "propertySet") {
            let set = self.lookup(t.property_sets, "legConfiguration", leg_name, "propertySet", set_name)?;
            for property_ref in self.children(set, "propertyRef") {
                let property = self.lookup(
                    t.properties,
                    "propertySet",
                    set_name,
                    "property",
                    self.attr(property_ref, "property")?,
                )?;
                property_rules.push(PropertyRule {
                    name: self.attr(property, "key")?.to_string(),
                    value_type: None,
                    required: self.opt_attr(property, "required").is_some_and(parse_bool),
                });
            }
            // Domibus lists a set's references in any order; keep the file's property order for readability.
            property_rules.sort_by_key(|r| {
                t.properties
                    .iter()
                    .position(|p| self.attr(p.id, "key").ok() == Some(r.name.as_str()))
                    .unwrap_or(usize::MAX)
            });
        }
        let mut payload_profile = PayloadProfile::default();
        if let Some(profile_name) = self.opt_attr(leg, "payloadProfile") {
            let profile = self.lookup(
                t.payload_profiles,
                "legConfiguration",
                leg_name,
                "payloadProfile",
                profile_name,
            )?;
            payload_profile.max_total_size_bytes = self.size(profile, "payloadProfile", profile_name)?;
            for attachment in self.children(profile, "attachment") {
                let payload = self.lookup(
                    t.payloads,
                    "payloadProfile",
                    profile_name,
                    "payload",
                    self.attr(attachment, "name")?,
                )?;
                let payload_name = self.attr(payload, "name")?;
                payload_profile.parts.push(PayloadPart {
                    cid: self.attr(payload, "cid")?.to_string(),
                    mime_type: self.attr(payload, "mimeType")?.to_string(),
                    required: self.opt_attr(payload, "required").is_some_and(parse_bool),
                    max_size_bytes: self.size(payload, "payload", payload_name)?,
                });
            }
        }
        Ok(PMode {
            id: String::new(),
            profile: Profile::As4,
            mep: Mep::OneWay,
            mep_binding: MepBinding::Push,
            initiator: PartySpec::any(DEFAULT_INITIATOR_ROLE, None),
            responder: PartySpec::any(DEFAULT_RESPONDER_ROLE, None),
            agreement: None,
            business_info: BusinessInfo {
                service: Service {
                    value: self.attr(service, "value")?.to_string(),
                    service_type: self.opt_attr(service, "type").map(str::to_string),
                },
                action: self.attr(action, "value")?.to_string(),
                mpc: mpc_uri,
                properties: property_rules,
            },
            reply: None,
            protocol: Protocol::default(),
            security: Security {
                send_receipt: ReceiptPolicy {
                    enabled: true,
                    reply_pattern,
                    non_repudiation,
                },
                ..security
            },
            reception_awareness,
            error_handling,
            payload_profile,
            compression: Compression {
                compress_outgoing: self.opt_attr(leg, "compressPayloads").is_some_and(parse_bool),
                require_incoming_compressed: false,
            },
            payload_service: PayloadService::default(),
        })
    }

    /// A Domibus `maxSize`; 0 means "no limit".
    fn size(&self, id: NodeId, element: &'static str, name: &str) -> Result<Option<u64>, DomibusError> {
        match self.opt_attr(id, "maxSize") {
            None => Ok(None),
            Some(v) => match v.parse::<u64>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(self.unsupported(element, name, "maxSize", v, "not a size in bytes")),
            },
        }
    }

    /// Domibus names a WS-Policy file and a signature method (or a security profile); the policy file's name says
    /// what is signed and encrypted and how the certificate is referenced.
    fn security(&self, security: NodeId) -> Result<Security, DomibusError> {
        let name = self.attr(security, "name")?;
        let policy = self.attr(security, "policy")?;
        let policy_base = policy.rsplit(['/', '\\']).next().unwrap_or(policy);
        let (sign, encrypt, token) = match policy_base {
            "eDeliveryAS4Policy_BST.xml" | "eDeliveryAS4Policy_BST_PKIP.xml" => {
                (true, true, TokenReference::BinarySecurityToken)
            }
            "eDeliveryAS4Policy.xml" | "eDeliveryAS4Policy_IS.xml" => (true, true, TokenReference::IssuerSerial),
            "signOnly.xml" => (true, false, TokenReference::BinarySecurityToken),
            "doNothingPolicy.xml" => (false, false, TokenReference::BinarySecurityToken),
            _ => return Err(self.unsupported("security", name, "policy", policy, "unknown Domibus policy file")),
        };
        let method = self
            .opt_attr(security, "profile")
            .or_else(|| self.opt_attr(security, "signatureMethod"));
        let ecc = match method {
            Some("RSA_SHA256") | Some("RSA") | None => false,
            Some("ECC") => true,
            Some(other) => {
                return Err(self.unsupported(
                    "security",
                    name,
                    "signatureMethod",
                    other,
                    "only RSA_SHA256 and ECC are mapped",
                ))
            }
        };
        let signature = sign.then(|| SignaturePolicy {
            algorithm: if ecc {
                SignatureAlgorithm::EddsaEd25519
            } else {
                SignatureAlgorithm::RsaSha256
            },
            hash: DigestAlgorithm::Sha256,
            canonicalization: CanonicalizationAlgorithm::ExcC14n,
            parts: SignedParts::default(),
        });
        let encryption = encrypt.then(|| EncryptionPolicy {
            data: DataEncryptionAlgorithm::Aes128Gcm,
            key: if ecc {
                KeyEncryption::KeyAgreement {
                    algorithm: KeyAgreementAlgorithm::X25519,
                    key_derivation: KeyDerivationFunction::Hkdf,
                    prf: PseudoRandomFunction::HmacSha256,
                    key_wrap: KeyWrapAlgorithm::KwAes128,
                }
            } else {
                KeyEncryption::KeyTransport {
                    algorithm: KeyTransportAlgorithm::RsaOaep,
                    mgf: Some(MaskGenerationFunction::Mgf1Sha256),
                    digest: DigestAlgorithm::Sha256,
                }
            },
            parts: EncryptedParts::default(),
        });
        Ok(Security {
            ws_security_version: WsSecurityVersion::V1_1,
            x509_token_reference: token,
            signature,
            encryption,
            send_receipt: ReceiptPolicy {
                enabled: true,
                reply_pattern: ReplyPattern::Response,
                non_repudiation: false,
            },
        })
    }

    /// `retry="TIMEOUT_MINUTES;COUNT;STRATEGY"`: Domibus spreads COUNT attempts evenly over the timeout.
    fn reception_awareness(&self, ra: NodeId) -> Result<ReceptionAwareness, DomibusError> {
        let name = self.attr(ra, "name")?;
        let retry_text = self.opt_attr(ra, "retry").unwrap_or("0;0;SEND_ONCE");
        let bad = |reason| self.unsupported("receptionAwareness", name, "retry", retry_text, reason);
        let fields: Vec<&str> = retry_text.split(';').map(str::trim).collect();
        let [timeout, count, strategy] = fields.as_slice() else {
            return Err(bad("expected TIMEOUT_MINUTES;COUNT;STRATEGY"));
        };
        let timeout_minutes: u64 = timeout
            .parse()
            .map_err(|_| bad("the timeout is not a number of minutes"))?;
        let count: u32 = count.parse().map_err(|_| bad("the retry count is not a number"))?;
        let retry = match *strategy {
            "CONSTANT" if count > 0 => RetryPolicy::Constant {
                max_retries: count,
                interval_seconds: (timeout_minutes * 60 / u64::from(count)).max(1),
            },
            "CONSTANT" | "SEND_ONCE" => RetryPolicy::Constant {
                max_retries: 0,
                interval_seconds: 60,
            },
            _ => return Err(bad("only the CONSTANT and SEND_ONCE strategies are mapped")),
        };
        Ok(ReceptionAwareness {
            enabled: true,
            retry,
            duplicate_detection: DuplicateDetection {
                enabled: self.opt_attr(ra, "duplicateDetection").is_some_and(parse_bool),
                window_seconds: DUPLICATE_WINDOW_SECONDS,
            },
        })
    }
}

/// A party named on one side of a process: its Domibus name, its id, and its endpoint.
type SideParty = (String, PartyId, Option<String>);

struct LegTables<'a, 'd> {
    services: &'a [Named<'d>],
    actions: &'a [Named<'d>],
    securities: &'a [Named<'d>],
    awareness: &'a [Named<'d>],
    reliabilities: &'a [Named<'d>],
    error_handlings: &'a [Named<'d>],
    property_sets: &'a [Named<'d>],
    properties: &'a [Named<'d>],
    payload_profiles: &'a [Named<'d>],
    payloads: &'a [Named<'d>],
    mpcs: &'a [Named<'d>],
}

fn parse_bool(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true") || v.trim() == "1"
}

fn sanitize_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// SDK when the file uses the SDK's party or service types; eDelivery AS4 2.0 for ECC security; plain AS4 else.
fn infer_profile(p: &PMode) -> Profile {
    let sdk_party = [&p.initiator, &p.responder]
        .iter()
        .any(|s| s.party_id_type.as_deref() == Some(SDK_PARTY_ID_TYPE));
    let sdk_service = p.business_info.service.service_type.as_deref() == Some(SDK_SERVICE_TYPE);
    let ecc = p
        .security
        .signature
        .as_ref()
        .is_some_and(|s| s.algorithm == SignatureAlgorithm::EddsaEd25519);
    if ecc {
        Profile::EDeliveryAs4V2
    } else if sdk_party || sdk_service {
        Profile::Sdk
    } else {
        Profile::As4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic Domibus file (two initiator parties, one responder, an agreement, a constant retry).
    const TWO_PARTIES: &str = include_str!("../fuzz/corpus/domibus_import/two_parties.xml");

    #[test]
    fn imports_every_process_leg_and_party_combination() {
        let pmodes = import(TWO_PARTIES.as_bytes()).unwrap();
        let ids: Vec<_> = pmodes.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p.leg1.red.blue", "p.leg1.blue.blue"]);
        let p = &pmodes[0];
        assert_eq!(p.profile, Profile::As4);
        assert_eq!(p.initiator.party_id.as_deref(), Some("red-ap"));
        assert_eq!(
            p.initiator.party_id_type.as_deref(),
            Some("urn:oasis:names:tc:ebcore:partyid-type:unregistered")
        );
        assert_eq!(p.responder.party_id.as_deref(), Some("blue-ap"));
        assert_eq!(p.protocol.address.as_deref(), Some("https://blue.example/msh"));
        assert_eq!(
            p.agreement,
            Some(AgreementRef {
                value: "urn:example:agreement".into(),
                agreement_type: None
            })
        );
        assert_eq!(p.business_info.service, Service::new("urn:example:service", None));
        assert_eq!(
            p.reception_awareness.retry,
            RetryPolicy::Constant {
                max_retries: 6,
                interval_seconds: 600
            }
        );
        assert!(!p.compression.compress_outgoing);
        assert!(!p.error_handling.process_error_notify_producer);
        let props: Vec<_> = p
            .business_info
            .properties
            .iter()
            .map(|r| (r.name.as_str(), r.required))
            .collect();
        assert_eq!(props, [("originalSender", true), ("finalRecipient", false)]);
        assert_eq!(p.payload_profile.max_total_size_bytes, Some(10_485_760));
        assert_eq!(p.payload_profile.parts[0].max_size_bytes, Some(1_048_576));
    }

    fn import_edited(from: &str, to: &str) -> DomibusError {
        assert!(TWO_PARTIES.contains(from), "{from}");
        import(TWO_PARTIES.replacen(from, to, 1).as_bytes()).unwrap_err()
    }

    #[test]
    fn refuses_what_it_cannot_map() {
        assert!(matches!(
            import_edited("retry=\"60;6;CONSTANT\"", "retry=\"60;6;PROGRESSIVE\""),
            DomibusError::Unsupported { attribute: "retry", .. }
        ));
        assert!(matches!(
            import_edited("eDeliveryAS4Policy_BST.xml", "custom.xml"),
            DomibusError::Unsupported {
                attribute: "policy",
                ..
            }
        ));
        assert!(matches!(
            import_edited("signatureMethod=\"RSA_SHA256\"", "signatureMethod=\"RSA_SHA1\""),
            DomibusError::Unsupported {
                attribute: "signatureMethod",
                ..
            }
        ));
        assert!(matches!(
            import_edited("200704/oneWay\"", "200704/twoWay\""),
            DomibusError::Unsupported { attribute: "mep", .. }
        ));
        assert!(matches!(
            import_edited("<responderParty name=\"blue\"/>", "<responderParty name=\"green\"/>"),
            DomibusError::UnknownReference { kind: "party", .. }
        ));
        assert!(matches!(
            import_edited(" action=\"act\"", ""),
            DomibusError::MissingAttribute {
                attribute: "action",
                ..
            }
        ));
        assert!(matches!(
            import_edited("http://domibus.eu/configuration", "urn:other"),
            DomibusError::NotDomibus(_)
        ));
    }

    #[test]
    fn imported_values_are_validated() {
        // A cid without the cid: prefix passes the XML mapping but not validation.
        let err = import_edited("cid=\"cid:doc\"", "cid=\"doc\"");
        let DomibusError::Invalid(errors) = err else {
            panic!("{err:?}")
        };
        assert_eq!(errors.0[0].field.as_deref(), Some("payload_profile.parts[0].cid"));
    }

    #[test]
    fn refuses_dtds_and_oversized_input() {
        let with_dtd = TWO_PARTIES.replacen("?>", "?><!DOCTYPE x [<!ENTITY a \"b\">]>", 1);
        assert_eq!(
            import(with_dtd.as_bytes()).unwrap_err(),
            DomibusError::Xml(DomError::DtdRefused)
        );
        let big = vec![b' '; MAX_DOMIBUS_XML_BYTES + 1];
        assert!(matches!(import(&big).unwrap_err(), DomibusError::TooLarge { .. }));
    }

    #[test]
    fn leading_comments_are_skipped() {
        let commented = format!("<!-- adjust the party -->\n{TWO_PARTIES}");
        assert_eq!(
            import(commented.as_bytes()).unwrap(),
            import(TWO_PARTIES.as_bytes()).unwrap()
        );
    }
}
