//! The receive pipeline's own checks, on parsed messages: P-Mode choice (EBMS:0010) and the profile checks
//! (required properties EBMS:0003; SDK final recipient not served: EBMS:0004 NOT_SERVICED; test service exempt).

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{ErrorCode, Property, Service};
use access_point::msh::receive::{check_profile, choose_pmode, NOT_SERVICED};
use pmode::{PModeSet, Profile};

fn sdk_set() -> PModeSet {
    PModeSet::from_toml_str(pmode::builtin::SDK_PROFILE_TOML, "<builtin>/sdk.toml").unwrap()
}

fn sdk_message() -> access_point::ebms::UserMessage {
    let mut user = sample_user_message(1);
    user.collaboration_info.agreement_ref = None;
    user
}

#[test]
fn an_sdk_message_finds_its_pmode_and_a_stranger_gets_ebms_0010() {
    let set = sdk_set();
    let pmode = choose_pmode(&set, &sdk_message()).unwrap();
    assert_eq!(pmode.id, pmode::builtin::SDK_MESSAGE_ID);

    let mut other = sdk_message();
    other.collaboration_info.action = "urn:example:unknown-action".into();
    let err = choose_pmode(&set, &other).unwrap_err();
    assert_eq!(err.code, ErrorCode::ProcessingModeMismatch);
    assert_eq!(
        err.ref_to_message_in_error.as_deref(),
        Some(other.message_info.message_id.as_str())
    );
}

#[test]
fn final_recipient_must_be_served() {
    let set = sdk_set();
    let user = sdk_message();
    let pmode = choose_pmode(&set, &user).unwrap();
    let recipient = user.property("finalRecipient").unwrap().value.clone();
    assert!(check_profile(&pmode, &user, |p| p == recipient).is_ok());
    let err = check_profile(&pmode, &user, |_| false).unwrap_err();
    assert_eq!(err.code, ErrorCode::Other);
    assert_eq!(err.code.code(), "EBMS:0004");
    assert_eq!(err.detail, NOT_SERVICED);
}

#[test]
fn required_properties_must_be_present_and_not_empty() {
    let set = sdk_set();
    for missing in ["originalSender", "finalRecipient"] {
        let mut user = sdk_message();
        user.message_properties.retain(|p| p.name != missing);
        let pmode = choose_pmode(&set, &user).unwrap();
        let err = check_profile(&pmode, &user, |_| true).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValueInconsistent, "{missing}");
        assert!(err.detail.contains(missing), "{}", err.detail);

        let mut empty = sdk_message();
        for p in &mut empty.message_properties {
            if p.name == missing {
                *p = Property::typed(missing, "iso6523-actorid-upis", " ");
            }
        }
        assert!(check_profile(&pmode, &empty, |_| true).is_err(), "empty {missing}");
    }
}

#[test]
fn the_test_service_is_exempt_from_business_checks() {
    let set = sdk_set();
    let mut user = sdk_message();
    user.collaboration_info.service = Service::test();
    user.collaboration_info.action = access_point::ebms::ns::TEST_ACTION.into();
    user.message_properties.clear();
    let pmode = choose_pmode(&set, &user).unwrap();
    assert_eq!(pmode.profile, Profile::Sdk);
    assert!(check_profile(&pmode, &user, |_| false).is_ok());
}
