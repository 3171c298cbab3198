//! Properties of the chain: any change to a byte, the order or the set of
//! records changes every later head.

use chain::link::{Chain, Hash, RecordRef, genesis};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Rec {
    offset: i64,
    ts: Option<i64>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl Rec {
    fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            offset: self.offset,
            timestamp_ms: self.ts,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
        }
    }
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    proptest::collection::vec(
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        ),
        2..24,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (ts, key, value))| Rec {
                offset: 100 + i as i64,
                ts,
                key,
                value,
            })
            .collect()
    })
}

/// Heads after each record.
fn heads(recs: &[Rec]) -> Vec<Hash> {
    let mut c = Chain::genesis("audit.events", 3);
    recs.iter()
        .map(|r| {
            c.append(&r.as_ref()).expect("increasing offsets");
            c.head()
        })
        .collect()
}

/// Every head from `from` on differs between the two runs.
fn all_later_differ(a: &[Hash], b: &[Hash], from: usize) -> bool {
    a.iter().zip(b).skip(from).all(|(x, y)| x != y)
}

proptest! {
    #[test]
    fn flipping_any_value_byte_changes_every_later_head(recs in records(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let with_bytes: Vec<usize> = recs.iter().enumerate().filter(|(_, r)| r.value.as_ref().is_some_and(|v| !v.is_empty())).map(|(i, _)| i).collect();
        prop_assume!(!with_bytes.is_empty());
        let i = with_bytes[pick.index(with_bytes.len())];
        let mut changed = recs.clone();
        let v = changed[i].value.as_mut().expect("value");
        let j = pick.index(v.len());
        v[j] ^= 1 << bit;
        prop_assert!(all_later_differ(&heads(&recs), &heads(&changed), i));
    }

    #[test]
    fn changing_key_or_timestamp_changes_every_later_head(recs in records(), pick in any::<prop::sample::Index>()) {
        let i = pick.index(recs.len());
        let mut k = recs.clone();
        k[i].key = match &k[i].key { None => Some(vec![]), Some(_) => None };
        prop_assert!(all_later_differ(&heads(&recs), &heads(&k), i));
        let mut t = recs.clone();
        t[i].ts = Some(t[i].ts.map_or(0, |x| x.wrapping_add(1)));
        prop_assert!(all_later_differ(&heads(&recs), &heads(&t), i));
    }

    #[test]
    fn swapping_two_records_changes_every_later_head(recs in records(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let (i, j) = (a.index(recs.len()), b.index(recs.len()));
        prop_assume!(i != j);
        let (i, j) = (i.min(j), i.max(j));
        // Swap contents but keep offsets increasing, as a reordering attack would.
        let mut swapped = recs.clone();
        let (oi, oj) = (swapped[i].offset, swapped[j].offset);
        swapped.swap(i, j);
        swapped[i].offset = oi;
        swapped[j].offset = oj;
        prop_assume!(swapped[i].ts != recs[i].ts || swapped[i].key != recs[i].key || swapped[i].value != recs[i].value);
        prop_assert!(all_later_differ(&heads(&recs), &heads(&swapped), i));
    }

    #[test]
    fn dropping_a_record_changes_every_later_head(recs in records(), pick in any::<prop::sample::Index>()) {
        let i = pick.index(recs.len() - 1);
        let mut dropped = recs.clone();
        dropped.remove(i);
        // Compare the head after each surviving record with the original head
        // after that same record.
        let original = heads(&recs);
        let after = heads(&dropped);
        for (k, h) in after.iter().enumerate().skip(i) {
            prop_assert_ne!(*h, original[k + 1]);
        }
    }

    #[test]
    fn inserting_a_record_changes_every_later_head(recs in records(), pick in any::<prop::sample::Index>(), extra in proptest::collection::vec(any::<u8>(), 0..16)) {
        let i = pick.index(recs.len());
        let mut inserted: Vec<Rec> = recs.iter().map(|r| Rec { offset: r.offset * 2, ..r.clone() }).collect();
        let base: Vec<Rec> = inserted.clone();
        let offset = if i == 0 { inserted[0].offset - 1 } else { inserted[i - 1].offset + 1 };
        inserted.insert(i, Rec { offset, ts: None, key: None, value: Some(extra) });
        let original = heads(&base);
        let after = heads(&inserted);
        for k in i..base.len() {
            prop_assert_ne!(after[k + 1], original[k]);
        }
    }

    #[test]
    fn changing_an_offset_changes_every_later_head(recs in records(), pick in any::<prop::sample::Index>()) {
        let i = pick.index(recs.len());
        let mut shifted = recs.clone();
        for r in shifted.iter_mut().skip(i) {
            r.offset += 1;
        }
        prop_assert!(all_later_differ(&heads(&recs), &heads(&shifted), i));
    }

    #[test]
    fn genesis_differs_per_topic_and_partition(t1 in "[a-z.]{1,12}", t2 in "[a-z.]{1,12}", p1 in 0i32..64, p2 in 0i32..64) {
        prop_assume!((t1.as_str(), p1) != (t2.as_str(), p2));
        prop_assert_ne!(genesis(&t1, p1), genesis(&t2, p2));
    }
}

#[test]
fn offsets_must_increase() {
    let mut c = Chain::genesis("t", 0);
    let v = b"x".as_slice();
    c.append(&RecordRef {
        offset: 5,
        timestamp_ms: None,
        key: None,
        value: Some(v),
    })
    .expect("first");
    let err = c
        .append(&RecordRef {
            offset: 5,
            timestamp_ms: None,
            key: None,
            value: Some(v),
        })
        .expect_err("repeat");
    assert_eq!((err.expected_at_least, err.got), (6, 5));
}

/// Test vectors published in docs/FORMAT.md. If this fails, the format changed.
#[test]
fn format_test_vectors() {
    let g = genesis("audit.events", 0);
    let mut c = Chain::resume(g, None);
    let d = c
        .append(&RecordRef {
            offset: 0,
            timestamp_ms: Some(1_764_000_000_000),
            key: Some(b"acme"),
            value: Some(b"{}"),
        })
        .expect("append");
    let vectors = format!(
        "genesis={}\ndigest={}\nhead={}\n",
        chain::hex::encode(&g),
        chain::hex::encode(&d),
        chain::hex::encode(&c.head())
    );
    let doc = include_str!("../../docs/FORMAT.md");
    assert!(
        doc.contains(&vectors),
        "docs/FORMAT.md must contain:\n{vectors}"
    );
}

/// The seal, key id, Merkle and manifest vectors published in
/// docs/FORMAT.md §10 (Ed25519 signatures are deterministic).
#[test]
fn seal_and_manifest_test_vectors() {
    use chain::manifest::{Manifest, ObjectRef, Seals, Table};
    use chain::seal::signing_key;
    use chain::{KeyId, Seal, SealKind, merkle};
    use sha2::{Digest, Sha256};

    let hex = chain::hex::encode;
    let mut c = Chain::genesis("audit.events", 0);
    let mut leaves = Vec::new();
    for (offset, value) in [(0i64, &b"{}"[..]), (1, b"{\"a\":1}"), (2, b"{\"b\":2}")] {
        let r = RecordRef {
            offset,
            timestamp_ms: Some(1_764_000_000_000 + offset),
            key: Some(b"acme"),
            value: Some(value),
        };
        leaves.push(chain::record_digest(&r));
        c.append(&r).expect("append");
    }
    let sealer = signing_key(&[1; 32]).expect("key");
    let archiver = signing_key(&[2; 32]).expect("key");
    let mut seal = Seal {
        kind: SealKind::Data,
        topic: "audit.events".into(),
        partition: 0,
        seq: 0,
        first_offset: 0,
        last_offset: 2,
        count: 3,
        prev_head: genesis("audit.events", 0),
        head: c.head(),
        merkle_root: merkle::root(&leaves),
        high_watermark: 3,
        sealed_at_ms: 1_764_000_000_500,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    seal.sign(&sealer);
    let mut m = Manifest {
        seals: Seals::one(seal.clone()),
        objects: vec![ObjectRef {
            table: Table::Events,
            key: "events/k.parquet".into(),
            version_id: "v1".into(),
            sha256: [0xab; 32],
            rows: 3,
            bytes: 1000,
        }],
        schema_version: 1,
        seq: 0,
        prev_manifest: None,
        written_at_ms: 1_764_000_001_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    m.sign(&archiver);
    let path = merkle::inclusion_path(&leaves, 2).expect("path");
    let vectors = format!(
        "sealer_public={}\nsealer_key_id={}\nmerkle_root={}\npath_of_leaf_2={}\nseal_head={}\nseal_message_sha256={}\nseal_sig={}\narchiver_key_id={}\nmanifest_digest={}\nmanifest_sig={}\n",
        hex(sealer.verifying_key().as_bytes()),
        KeyId::of(&sealer.verifying_key()),
        hex(&seal.merkle_root),
        path.iter().map(|h| hex(h)).collect::<Vec<_>>().join(","),
        hex(&seal.head),
        hex(&Sha256::digest(seal.signing_message())),
        hex(&seal.signature),
        KeyId::of(&archiver.verifying_key()),
        hex(&m.digest()),
        hex(&m.signature),
    );
    let doc = include_str!("../../docs/FORMAT.md");
    assert!(
        doc.contains(&vectors),
        "docs/FORMAT.md must contain:\n{vectors}"
    );
}

/// FORMAT.md §3 written out as one concatenation, for comparison with the
/// laid-out implementation.
fn spec_digest(r: &RecordRef<'_>) -> Hash {
    use sha2::{Digest, Sha256};
    let bytes = |b: Option<&[u8]>| match b {
        None => u32::MAX.to_be_bytes().to_vec(),
        Some(b) => [&(b.len() as u32).to_be_bytes()[..], b].concat(),
    };
    let m = [
        &b"auditlog/v1/record\0"[..],
        &r.offset.to_be_bytes(),
        &r.timestamp_ms.unwrap_or(-1).to_be_bytes(),
        &bytes(r.key),
        &bytes(r.value),
    ]
    .concat();
    Sha256::digest(m).into()
}

proptest! {
    #[test]
    fn record_digest_is_the_specified_concatenation(
        offset in any::<i64>(),
        ts in proptest::option::of(any::<i64>()),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    ) {
        let r = RecordRef { offset, timestamp_ms: ts, key: key.as_deref(), value: value.as_deref() };
        prop_assert_eq!(chain::record_digest(&r), spec_digest(&r));
    }

    #[test]
    fn a_link_is_the_specified_concatenation(prev in any::<[u8; 32]>(), d in any::<[u8; 32]>()) {
        use sha2::{Digest, Sha256};
        let want: Hash = Sha256::digest([&b"auditlog/v1/link\0"[..], &prev, &d].concat()).into();
        prop_assert_eq!(chain::link::link(&prev, &d), want);
    }
}
