//! DIGG's XHE business rules (`DIGG-XHE-Business-Rules.scmt`, profile v1.0), one Rust check per schematron rule.
//! Each violation carries the rule id of DIGG's file (`R1-XHE` … `R14-XHE`).
//!
//! One deliberate difference: DIGG's file evaluates `R11-XHE` ("ID för ToParty ska ha attributet
//! 'iso6523-actorid-upis'") in the FromParty context, a copy-paste slip that makes it a duplicate of `R10-XHE`;
//! we check ToParty, as the rule's text says.

use super::xhe::{
    parse_xs_boolean, DSIG_NS, XENC_NS, XHA_NS, XHB_NS, XHE_CUSTOMIZATION_ID, XHE_EXT_NS, XHE_NS, XHE_VERSION,
};
use super::xml::{self, normalize_space};
use super::{RuleViolation, PARTICIPANT_SCHEME};
use xmldsig::dom::{Document, NodeId};

/// Runs every rule over the document and returns all violations (empty: valid). A root that is not `x:XHE`
/// matches no rule context, as in the schematron; callers check the root first.
pub fn validate(doc: &Document) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let root = doc.root();
    if !doc.is(root, XHE_NS, "XHE") {
        return out;
    }
    r1_only_profile_elements(doc, root, &mut out);
    r14_cardinality(doc, root, &mut out);
    r2_no_empty_elements(doc, root, &mut out);
    r3_customization_id(doc, root, &mut out);
    r4_to_r8_scope_criteria(doc, root, &mut out);
    r9_version(doc, root, &mut out);
    r10_r11_party_schemes(doc, root, &mut out);
    r12_r13_encryption_indicator(doc, root, &mut out);
    out
}

/// R1-XHE: elements of XHE 1.0 that DIGG's profile does not use must not appear.
fn r1_only_profile_elements(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let forbidden_paths: [&[(&str, &str)]; 14] = [
        &[(XHE_EXT_NS, "XHEExtensions")],
        &[(XHB_NS, "ProfileID")],
        &[(XHB_NS, "ProfileExecutionID")],
        &[
            (XHA_NS, "Header"),
            (XHA_NS, "BusinessScope"),
            (XHA_NS, "ExternalReference"),
        ],
        &[(XHA_NS, "Payloads"), (XHA_NS, "Payload"), (XHB_NS, "Description")],
        &[(XHA_NS, "Payloads"), (XHA_NS, "Payload"), (XHB_NS, "CustomizationID")],
        &[(XHA_NS, "Payloads"), (XHA_NS, "Payload"), (XHB_NS, "ProfileID")],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHB_NS, "ProfileExecutionID"),
        ],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHB_NS, "ValidationTypeCode"),
        ],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHB_NS, "InstanceEncryptionMethod"),
        ],
        &[(XHA_NS, "Payloads"), (XHA_NS, "Payload"), (XHB_NS, "InstanceHashValue")],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHA_NS, "InstanceDecryptionInformationExternalReference"),
        ],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHA_NS, "InstanceDecryptionKeyExternalReference"),
        ],
        &[
            (XHA_NS, "Payloads"),
            (XHA_NS, "Payload"),
            (XHA_NS, "RelevantExternalReference"),
        ],
    ];
    for path in forbidden_paths {
        for node in xml::select(doc, root, path) {
            out.push(RuleViolation::new(
                "R1-XHE",
                format!("{} is not used by DIGG's XHE profile", xml::path_of(doc, node)),
            ));
        }
    }
}

/// R14-XHE: the cardinalities of the profile's syntax mapping.
fn r14_cardinality(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let count = |path: &[(&str, &str)]| xml::select(doc, root, path).len();
    let header = (XHA_NS, "Header");
    let payload = [(XHA_NS, "Payloads"), (XHA_NS, "Payload")];
    let checks: [(bool, &str); 9] = [
        (
            count(&[(XHB_NS, "CustomizationID")]) > 0,
            "CustomizationID is mandatory",
        ),
        (
            count(&[header, (XHA_NS, "BusinessScope"), (XHA_NS, "BusinessScopeCriterion")]) > 0,
            "BusinessScopeCriterion is mandatory",
        ),
        (count(&[header, (XHA_NS, "FromParty")]) > 0, "FromParty is mandatory"),
        (
            count(&[header, (XHA_NS, "FromParty"), (XHA_NS, "PartyIdentification")]) == 1,
            "FromParty/PartyIdentification must occur exactly once",
        ),
        (
            count(&[header, (XHA_NS, "ToParty"), (XHA_NS, "PartyIdentification")]) == 1,
            "ToParty/PartyIdentification must occur exactly once",
        ),
        (count(&payload) == 1, "Payload is mandatory and may occur only once"),
        (
            count(&[payload[0], payload[1], (XHB_NS, "DocumentTypeCode")]) > 0,
            "DocumentTypeCode is mandatory",
        ),
        (
            count(&[payload[0], payload[1], (XHB_NS, "ContentTypeCode")]) > 0,
            "ContentTypeCode is mandatory",
        ),
        (
            count(&[payload[0], payload[1], (XHA_NS, "PayloadContent")]) > 0,
            "PayloadContent is mandatory",
        ),
    ];
    for (ok, message) in checks {
        if !ok {
            out.push(RuleViolation::new("R14-XHE", message));
        }
    }
}

/// R2-XHE: no empty leaf element outside the payload content, except XML Encryption and XML-DSig elements.
fn r2_no_empty_elements(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if doc.is(node, XHA_NS, "PayloadContent") {
            continue;
        }
        let children: Vec<NodeId> = doc.child_elements(node).collect();
        if children.is_empty() && normalize_space(&doc.text_content(node)).is_empty() {
            let ns = xml::element_name(doc, node).and_then(|(ns, _)| ns);
            if ns != Some(XENC_NS) && ns != Some(DSIG_NS) {
                out.push(RuleViolation::new(
                    "R2-XHE",
                    format!("{} is empty", xml::path_of(doc, node)),
                ));
            }
        }
        stack.extend(children.into_iter().rev());
    }
}

/// R3-XHE: CustomizationID is DIGG's.
fn r3_customization_id(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for node in xml::children(doc, root, XHB_NS, "CustomizationID") {
        let value = normalize_space(&doc.text_content(node));
        if value != XHE_CUSTOMIZATION_ID {
            out.push(RuleViolation::new(
                "R3-XHE",
                format!("CustomizationID is {value:?}, must be {XHE_CUSTOMIZATION_ID:?}"),
            ));
        }
    }
}

/// R4-XHE … R8-XHE: one criterion of each of the five type codes.
fn r4_to_r8_scope_criteria(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    let criteria = xml::select(
        doc,
        root,
        &[
            (XHA_NS, "Header"),
            (XHA_NS, "BusinessScope"),
            (XHA_NS, "BusinessScopeCriterion"),
        ],
    );
    let codes: Vec<String> = criteria
        .iter()
        .filter_map(|&c| xml::child_text(doc, c, XHB_NS, "BusinessScopeCriterionTypeCode"))
        .collect();
    for (rule, code) in [
        ("R4-XHE", "DOCUMENTID"),
        ("R5-XHE", "DOCUMENTID_SCHEME"),
        ("R6-XHE", "PROCESSID"),
        ("R7-XHE", "PROCESSID_SCHEME"),
        ("R8-XHE", "FEDERATIONID"),
    ] {
        if !codes.iter().any(|c| c == code) {
            out.push(RuleViolation::new(
                rule,
                format!("a BusinessScopeCriterionTypeCode {code} is required"),
            ));
        }
    }
}

/// R9-XHE: XHEVersionID is 1.0.
fn r9_version(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for node in xml::children(doc, root, XHB_NS, "XHEVersionID") {
        let value = normalize_space(&doc.text_content(node));
        if value != XHE_VERSION {
            out.push(RuleViolation::new(
                "R9-XHE",
                format!("XHEVersionID is {value:?}, must be 1.0"),
            ));
        }
    }
}

/// R10-XHE / R11-XHE: FromParty and ToParty ids are in scheme `iso6523-actorid-upis`.
fn r10_r11_party_schemes(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for (rule, party) in [("R10-XHE", "FromParty"), ("R11-XHE", "ToParty")] {
        let ids = xml::select(
            doc,
            root,
            &[
                (XHA_NS, "Header"),
                (XHA_NS, party),
                (XHA_NS, "PartyIdentification"),
                (XHB_NS, "ID"),
            ],
        );
        for id in ids {
            let scheme = doc
                .attribute(id, None, "schemeID")
                .map(normalize_space)
                .unwrap_or_default();
            if scheme != PARTICIPANT_SCHEME {
                out.push(RuleViolation::new(
                    rule,
                    format!("{party} ID has schemeID {scheme:?}, must be {PARTICIPANT_SCHEME:?}"),
                ));
            }
        }
    }
}

/// R12-XHE / R13-XHE: InstanceEncryptionIndicator agrees with the presence of `xenc:EncryptedData`.
fn r12_r13_encryption_indicator(doc: &Document, root: NodeId, out: &mut Vec<RuleViolation>) {
    for payload in xml::select(doc, root, &[(XHA_NS, "Payloads"), (XHA_NS, "Payload")]) {
        let encrypted_data = xml::select(doc, payload, &[(XHA_NS, "PayloadContent"), (XENC_NS, "EncryptedData")]).len();
        for indicator in xml::children(doc, payload, XHB_NS, "InstanceEncryptionIndicator") {
            match parse_xs_boolean(&doc.text_content(indicator)) {
                Some(true) if encrypted_data == 0 => out.push(RuleViolation::new(
                    "R12-XHE",
                    "InstanceEncryptionIndicator is true but PayloadContent holds no xenc:EncryptedData",
                )),
                Some(false) if encrypted_data > 0 => out.push(RuleViolation::new(
                    "R13-XHE",
                    "InstanceEncryptionIndicator is false but PayloadContent holds xenc:EncryptedData",
                )),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;

    fn rules_of(xml: &str) -> Vec<&'static str> {
        let doc = Document::parse_str(xml).unwrap();
        validate(&doc).into_iter().map(|v| v.rule).collect()
    }

    fn valid() -> String {
        sample().render().unwrap()
    }

    #[test]
    fn sample_is_valid() {
        assert!(rules_of(&valid()).is_empty());
    }

    #[test]
    fn r1_extensions_and_unused_elements() {
        let xml = valid().replace(
            "<xhb:CustomizationID>",
            "<xhb:ProfileID>p</xhb:ProfileID><xhb:CustomizationID>",
        );
        assert_eq!(rules_of(&xml), vec!["R1-XHE"]);
        let xml = valid().replace(
            "<xhb:ContentTypeCode>",
            "<xhb:Description>d</xhb:Description><xhb:ContentTypeCode>",
        );
        assert_eq!(rules_of(&xml), vec!["R1-XHE"]);
    }

    #[test]
    fn r14_cardinalities() {
        let xml = valid().replace(
            "<xhb:CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</xhb:CustomizationID>",
            "",
        );
        assert_eq!(rules_of(&xml), vec!["R14-XHE"]);
        let doubled = valid().replace(
            "<xha:PartyIdentification><xhb:ID schemeID=\"iso6523-actorid-upis\">0203:b.example.se</xhb:ID></xha:PartyIdentification>",
            "<xha:PartyIdentification><xhb:ID schemeID=\"iso6523-actorid-upis\">0203:b.example.se</xhb:ID></xha:PartyIdentification><xha:PartyIdentification><xhb:ID schemeID=\"iso6523-actorid-upis\">0203:c.example.se</xhb:ID></xha:PartyIdentification>",
        );
        assert_eq!(rules_of(&doubled), vec!["R14-XHE"]);
        let no_type = valid().replace("<xhb:ContentTypeCode>application/xml</xhb:ContentTypeCode>", "");
        assert_eq!(rules_of(&no_type), vec!["R14-XHE"]);
    }

    #[test]
    fn r2_empty_element() {
        let xml = valid().replace(
            "<xhb:HandlingServiceID>ABC</xhb:HandlingServiceID>",
            "<xhb:HandlingServiceID> </xhb:HandlingServiceID>",
        );
        assert_eq!(rules_of(&xml), vec!["R2-XHE"]);
        // Empty elements inside the payload are the payload's business.
        let xml = valid().replace("hej &amp; hå", "<e:empty/>");
        assert!(rules_of(&xml).is_empty());
    }

    #[test]
    fn r3_customization() {
        let xml = valid().replace("urn:fdc:digg.se:edelivery:xhe:1", "urn:other");
        assert_eq!(rules_of(&xml), vec!["R3-XHE"]);
    }

    #[test]
    fn r4_to_r8_each_criterion() {
        for (rule, code) in [
            ("R4-XHE", ">DOCUMENTID<"),
            ("R5-XHE", ">DOCUMENTID_SCHEME<"),
            ("R6-XHE", ">PROCESSID<"),
            ("R7-XHE", ">PROCESSID_SCHEME<"),
            ("R8-XHE", ">FEDERATIONID<"),
        ] {
            let xml = valid().replace(code, ">OTHER<");
            assert_eq!(rules_of(&xml), vec![rule], "{code}");
        }
    }

    #[test]
    fn r9_version() {
        let xml = valid().replace("<xhb:XHEVersionID>1.0<", "<xhb:XHEVersionID>1.1<");
        assert_eq!(rules_of(&xml), vec!["R9-XHE"]);
    }

    #[test]
    fn r10_r11_schemes() {
        let xml = valid().replacen("schemeID=\"iso6523-actorid-upis\"", "schemeID=\"x\"", 1);
        assert_eq!(rules_of(&xml), vec!["R10-XHE"]);
        let xml = valid().replace(
            "schemeID=\"iso6523-actorid-upis\">0203:b.example.se",
            "schemeID=\"x\">0203:b.example.se",
        );
        assert_eq!(rules_of(&xml), vec!["R11-XHE"]);
    }

    #[test]
    fn r12_r13_encryption_indicator() {
        let xml = valid().replace(
            ">false</xhb:InstanceEncryptionIndicator>",
            ">true</xhb:InstanceEncryptionIndicator>",
        );
        assert_eq!(rules_of(&xml), vec!["R12-XHE"]);
        let xml = valid().replace(
            "<e:doc xmlns:e=\"urn:example\">hej &amp; hå</e:doc>",
            "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"><xenc:CipherData/></xenc:EncryptedData>",
        );
        assert_eq!(rules_of(&xml), vec!["R13-XHE"]);
    }
}
