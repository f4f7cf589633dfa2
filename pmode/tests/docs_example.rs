//! The example in docs/pmode.md is valid and behaves as the text says.

use pmode::*;

fn example() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pmode.md")).unwrap();
    let section = &doc[doc.find("## Example").expect("example section")..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    section[start..start + section[start..].find("```").unwrap()].to_string()
}

#[test]
fn the_documented_example_loads_and_wins_for_its_partner() {
    let mut set = PModeSet::from_toml_str(&example(), "docs/pmode.md").unwrap_or_else(|e| panic!("{e}"));
    set.merge(PModeSet::from_pmodes(builtin::sdk_profile(), "<builtin>").unwrap())
        .unwrap();
    let keys = |to: &str| OutgoingKeys {
        to_party: PartyId::new(to, Some(validate::SDK_PARTY_ID_TYPE)),
        service: Service::new(builtin::SDK_SERVICE, Some(validate::SDK_SERVICE_TYPE)),
        action: builtin::SDK_MESSAGE_ACTION.into(),
        pmode_id: None,
    };
    assert_eq!(
        set.match_outgoing(&keys("AP0045-SDK-PROD")).unwrap().id,
        "sdk-message-ap0045"
    );
    assert_eq!(set.match_outgoing(&keys("AP0046-SDK-PROD")).unwrap().id, "sdk-message");
}
