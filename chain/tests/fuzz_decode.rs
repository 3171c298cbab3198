//! Fuzzing (proptest over arbitrary and mutated bytes): seal, manifest and
//! checkpoint decoding never panics, and whatever decodes re-encodes to itself.

use chain::checkpoint::{Checkpoint, Entry};
use chain::manifest::{Manifest, ObjectRef, Seals, Table};
use chain::seal::signing_key;
use chain::{KeyId, Seal, SealKind};
use proptest::prelude::*;

fn seal() -> Seal {
    let mut s = Seal {
        kind: SealKind::Data,
        topic: "audit.events".into(),
        partition: 1,
        seq: 4,
        first_offset: 10,
        last_offset: 19,
        count: 10,
        prev_head: [1; 32],
        head: [2; 32],
        merkle_root: [3; 32],
        high_watermark: 20,
        sealed_at_ms: 1_764_000_000_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    s.sign(&signing_key(&[1; 32]).unwrap_or_else(|e| panic!("{e}")));
    s
}

fn manifest() -> Manifest {
    let mut m = Manifest {
        seals: Seals::one(seal()),
        objects: vec![ObjectRef {
            table: Table::Events,
            key: "events/x.parquet".into(),
            version_id: "v".into(),
            sha256: [4; 32],
            rows: 10,
            bytes: 99,
        }],
        schema_version: 1,
        seq: 2,
        prev_manifest: Some([5; 32]),
        written_at_ms: 1_764_000_001_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    m.sign(&signing_key(&[2; 32]).unwrap_or_else(|e| panic!("{e}")));
    m
}

fn checkpoint() -> Checkpoint {
    let entry = |seq: u64| Entry {
        seq,
        digest: [6; 32],
        last_offset: 99,
        key: "manifests/topic=audit.events/partition=0001/00000000000000000010.json".into(),
    };
    let latest = [
        (("audit.events".to_owned(), 1), entry(4)),
        (("audit.events".to_owned(), 12), entry(0)),
    ];
    let mut c = Checkpoint::next(None, latest.into_iter().collect(), 1_764_000_002_000);
    c.seq = 7;
    c.prev = Some([8; 32]);
    c.sign(&signing_key(&[2; 32]).unwrap_or_else(|e| panic!("{e}")));
    c
}

fn check(bytes: &[u8]) {
    if let Ok(c) = Checkpoint::from_json(bytes) {
        assert_eq!(Checkpoint::from_json(&c.to_json()).ok(), Some(c));
    }
    if let Ok(s) = Seal::from_json(bytes) {
        assert_eq!(Seal::from_json(&s.to_json()).ok(), Some(s));
    }
    if let Ok(m) = Manifest::from_json(bytes) {
        assert_eq!(Manifest::from_json(&m.to_json()).ok(), Some(m));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        check(&bytes);
    }

    #[test]
    fn mutated_seals_manifests_and_checkpoints_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        which in 0..3u8,
    ) {
        let mut bytes = match which {
            0 => seal().to_json(),
            1 => manifest().to_json(),
            _ => checkpoint().to_json(),
        };
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        check(&bytes);
    }
}
