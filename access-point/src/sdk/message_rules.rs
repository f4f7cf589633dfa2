//! The rules of `MessageConstraints.xml` (SDK message v3.1 schematron), one Rust check per pattern; each violation
//! carries the pattern id of DIGG's file (`verifyNonEmptyElements`, `conversationIdMustExist`, `recipientIdvalue`,
//! `senderIdvalue`, `creationDateTime`, `MessageId`, `conversationId`, `refToMessageId`, `subjectlabel`,
//! `contentFiles`, `subOrgRoot`).
//!
//! As in the schematron, a rule whose context is a bare element name (`tns:messageId`) applies to every element of
//! that name in the document. The abstract patterns `pattern.OrganizationIdentifier`, `pattern.contentAsTextType`,
//! `pattern.Equals` and `pattern.notAllowed` are never instantiated in DIGG's file and so are not rules.
//! The timestamp pattern `…:[0-9]{2}.[0-9]{1,3}Z` is implemented as written: its `.` matches any character.

use super::message_v3::{FUNCTIONAL_ADDRESS_ROOT, MESSAGE_V3_NS as NS};
use super::xml::{self, normalize_space};
use super::{RuleViolation, PARTICIPANT_SCHEME};
use xmldsig::dom::{Document, NodeId};

/// Longest subject (messageHeader/label), in characters (`subjectlabel`).
pub const MAX_SUBJECT_CHARS: usize = 256;

/// Runs every rule and returns all violations (empty: valid).
pub fn validate(doc: &Document) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let all: Vec<NodeId> = doc.all_nodes().filter(|&n| doc.element(n).is_some()).collect();
    let named = |local: &str| -> Vec<NodeId> { all.iter().copied().filter(|&n| doc.is(n, NS, local)).collect() };

    // verifyNonEmptyElements: every element below a messagePayload has a non-blank string value.
    for payload in named("messagePayload") {
        for node in doc.descendants_or_self(payload).into_iter().skip(1) {
            if doc.element(node).is_some() && normalize_space(&doc.text_content(node)).is_empty() {
                out.push(RuleViolation::new(
                    "verifyNonEmptyElements",
                    format!("element {} is included but empty", xml::qualified_name(doc, node)),
                ));
            }
        }
    }
    // conversationIdMustExist.
    for header in named("messageHeader") {
        if xml::children(doc, header, NS, "conversationId").len() != 1 {
            out.push(RuleViolation::new(
                "conversationIdMustExist",
                "messageHeader must hold one conversationId (a new conversation uses the messageId)",
            ));
        }
    }
    // recipientIdvalue / senderIdvalue.
    for (rule, parent) in [("recipientIdvalue", "recipientID"), ("senderIdvalue", "senderID")] {
        for id in named(parent) {
            for root in xml::children(doc, id, NS, "root") {
                let value = doc.text_content(root);
                if value != PARTICIPANT_SCHEME {
                    out.push(RuleViolation::new(
                        rule,
                        format!("{parent}/root should be {PARTICIPANT_SCHEME:?} but was {value:?}"),
                    ));
                }
            }
        }
    }
    // creationDateTime: YYYY-MM-DDThh:mm:ss.sZ (1–3 fraction digits).
    for node in named("creationDateTime") {
        let value = doc.text_content(node);
        if !is_sdk_timestamp(&value) {
            out.push(RuleViolation::new(
                "creationDateTime",
                format!("creationDateTime should match YYYY-MM-DD'T'hh:mm:ss.s'Z' but was {value:?}"),
            ));
        }
    }
    // MessageId / conversationId / refToMessageId: UUIDs.
    for (rule, local) in [
        ("MessageId", "messageId"),
        ("conversationId", "conversationId"),
        ("refToMessageId", "refToMessageId"),
    ] {
        for node in named(local) {
            let value = doc.text_content(node);
            if !is_uuid(&value) {
                out.push(RuleViolation::new(
                    rule,
                    format!("{local} {value:?} is not a valid UUID"),
                ));
            }
        }
    }
    // subjectlabel: messageHeader/label at most 256 characters.
    for header in named("messageHeader") {
        for label in xml::children(doc, header, NS, "label") {
            let length = doc.text_content(label).chars().count();
            if length > MAX_SUBJECT_CHARS {
                out.push(RuleViolation::new(
                    "subjectlabel",
                    format!("messageHeader/label is {length} characters, at most {MAX_SUBJECT_CHARS}"),
                ));
            }
        }
    }
    // contentFiles: ContentFiles/content starts like base64 (DIGG's simplified check).
    for files in named("ContentFiles") {
        for content in xml::children(doc, files, NS, "content") {
            let value = doc.text_content(content);
            if !value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/') {
                out.push(RuleViolation::new(
                    "contentFiles",
                    "ContentFiles/content must be a valid base64 encoded string",
                ));
            }
        }
    }
    // subOrgRoot: functional addresses use the address-book root.
    for sub in named("subOrganization") {
        for id in xml::children(doc, sub, NS, "organizationId") {
            for root in xml::children(doc, id, NS, "root") {
                let value = doc.text_content(root);
                if value != FUNCTIONAL_ADDRESS_ROOT {
                    out.push(RuleViolation::new(
                        "subOrgRoot",
                        format!(
                            "subOrganization/organizationId/root must be {FUNCTIONAL_ADDRESS_ROOT:?} but was {value:?}"
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.[0-9]{1,3}Z$`
fn is_sdk_timestamp(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let digits = |from: usize, n: usize| {
        chars
            .get(from..from + n)
            .is_some_and(|s| s.iter().all(char::is_ascii_digit))
    };
    let at = |i: usize, c: char| chars.get(i) == Some(&c);
    if !(digits(0, 4) && at(4, '-') && digits(5, 2) && at(7, '-') && digits(8, 2) && at(10, 'T')) {
        return false;
    }
    if !(digits(11, 2) && at(13, ':') && digits(14, 2) && at(16, ':') && digits(17, 2)) {
        return false;
    }
    // Position 19 is XPath's `.`: any character but a newline.
    if chars.get(19).is_none_or(|&c| c == '\n' || c == '\r') {
        return false;
    }
    let fraction = chars.len().saturating_sub(21);
    (1..=3).contains(&fraction) && digits(20, fraction) && chars.last() == Some(&'Z') && chars.len() == 21 + fraction
}

/// `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::message_v3::tests::sample;

    fn valid() -> String {
        sample().render().unwrap()
    }

    fn rules_of(xml: &str) -> Vec<&'static str> {
        validate(&Document::parse_str(xml).unwrap())
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn sample_is_valid() {
        assert!(rules_of(&valid()).is_empty());
    }

    #[test]
    fn verify_non_empty_elements() {
        let xml = valid().replace("<tns:index>1</tns:index>", "<tns:index> </tns:index>");
        assert_eq!(rules_of(&xml), vec!["verifyNonEmptyElements"]);
    }

    #[test]
    fn conversation_id_must_exist() {
        let xml = valid().replace(
            "<tns:conversationId>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:conversationId>",
            "",
        );
        assert_eq!(rules_of(&xml), vec!["conversationIdMustExist"]);
    }

    #[test]
    fn participant_roots() {
        let xml = valid().replacen("<tns:root>iso6523-actorid-upis</tns:root>", "<tns:root>x</tns:root>", 1);
        assert_eq!(rules_of(&xml), vec!["recipientIdvalue"]);
        let xml = valid().replace(
            "<tns:root>iso6523-actorid-upis</tns:root><tns:extension>0203:a.example.se",
            "<tns:root>x</tns:root><tns:extension>0203:a.example.se",
        );
        assert_eq!(rules_of(&xml), vec!["senderIdvalue"]);
    }

    #[test]
    fn creation_date_time_pattern() {
        let xml = valid().replace("2022-10-13T18:10:39.843Z", "2022-10-13T18:10:39Z");
        assert_eq!(rules_of(&xml), vec!["creationDateTime"]);
        assert!(is_sdk_timestamp("2019-08-22T07:27:15.4Z"));
        assert!(!is_sdk_timestamp("2019-08-22T07:27:15.4333Z"));
        assert!(!is_sdk_timestamp("2019-09-03T12:04:13.123"));
    }

    #[test]
    fn uuids() {
        let xml = valid().replace(
            "<tns:messageId>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:messageId>",
            "<tns:messageId>7bc5576a</tns:messageId>",
        );
        assert_eq!(rules_of(&xml), vec!["MessageId"]);
        let xml = valid().replace(
            "<tns:conversationId>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</tns:conversationId>",
            "<tns:conversationId>7bc5576a-3f87-4cf5-a0c5-277da06fcacbÖ</tns:conversationId>",
        );
        assert_eq!(rules_of(&xml), vec!["conversationId"]);
        let xml = valid().replace(
            "<tns:label>Rubrik",
            "<tns:refToMessageId>nope</tns:refToMessageId><tns:label>Rubrik",
        );
        assert_eq!(rules_of(&xml), vec!["refToMessageId"]);
    }

    #[test]
    fn subject_label_length() {
        let long = "y".repeat(257);
        let xml = valid().replace("Rubrik &amp; &lt;mer&gt;", &long);
        assert_eq!(rules_of(&xml), vec!["subjectlabel"]);
    }

    #[test]
    fn content_files_base64_start() {
        let xml = valid().replace("<tns:content>AAEC", "<tns:content>*AAEC");
        assert_eq!(rules_of(&xml), vec!["contentFiles"]);
    }

    #[test]
    fn sub_org_root() {
        let xml = valid().replacen(FUNCTIONAL_ADDRESS_ROOT, "urn:other", 1);
        assert_eq!(rules_of(&xml), vec!["subOrgRoot"]);
    }
}
