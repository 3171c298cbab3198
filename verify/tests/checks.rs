//! The pure checks against hand-made ranges: each kind of damage gets its
//! own finding, and an intact range gets none.

use chain::link::{Chain, RecordRef, genesis, record_digest};
use chain::manifest::{Manifest, Seals};
use chain::seal::signing_key;
use chain::{KeyId, Seal, SealKind, merkle};
use proptest::prelude::*;
use verify::FindingKind as K;
use verify::checks::{
    check_chain, check_fork, check_placement, check_rows, check_rows_hashed, check_signatures,
};
use verify::registry::{Entry, Registry, Role};
use verify::rows::Row;

fn rows(first: i64, n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            offset: first + i as i64,
            timestamp_ms: Some(1_764_000_000_000 + i as i64),
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("{{\"n\":{i}}}").into_bytes()),
        })
        .collect()
}

fn seal_over(prev_head: [u8; 32], seq: u64, rs: &[Row]) -> Seal {
    let mut c = Chain::resume(prev_head, None);
    let mut leaves = Vec::new();
    for r in rs {
        let rr = RecordRef {
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
        };
        leaves.push(record_digest(&rr));
        c.append(&rr).unwrap_or_else(|e| panic!("{e:?}"));
    }
    let mut s = Seal {
        kind: SealKind::Data,
        topic: "t".into(),
        partition: 0,
        seq,
        first_offset: rs[0].offset,
        last_offset: rs[rs.len() - 1].offset,
        count: rs.len() as u64,
        prev_head,
        head: c.head(),
        merkle_root: merkle::root(&leaves),
        high_watermark: rs[rs.len() - 1].offset + 1,
        sealed_at_ms: 1_764_000_000_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    s.sign(&signing_key(&[1; 32]).unwrap_or_else(|e| panic!("{e}")));
    s
}

fn kinds(f: &[verify::Finding]) -> Vec<K> {
    let mut k: Vec<K> = f.iter().map(|f| f.kind).collect();
    k.dedup();
    k
}

fn one(rs: Vec<Row>) -> Vec<(String, Vec<Row>)> {
    vec![("obj".into(), rs)]
}

proptest! {
    #[test]
    fn each_damage_has_its_name(n in 2usize..40, pick in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let rs = rows(100, n);
        let seal = seal_over(genesis("t", 0), 0, &rs);
        prop_assert!(check_rows(&Seals::one(seal.clone()), one(rs.clone())).is_empty());
        let i = pick.index(n);

        let mut edited = rs.clone();
        let v = edited[i].value.get_or_insert_with(Vec::new);
        v.push(byte);
        prop_assert_eq!(kinds(&check_rows(&Seals::one(seal.clone()), one(edited))), vec![K::RecordAltered]);

        let mut dropped = rs.clone();
        dropped.remove(i);
        let f = check_rows(&Seals::one(seal.clone()), one(dropped));
        prop_assert_eq!(kinds(&f), vec![K::RecordMissing]);
        let expected_offset = format!("[{}]", 100 + i as i64);
        prop_assert!(f[0].detail.contains(&expected_offset), "{}", f[0].detail);

        let mut swapped = rs.clone();
        let j = if i + 1 < n { i + 1 } else { i - 1 };
        swapped.swap(i, j);
        prop_assert_eq!(kinds(&check_rows(&Seals::one(seal.clone()), one(swapped))), vec![K::RecordsOutOfOrder]);

        let mut appended = rs.clone();
        appended.push(rows(100 + n as i64, 1).remove(0));
        prop_assert_eq!(kinds(&check_rows(&Seals::one(seal.clone()), one(appended))), vec![K::RecordInjected]);

        let mut repeated = rs.clone();
        repeated.push(rs[i].clone());
        let f = check_rows(&Seals::one(seal.clone()), one(repeated));
        prop_assert!(kinds(&f).contains(&K::RecordInjected), "{:?}", f);
    }
}

fn manifest(seal: Seal, seq: u64, prev: Option<&Manifest>) -> Manifest {
    run_manifest(vec![seal], seq, prev)
}

fn run_manifest(seals: Vec<Seal>, seq: u64, prev: Option<&Manifest>) -> Manifest {
    let mut m = Manifest {
        seals: Seals::new(seals).unwrap_or_else(|| panic!("no seals")),
        objects: Vec::new(),
        schema_version: 1,
        seq,
        prev_manifest: prev.map(Manifest::digest),
        written_at_ms: 1_764_000_001_000,
        key_id: KeyId([0; 16]),
        signature: [0; 64],
    };
    m.sign(&signing_key(&[2; 32]).unwrap_or_else(|e| panic!("{e}")));
    m
}

/// Four consecutive manifests over 10 records each.
fn partition() -> Vec<(String, Manifest)> {
    let mut out: Vec<(String, Manifest)> = Vec::new();
    let mut head = genesis("t", 0);
    for seq in 0..4u64 {
        let s = seal_over(head, seq * 2, &rows(seq as i64 * 10, 10));
        head = s.head;
        let m = manifest(s, seq, out.last().map(|(_, m)| m));
        out.push((format!("m{seq}"), m));
    }
    out
}

#[test]
fn an_intact_chain_of_manifests_has_no_findings() {
    let (f, missing) = check_chain("t", 0, &partition(), true);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(missing, 0);
}

#[test]
fn missing_manifests_are_counted_in_the_middle_and_at_the_start() {
    let mut p = partition();
    p.drain(1..3);
    let (f, missing) = check_chain("t", 0, &p, true);
    assert_eq!(kinds(&f), vec![K::ManifestMissing]);
    assert_eq!(missing, 2);
    assert_eq!(f[0].offsets, Some((10, 29)));

    let mut p = partition();
    p.remove(0);
    let (f, missing) = check_chain("t", 0, &p, true);
    assert_eq!(kinds(&f), vec![K::ManifestMissing]);
    assert_eq!(missing, 1);
    assert!(check_chain("t", 0, &p, false).0.is_empty());
}

#[test]
fn an_offset_gap_and_a_broken_link_are_named() {
    let p = partition();
    // Seal 2 re-made to start one record late, but linked to seal 1's head.
    let mut rs = rows(20, 10);
    rs.remove(0);
    let s = seal_over(p[1].1.seals.head(), 4, &rs);
    let m2 = manifest(s, 2, Some(&p[1].1));
    let forged = vec![p[0].clone(), p[1].clone(), ("m2".into(), m2)];
    let (f, _) = check_chain("t", 0, &forged, true);
    assert_eq!(kinds(&f), vec![K::OffsetGap]);
    assert_eq!(f[0].offsets, Some((20, 20)));

    let mut relinked = p.clone();
    relinked[2].1.prev_manifest = Some([0; 32]);
    let (f, _) = check_chain("t", 0, &relinked, true);
    assert_eq!(kinds(&f), vec![K::ManifestChainBroken]);
}

#[test]
fn two_successors_of_one_head_are_a_fork() {
    let p = partition();
    // A rival of seal 2: same predecessor, fewer records.
    let rival_seal = seal_over(p[1].1.seals.head(), p[2].1.seals.first().seq, &rows(20, 5));
    let rival = manifest(rival_seal, 2, Some(&p[1].1));
    let forked = vec![
        p[0].clone(),
        p[1].clone(),
        ("r2".into(), rival.clone()),
        p[2].clone(),
    ];
    let (f, _) = check_chain("t", 0, &forked, true);
    assert!(kinds(&f).contains(&K::Fork), "{f:?}");

    assert!(check_fork("m2", &p[2].1, std::slice::from_ref(&p[2].1)).is_empty());
    let f = check_fork("m2", &p[2].1, &[rival]);
    assert_eq!(kinds(&f), vec![K::Fork]);
}

#[test]
fn keys_are_checked_by_role_window_and_signature() {
    let sealer = signing_key(&[1; 32])
        .unwrap_or_else(|e| panic!("{e}"))
        .verifying_key();
    let archiver = signing_key(&[2; 32])
        .unwrap_or_else(|e| panic!("{e}"))
        .verifying_key();
    let (_, m) = partition().remove(0);
    let mut reg = Registry::default();
    reg.add(sealer, Role::Sealer);
    reg.add(archiver, Role::Archiver);
    assert!(check_signatures("m", &m, &reg).is_empty());

    let mut tampered = m.clone();
    tampered.written_at_ms += 1;
    assert_eq!(
        kinds(&check_signatures("m", &tampered, &reg)),
        vec![K::BadSignature]
    );

    let mut only_sealer = Registry::default();
    only_sealer.add(sealer, Role::Sealer);
    assert_eq!(
        kinds(&check_signatures("m", &m, &only_sealer)),
        vec![K::UnknownKey]
    );

    let mut windowed = Registry::default();
    windowed.add(sealer, Role::Sealer);
    windowed.push(Entry {
        key: archiver,
        id: KeyId::of(&archiver),
        role: Role::Archiver,
        not_before_ms: None,
        not_after_ms: Some(m.written_at_ms),
    });
    assert_eq!(
        kinds(&check_signatures("m", &m, &windowed)),
        vec![K::KeyOutsideWindow]
    );
}

/// Three seals of 10 records each from genesis, seqs 0, 2, 4 (heartbeats
/// take the numbers between).
fn run_of_three(first: i64) -> (Vec<Seal>, Vec<Row>) {
    let mut head = genesis("t", 0);
    let mut seals = Vec::new();
    let all = rows(first, 30);
    for (i, chunk) in all.chunks(10).enumerate() {
        let s = seal_over(head, i as u64 * 2, chunk);
        head = s.head;
        seals.push(s);
    }
    (seals, all)
}

#[test]
fn rows_of_a_run_are_checked_against_each_seal() {
    let (seals, all) = run_of_three(0);
    let run = Seals::new(seals).unwrap_or_else(|| panic!("run"));
    assert!(check_rows(&run, one(all.clone())).is_empty());
    // Split over two objects (one row stored twice): still intact, and the
    // digests handed to the log check are each record's, once, in order.
    let (a, b) = all.split_at(13);
    let two = vec![("a".into(), a.to_vec()), ("b".into(), all[12..].to_vec())];
    let (findings, digests) = check_rows_hashed(&run, two);
    assert!(
        findings.is_empty() || kinds(&findings) == [K::RecordInjected],
        "{findings:?}"
    );
    let two = vec![("a".into(), a.to_vec()), ("b".into(), b.to_vec())];
    let (findings, digests_once) = check_rows_hashed(&run, two);
    assert!(findings.is_empty());
    let want: Vec<[u8; 32]> = all
        .iter()
        .map(|r| {
            record_digest(&RecordRef {
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
            })
        })
        .collect();
    assert_eq!(digests_once, want);
    assert_eq!(digests, want, "a repeated row is one leaf");

    let mut edited = all.clone();
    edited[15].value = Some(b"{}".to_vec());
    let f = check_rows(&run, one(edited));
    assert_eq!(kinds(&f), vec![K::RecordAltered]);
    assert_eq!(f[0].offsets, Some((10, 19)), "the second seal's range");

    let mut dropped = all.clone();
    dropped.remove(25);
    let f = check_rows(&run, one(dropped));
    assert_eq!(kinds(&f), vec![K::RecordMissing]);
    assert!(f[0].detail.contains("[25]"), "{}", f[0].detail);

    let mut appended = all.clone();
    appended.push(rows(30, 1).remove(0));
    assert_eq!(
        kinds(&check_rows(&run, one(appended))),
        vec![K::RecordInjected]
    );
}

#[test]
fn a_run_whose_seals_do_not_follow_one_another_is_named() {
    let (seals, _) = run_of_three(0);
    let key = "manifests/topic=t/partition=0000/00000000000000000000.json";
    let m = run_manifest(seals.clone(), 0, None);
    assert!(check_placement("", key, &m).is_empty());
    assert_eq!(
        kinds(&check_placement("", "manifests/elsewhere.json", &m)),
        vec![K::ManifestMisplaced]
    );
    // The middle seal dropped: a gap and a broken head inside the manifest.
    let holed = run_manifest(vec![seals[0].clone(), seals[2].clone()], 0, None);
    let f = check_placement("", key, &holed);
    assert_eq!(kinds(&f), vec![K::SealChainBroken, K::OffsetGap]);
    // Out of order.
    let swapped = run_manifest(vec![seals[1].clone(), seals[0].clone()], 0, None);
    assert!(kinds(&check_placement("", "x", &swapped)).contains(&K::ManifestMalformed));
}

#[test]
fn manifests_of_runs_chain_and_a_rival_of_an_inner_seal_is_a_fork() {
    let (seals, all) = run_of_three(0);
    let m0 = run_manifest(seals[..2].to_vec(), 0, None);
    let m1 = run_manifest(seals[2..].to_vec(), 1, Some(&m0));
    let p = vec![("m0".to_owned(), m0.clone()), ("m1".to_owned(), m1)];
    let (f, missing) = check_chain("t", 0, &p, true);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(missing, 0);
    // A rival of seal 2 (the run's second): same predecessor, fewer records.
    let rival = seal_over(seals[0].head, seals[1].seq, &all[10..15]);
    let r = run_manifest(vec![rival], 1, Some(&m0));
    let forked = vec![p[0].clone(), ("r".to_owned(), r)];
    assert_eq!(kinds(&check_chain("t", 0, &forked, true).0), vec![K::Fork]);
}
