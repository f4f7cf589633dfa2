//! Parses arbitrary bytes with the hardened DOM and canonicalises every element (and the whole document) in
//! exclusive (with and without a PrefixList) and inclusive mode. The canonical form must parse again and
//! canonicalise to itself (a fixed point). Every `ds:Signature` element is also parsed and verified as an enveloped
//! signature, which must fail (or succeed) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmldsig::algorithms::DSIG_NS;
use xmldsig::dom::{Document, NodeId, ParseLimits};
use xmldsig::{canonicalize_to_vec, verify_enveloped, C14nMode, NodeSet, Policy, Signature};

fn limits() -> ParseLimits {
    ParseLimits { max_bytes: 64 * 1024, max_depth: 32, max_nodes: 2_000, max_attributes: 32 }
}

fn check_fixed_point(canonical: &[u8], mode: &C14nMode) {
    let again = Document::parse(canonical, &limits())
        .unwrap_or_else(|e| panic!("canonical form does not parse ({e}): {}", String::from_utf8_lossy(canonical)));
    let twice = canonicalize_to_vec(&again, &NodeSet::document(&again), mode);
    assert_eq!(
        String::from_utf8_lossy(canonical),
        String::from_utf8_lossy(&twice),
        "canonicalisation is not a fixed point under {mode:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = Document::parse(data, &limits()) else {
        return;
    };
    let modes = [
        C14nMode::exclusive(),
        C14nMode::Exclusive { inclusive_prefixes: vec!["a".into(), "#default".into()] },
        C14nMode::Inclusive,
    ];
    let elements: Vec<NodeId> = doc.all_nodes().filter(|n| doc.element(*n).is_some()).collect();
    for mode in &modes {
        let whole = canonicalize_to_vec(&doc, &NodeSet::document(&doc), mode);
        check_fixed_point(&whole, mode);
        for &e in elements.iter().take(64) {
            check_fixed_point(&canonicalize_to_vec(&doc, &NodeSet::subtree(e), mode), mode);
        }
    }
    for &e in &elements {
        if doc.is(e, DSIG_NS, "Signature") {
            let _ = Signature::parse(&doc, e);
            // The whole verification path (policy, Ids, transforms, digests, KeyInfo) must fail cleanly.
            let _ = verify_enveloped(&doc, e, &Policy::default());
        }
    }
});
