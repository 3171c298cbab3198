//! Inclusion proofs hold for every record of a range and fail after any
//! single byte of the stored proof changes.

use chain::link::{Chain, RecordRef, genesis, record_digest};
use chain::manifest::{Manifest, ObjectRef, Seals, Table};
use chain::seal::signing_key;
use chain::{KeyId, Seal, SealKind, merkle};
use verify::proof::{Proof, build, check, to_json};
use verify::registry::{Registry, Role};
use verify::rows::Row;

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            offset: 40 + i as i64,
            timestamp_ms: if i == 2 {
                None
            } else {
                Some(1_764_000_000_000 + i as i64)
            },
            key: (i != 1).then(|| format!("tenant-{i}").into_bytes()),
            value: Some(format!("{{\"event_id\":\"e{i}\",\"n\":{i}}}").into_bytes()),
        })
        .collect()
}

/// The manifest of a run of seals of at most 3 records each over `rs`, so
/// proofs are checked against inner seals too.
fn manifest(rs: &[Row]) -> Manifest {
    let mut head = genesis("t", 3);
    let mut seals = Vec::new();
    for (i, chunk) in rs.chunks(3).enumerate() {
        let mut c = Chain::resume(head, None);
        let leaves: Vec<_> = chunk
            .iter()
            .map(|r| {
                let rr = RecordRef {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                };
                c.append(&rr).unwrap_or_else(|e| panic!("{e:?}"));
                record_digest(&rr)
            })
            .collect();
        let mut seal = Seal {
            kind: SealKind::Data,
            topic: "t".into(),
            partition: 3,
            seq: i as u64,
            first_offset: chunk[0].offset,
            last_offset: chunk[chunk.len() - 1].offset,
            count: chunk.len() as u64,
            prev_head: head,
            head: c.head(),
            merkle_root: merkle::root(&leaves),
            high_watermark: 50,
            sealed_at_ms: 1_764_000_000_000,
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        };
        seal.sign(&signing_key(&[1; 32]).unwrap_or_else(|e| panic!("{e}")));
        head = seal.head;
        seals.push(seal);
    }
    let mut m = Manifest {
        seals: Seals::new(seals).unwrap_or_else(|| panic!("no rows")),
        objects: vec![ObjectRef {
            table: Table::Events,
            key: "events/x.parquet".into(),
            version_id: "v1".into(),
            sha256: [7; 32],
            rows: rs.len() as u64,
            bytes: 100,
        }],
        schema_version: 1,
        seq: 0,
        prev_manifest: None,
        written_at_ms: 1_764_000_001_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    m.sign(&signing_key(&[2; 32]).unwrap_or_else(|e| panic!("{e}")));
    m
}

fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(
        signing_key(&[1; 32])
            .unwrap_or_else(|e| panic!("{e}"))
            .verifying_key(),
        Role::Sealer,
    );
    r.add(
        signing_key(&[2; 32])
            .unwrap_or_else(|e| panic!("{e}"))
            .verifying_key(),
        Role::Archiver,
    );
    r
}

fn holds(text: &[u8], reg: &Registry) -> bool {
    serde_json::from_slice::<Proof>(text).is_ok_and(|p| check(&p, reg).is_empty())
}

#[test]
fn every_record_of_a_range_has_a_proof_that_holds() {
    let reg = registry();
    for n in [1usize, 2, 3, 5, 8, 13] {
        let rs = rows(n);
        let m = manifest(&rs);
        for i in 0..n {
            let p = build(&m, &m.to_json(), "events/x.parquet", &rs, i)
                .unwrap_or_else(|| panic!("no proof"));
            assert!(
                check(&p, &reg).is_empty(),
                "n={n} i={i}: {:?}",
                check(&p, &reg)
            );
        }
    }
}

#[test]
fn changing_any_byte_of_a_stored_proof_makes_it_fail() {
    let reg = registry();
    let rs = rows(7);
    let m = manifest(&rs);
    let p =
        build(&m, &m.to_json(), "events/x.parquet", &rs, 4).unwrap_or_else(|| panic!("no proof"));
    let text = to_json(&p).into_bytes();
    assert!(holds(&text, &reg));
    for i in 0..text.len() {
        for flip in [0x01u8, 0x20] {
            let mut t = text.clone();
            t[i] ^= flip;
            assert!(
                !holds(&t, &reg),
                "byte {i} ({:?} → {:?}) changed and the proof still holds",
                char::from(text[i]),
                char::from(t[i])
            );
        }
    }
}

#[test]
fn a_proof_under_an_unknown_key_fails() {
    let rs = rows(3);
    let m = manifest(&rs);
    let p =
        build(&m, &m.to_json(), "events/x.parquet", &rs, 0).unwrap_or_else(|| panic!("no proof"));
    let mut only_sealer = Registry::default();
    only_sealer.add(
        signing_key(&[1; 32])
            .unwrap_or_else(|e| panic!("{e}"))
            .verifying_key(),
        Role::Sealer,
    );
    let bad = check(&p, &only_sealer);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("unregistered key"), "{bad:?}");
}
