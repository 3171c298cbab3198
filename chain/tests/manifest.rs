//! Manifest signing, encoding and chaining.

use chain::manifest::{Manifest, ObjectRef, Table};
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind, signing_key};

fn seal() -> Seal {
    let mut s = Seal {
        kind: SealKind::Data,
        topic: "audit.events".into(),
        partition: 1,
        seq: 3,
        first_offset: 10,
        last_offset: 19,
        count: 10,
        prev_head: [1; 32],
        head: [2; 32],
        merkle_root: merkle::empty_root(),
        high_watermark: 20,
        sealed_at_ms: 5,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    s.sign(&signing_key(&[4; 32]).expect("key"));
    s
}

fn manifest(prev: Option<[u8; 32]>) -> Manifest {
    let mut m = Manifest {
        seal: seal(),
        objects: vec![
            ObjectRef {
                table: Table::Events,
                key: "events/topic=audit.events/dt=2026-11-26/hour=10/partition=0001/00000000000000000010.parquet".into(),
                version_id: "v1".into(),
                sha256: [9; 32],
                rows: 9,
                bytes: 1234,
            },
            ObjectRef {
                table: Table::DeadLetters,
                key: "dead_letters/…".into(),
                version_id: "v2".into(),
                sha256: [8; 32],
                rows: 1,
                bytes: 99,
            },
        ],
        schema_version: 1,
        seq: 3,
        prev_manifest: prev,
        written_at_ms: 1_795_700_000_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    m.sign(&signing_key(&[5; 32]).expect("key"));
    m
}

#[test]
fn signature_covers_every_field() {
    let k = signing_key(&[5; 32]).expect("key").verifying_key();
    let m = manifest(None);
    assert!(m.verify(&k).is_ok());
    let tampers: Vec<Box<dyn Fn(&mut Manifest)>> = vec![
        Box::new(|m| m.objects[0].rows += 1),
        Box::new(|m| m.objects[0].sha256[0] ^= 1),
        Box::new(|m| m.objects[1].version_id.push('x')),
        Box::new(|m| m.objects[0].key.push('x')),
        Box::new(|m| m.objects.pop().map(drop).unwrap_or_default()),
        Box::new(|m| m.prev_manifest = Some([0; 32])),
        Box::new(|m| m.seal.head[0] ^= 1),
        Box::new(|m| m.seal.signature[0] ^= 1),
        Box::new(|m| m.written_at_ms += 1),
        Box::new(|m| m.schema_version = 2),
        Box::new(|m| m.seq += 1),
    ];
    for (i, t) in tampers.iter().enumerate() {
        let mut x = m.clone();
        t(&mut x);
        assert!(x.verify(&k).is_err(), "tamper {i} not detected");
    }
}

#[test]
fn json_round_trips() {
    let m = manifest(Some([7; 32]));
    assert_eq!(Manifest::from_json(&m.to_json()), Ok(m.clone()));
    let m = manifest(None);
    assert_eq!(Manifest::from_json(&m.to_json()), Ok(m));
    assert!(Manifest::from_json(b"{\"v\":2}").is_err());
}

#[test]
fn digests_chain_manifests() {
    let first = manifest(None);
    let second = manifest(Some(first.digest()));
    assert_eq!(second.prev_manifest, Some(first.digest()));
    assert_ne!(first.digest(), second.digest());
    // The digest does not depend on the signature bytes.
    let mut resigned = first.clone();
    resigned.signature = [0; 64];
    assert_eq!(resigned.digest(), first.digest());
}
