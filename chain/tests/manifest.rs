//! Manifest signing, encoding and chaining.

use chain::manifest::{Manifest, ObjectRef, Seals, Table};
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
        seals: Seals::one(seal()),
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
    type Tamper = Box<dyn Fn(&mut Manifest)>;
    let tampers: Vec<Tamper> = vec![
        Box::new(|m| m.objects[0].rows += 1),
        Box::new(|m| m.objects[0].sha256[0] ^= 1),
        Box::new(|m| m.objects[1].version_id.push('x')),
        Box::new(|m| m.objects[0].key.push('x')),
        Box::new(|m| m.objects.pop().map(drop).unwrap_or_default()),
        Box::new(|m| m.prev_manifest = Some([0; 32])),
        Box::new(|m| m.seals.as_mut_slice()[0].head[0] ^= 1),
        Box::new(|m| m.seals.as_mut_slice()[0].signature[0] ^= 1),
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

/// The manifest above with a second seal after the first.
fn run_of_two() -> Manifest {
    let mut m = manifest(None);
    let first = m.seals.first().clone();
    let mut next = Seal {
        seq: first.seq + 2,
        first_offset: first.last_offset + 1,
        last_offset: first.last_offset + 5,
        count: 5,
        prev_head: first.head,
        head: [3; 32],
        sealed_at_ms: first.sealed_at_ms + 100,
        ..first.clone()
    };
    next.sign(&signing_key(&[4; 32]).expect("key"));
    m.seals = Seals::new(vec![first, next]).expect("two");
    m.sign(&signing_key(&[5; 32]).expect("key"));
    m
}

#[test]
fn a_run_of_seals_round_trips_and_every_seal_is_signed_over() {
    let k = signing_key(&[5; 32]).expect("key").verifying_key();
    let m = run_of_two();
    assert_eq!(Manifest::from_json(&m.to_json()), Ok(m.clone()));
    assert!(m.verify(&k).is_ok());
    assert_eq!(
        (
            m.seals.first_offset(),
            m.seals.last_offset(),
            m.seals.count()
        ),
        (10, 24, 15)
    );
    assert_eq!(
        m.seals.sealed_at_ms(),
        105,
        "a range is as old as its last seal"
    );
    for tamper in [
        |m: &mut Manifest| m.seals.as_mut_slice()[1].head[0] ^= 1,
        |m: &mut Manifest| m.seals.as_mut_slice()[1].signature[0] ^= 1,
        |m: &mut Manifest| m.seals.as_mut_slice().swap(0, 1),
        |m: &mut Manifest| m.seals = Seals::one(m.seals.first().clone()),
    ] {
        let mut x = m.clone();
        tamper(&mut x);
        assert!(x.verify(&k).is_err());
    }
    // No seals at all is not a manifest.
    let json = String::from_utf8(m.to_json()).expect("utf8");
    let start = json.find("\"seals\"").expect("seals");
    let end = json[start..].find("\"objects\"").expect("objects") + start;
    let empty = format!("{}\"seals\": [],\n  {}", &json[..start], &json[end..]);
    let err = Manifest::from_json(empty.as_bytes()).expect_err("no seals");
    assert!(err.to_string().contains("at least one seal"), "{err}");
}
