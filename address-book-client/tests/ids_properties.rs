//! Properties of the identifier checks: every number with a correct Luhn/GS1 check digit is accepted, and every
//! single-digit change of a valid number is refused (both check digits detect all single-digit errors).

use address_book_client::{OrganisationNumber, ParticipantId};
use proptest::prelude::*;

fn luhn_check_digit(body: &[u8]) -> u8 {
    // Weights 2,1,2,... from the right of the body (the check digit will take the rightmost position).
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn gln_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn text(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

proptest! {
    #[test]
    fn organisation_numbers(body in proptest::collection::vec(0u8..10, 9), position in 0usize..10, delta in 1u8..10) {
        let mut digits = body.clone();
        digits.push(luhn_check_digit(&body));
        let valid = text(&digits);
        prop_assert!(OrganisationNumber::parse(&valid).is_ok());
        let with_icd = format!("0007:{valid}");
        prop_assert!(ParticipantId::parse(&with_icd).is_ok());
        digits[position] = (digits[position] + delta) % 10;
        prop_assert!(OrganisationNumber::parse(&text(&digits)).is_err());
    }

    #[test]
    fn glns(body in proptest::collection::vec(0u8..10, 12), position in 0usize..13, delta in 1u8..10) {
        let mut digits = body.clone();
        digits.push(gln_check_digit(&body));
        let valid = format!("0088:{}", text(&digits));
        prop_assert!(ParticipantId::parse(&valid).is_ok());
        digits[position] = (digits[position] + delta) % 10;
        let changed = format!("0088:{}", text(&digits));
        prop_assert!(ParticipantId::parse(&changed).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        let _ = ParticipantId::parse(&s);
        let _ = OrganisationNumber::parse(&s);
        let _ = address_book_client::DocumentId::parse(&s);
        let _ = address_book_client::FunctionalAddressId::parse(&s);
    }
}
