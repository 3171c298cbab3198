//! Seal signing, encoding and the canonical-chain rule.

use chain::canonical::{Rejection, Tip, apply};
use chain::link::{Chain, RecordRef};
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind, signing_key};
use ed25519_dalek::{SigningKey, VerifyingKey};

fn key(n: u8) -> SigningKey {
    signing_key(&[n; 32]).expect("32 bytes")
}

/// A signed data seal over `values` at `first`, extending `tip`.
fn seal_over(tip: &Tip, seq: u64, first: i64, values: &[&[u8]], k: &SigningKey) -> Seal {
    let mut chain = Chain::resume(tip.head, tip.next_offset);
    let leaves: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            chain
                .append(&RecordRef {
                    offset: first + i as i64,
                    timestamp_ms: Some(1),
                    key: None,
                    value: Some(v),
                })
                .expect("append")
        })
        .collect();
    let mut s = Seal {
        kind: SealKind::Data,
        topic: "t".into(),
        partition: 2,
        seq,
        first_offset: first,
        last_offset: first + values.len() as i64 - 1,
        count: values.len() as u64,
        prev_head: tip.head,
        head: chain.head(),
        merkle_root: merkle::root(&leaves),
        high_watermark: first + values.len() as i64,
        sealed_at_ms: 1_764_000_000_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    s.sign(k);
    s
}

fn keys<'a>(known: &'a [&'a SigningKey]) -> impl Fn(&KeyId) -> Option<VerifyingKey> + 'a {
    move |id| {
        known
            .iter()
            .map(|k| k.verifying_key())
            .find(|v| KeyId::of(v) == *id)
    }
}

#[test]
fn signatures_cover_every_byte_of_the_signing_message() {
    let k = key(1);
    let s = seal_over(&Tip::genesis("t", 2), 0, 0, &[b"a", b"b"], &k);
    assert!(s.verify(&k.verifying_key()).is_ok());
    let mut tampered = s.clone();
    tampered.count += 1;
    assert!(tampered.verify(&k.verifying_key()).is_err());
    let mut tampered = s.clone();
    tampered.head[31] ^= 1;
    assert!(tampered.verify(&k.verifying_key()).is_err());
    let mut tampered = s.clone();
    tampered.sealed_at_ms += 1;
    assert!(tampered.verify(&k.verifying_key()).is_err());
    assert!(
        s.verify(&key(2).verifying_key()).is_err(),
        "another key must not verify"
    );
}

#[test]
fn json_round_trips_and_rejects_bad_fields() {
    let s = seal_over(&Tip::genesis("t", 2), 0, 0, &[b"a"], &key(1));
    assert_eq!(Seal::from_json(&s.to_json()), Ok(s.clone()));
    let text = String::from_utf8(s.to_json()).expect("utf8");
    let broken = text.replace(&chain::hex::encode(&s.head), "zz");
    assert!(Seal::from_json(broken.as_bytes()).is_err());
    assert!(Seal::from_json(b"{}").is_err());
}

#[test]
fn canonical_rule_follows_the_first_valid_successor() {
    let k = key(1);
    let known = [&k];
    let mut tip = Tip::genesis("t", 2);
    let s0 = seal_over(&tip, 0, 0, &[b"a", b"b"], &k);
    assert_eq!(apply(&mut tip, "t", 2, &s0, keys(&known)), Ok(()));
    // Two rivals for seq 1: the owner's covers 2..3, a zombie's covers 2..4.
    let owner = seal_over(&tip, 1, 2, &[b"c", b"d"], &k);
    let zombie = seal_over(&tip, 1, 2, &[b"c", b"d", b"e"], &k);
    let before = tip.clone();
    assert_eq!(
        apply(&mut tip, "t", 2, &zombie, keys(&known)),
        Ok(()),
        "first in log order wins"
    );
    assert_eq!(
        apply(&mut tip, "t", 2, &owner, keys(&known)),
        Err(Rejection::Superseded)
    );
    // A seal extending the loser does not extend the canonical tip.
    let after_owner = Tip::after(&owner);
    let fork = seal_over(&after_owner, 2, 4, &[b"e"], &k);
    assert_eq!(
        apply(&mut tip, "t", 2, &fork, keys(&known)),
        Err(Rejection::DoesNotExtend)
    );
    // The loser adopts the winner's head and continues after its last offset.
    let next = seal_over(&tip, 2, 5, &[b"f"], &k);
    assert_eq!(apply(&mut tip, "t", 2, &next, keys(&known)), Ok(()));
    assert_eq!(tip.next_seq, 3);
    assert_ne!(before, tip);
}

#[test]
fn canonical_rule_refuses_unknown_keys_bad_signatures_gaps_and_strangers() {
    let k = key(1);
    let stranger = key(9);
    let known = [&k];
    let mut tip = Tip::genesis("t", 2);
    let forged = seal_over(&tip, 0, 0, &[b"a"], &stranger);
    assert!(matches!(
        apply(&mut tip, "t", 2, &forged, keys(&known)),
        Err(Rejection::UnknownKey(_))
    ));
    let mut bad = seal_over(&tip, 0, 0, &[b"a"], &k);
    bad.signature[0] ^= 1;
    assert_eq!(
        apply(&mut tip, "t", 2, &bad, keys(&known)),
        Err(Rejection::BadSignature)
    );
    let s0 = seal_over(&tip, 0, 0, &[b"a"], &k);
    assert_eq!(apply(&mut tip, "t", 2, &s0, keys(&known)), Ok(()));
    let gap = seal_over(&tip, 1, 5, &[b"b"], &k);
    assert_eq!(
        apply(&mut tip, "t", 2, &gap, keys(&known)),
        Err(Rejection::DoesNotExtend)
    );
    let skip = seal_over(&tip, 2, 1, &[b"b"], &k);
    assert_eq!(
        apply(&mut tip, "t", 2, &skip, keys(&known)),
        Err(Rejection::DoesNotExtend)
    );
    assert_eq!(
        apply(&mut tip, "t", 3, &s0, keys(&known)),
        Err(Rejection::WrongPartition)
    );
}

#[test]
fn heartbeats_are_well_formed_only_when_empty() {
    let k = key(1);
    let tip = Tip::genesis("t", 2);
    let mut hb = Seal {
        kind: SealKind::Heartbeat,
        topic: "t".into(),
        partition: 2,
        seq: 0,
        first_offset: 0,
        last_offset: -1,
        count: 0,
        prev_head: tip.head,
        head: tip.head,
        merkle_root: merkle::empty_root(),
        high_watermark: 0,
        sealed_at_ms: 5,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    hb.sign(&k);
    assert!(hb.is_well_formed());
    let mut t = tip.clone();
    assert_eq!(apply(&mut t, "t", 2, &hb, keys(&[&k])), Ok(()));
    assert_eq!(t.next_offset, Some(0));
    let mut not_empty = hb.clone();
    not_empty.count = 1;
    assert!(!not_empty.is_well_formed());
}
