//! Namespace URIs and the fixed URIs of ebMS3 / AS4 (default MPC, default roles, the test service and action).

/// SOAP 1.2 envelope namespace (the only SOAP version AS4 uses).
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope namespace: recognised only to refuse it with a clear error.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// ebMS3 core header namespace (`eb:`).
pub const EB: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
/// ebBP signals namespace (`ebbp:NonRepudiationInformation` in receipts).
pub const EBBP: &str = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0";
/// WS-Security 1.1 secext namespace (`wsse:Security`).
pub const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security utility namespace (`wsu:Id`).
pub const WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// XML-DSig namespace (`ds:Reference`).
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive XML canonicalisation namespace (`ec:InclusiveNamespaces`) and algorithm URI.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The XML namespace (`xml:lang`).
pub const XML: &str = xmldsig::dom::XML_NS;

/// The default message partition channel, used when `mpc` is absent.
pub const DEFAULT_MPC: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC";
/// The default role of both parties when the P-Mode names none.
pub const DEFAULT_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultRole";
/// The ebMS initiator role (used by the SDK profile for From).
pub const INITIATOR_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator";
/// The ebMS responder role (used by the SDK profile for To).
pub const RESPONDER_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder";
/// The test service (ebMS3 §5.2.2.8): messages to it are accepted but never delivered to the business side.
pub const TEST_SERVICE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/service";
/// The test action (ebMS3 §5.2.2.9), used together with [`TEST_SERVICE`].
pub const TEST_ACTION: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/test";

/// SOAP 1.2 role URIs that target the ultimate receiver (absent role means the same).
pub const SOAP12_ROLE_ULTIMATE_RECEIVER: &str = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";
/// SOAP 1.2 role URI that targets every node on the path, this one included.
pub const SOAP12_ROLE_NEXT: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";
