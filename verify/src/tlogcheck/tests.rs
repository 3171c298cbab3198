use ed25519_dalek::SigningKey;
use tlog::{Ed25519Signer, Note, NoteSigner};

use std::collections::BTreeSet;

use super::*;

const ORIGIN: &str = "auditlog.local/b/t/0";

fn digest(i: u64) -> Hash {
    <sha2::Sha256 as sha2::Digest>::digest(i.to_be_bytes()).into()
}

fn signer(seed: u8) -> Ed25519Signer {
    Ed25519Signer::new("auditlog.local/b", SigningKey::from_bytes(&[seed; 32])).expect("signer")
}

/// A log as the archiver writes it: ranges of `counts` records, the
/// first `logged` of them appended, each with its tiles and checkpoint.
fn build(counts: &[u64], logged: usize) -> (Vec<LogRange>, LogObjects) {
    let s = signer(7);
    let (mut ranges, mut objects) = (Vec::new(), LogObjects::default());
    let (mut b, mut next) = (TileBuilder::new(), 0u64);
    for (i, n) in counts.iter().enumerate() {
        let leaves: Vec<Hash> = (next..next + n)
            .map(|j| tlog::leaf_hash(&digest(j)))
            .collect();
        ranges.push(LogRange {
            key: format!("m{i}"),
            first_offset: next as i64,
            last_offset: (next + n) as i64 - 1,
            count: *n,
            root: Some(tlog::hash::tree_hash_of(&leaves)),
            sealed_at_ms: 1_000 * i as i64,
        });
        next += n;
        if i >= logged {
            continue;
        }
        for l in leaves {
            for (t, bytes) in b.append(l) {
                objects
                    .tiles
                    .insert(t.path(), (format!("k/{}", t.path()), bytes));
            }
        }
        for (t, bytes) in b.partial_tiles() {
            objects
                .tiles
                .insert(t.path(), (format!("k/{}", t.path()), bytes));
        }
        objects.checkpoints.insert(
            b.size(),
            (format!("k/cp/{}", b.size()), note(&s, b.size(), b.root())),
        );
    }
    (ranges, objects)
}

fn note(s: &Ed25519Signer, size: u64, root: Hash) -> Vec<u8> {
    let text = Checkpoint::new(ORIGIN, size, root).to_text();
    Note::sign(&text, &[s as &dyn NoteSigner])
        .expect("signs")
        .to_bytes()
}

fn run(ranges: &[LogRange], objects: &LogObjects) -> LogVerdict {
    run_at(None, ranges, objects)
}

fn run_from(from: &LogHead, ranges: &[LogRange], objects: &LogObjects) -> LogVerdict {
    run_at(Some(from), ranges, objects)
}

fn run_at(from: Option<&LogHead>, ranges: &[LogRange], objects: &LogObjects) -> LogVerdict {
    let s = signer(7);
    let id = LogId {
        topic: "t",
        partition: 0,
        origin: ORIGIN,
        verifiers: &[s.verifier() as &dyn NoteVerifier],
    };
    match from {
        None => check_log(id, ranges, objects),
        Some(_) => check_log_from(from, id, ranges, objects),
    }
}

/// What an incremental run reads of `now` when a clean run verified
/// `then` up to `size`: what is new, and the partial tiles of `size`.
fn since(then: &LogObjects, now: &LogObjects, size: u64) -> LogObjects {
    let partial: BTreeSet<String> = tlog::tile::partial_tiles_for_size(size)
        .iter()
        .map(Tile::path)
        .collect();
    LogObjects {
        checkpoints: now
            .checkpoints
            .iter()
            .filter(|(s, _)| !then.checkpoints.contains_key(s))
            .map(|(s, o)| (*s, o.clone()))
            .collect(),
        tiles: now
            .tiles
            .iter()
            .filter(|(p, _)| !then.tiles.contains_key(*p) || partial.contains(*p))
            .map(|(p, o)| (p.clone(), o.clone()))
            .collect(),
        ..LogObjects::default()
    }
}

/// A log of ranges of `counts` records, all logged, verified by a clean
/// run after the first `k`: its ranges (those before the head checked by
/// listing), everything, what an incremental run reads, and the head.
fn grown(counts: &[u64], k: usize) -> (Vec<LogRange>, LogObjects, LogObjects, LogHead) {
    let (_, then) = build(counts, k);
    let (mut ranges, now) = build(counts, counts.len());
    let head = run(&build(counts, k).0, &then).head.expect("a head");
    for r in ranges.iter_mut().take(k) {
        r.root = None;
    }
    let read = since(&then, &now, head.size);
    (ranges, now, read, head)
}

fn kinds(v: &LogVerdict) -> Vec<K> {
    v.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn a_log_as_written_holds_every_range_and_tile() {
    let (ranges, objects) = build(&[300, 5, 250, 1], 4);
    let v = run(&ranges, &objects);
    assert_eq!(kinds(&v), [], "{:?}", v.findings);
    assert_eq!((v.size, v.pending.as_deref()), (556, None));
    // Every stored object is one the log needs, with the seal time of its range.
    assert_eq!(
        v.written_by.len(),
        objects.tiles.len() + objects.checkpoints.len()
    );
}

#[test]
fn an_archived_range_whose_records_are_not_the_leaves_is_named() {
    let (mut ranges, objects) = build(&[300, 5, 250], 3);
    ranges[1].root = Some(digest(99));
    let v = run(&ranges, &objects);
    assert_eq!(kinds(&v), [K::LogLeafMismatch]);
    assert_eq!(v.findings[0].key.as_deref(), Some("m1"));
}

#[test]
fn a_rewritten_leaf_tile_breaks_its_checkpoints_and_its_range() {
    let (ranges, mut objects) = build(&[300, 5, 250], 3);
    let (_, bytes) = objects.tiles.get_mut("tile/0/000").expect("full tile");
    bytes[40] ^= 1;
    let v = run(&ranges, &objects);
    let k = kinds(&v);
    assert!(
        k.contains(&K::LogLeafMismatch) && k.contains(&K::LogRootMismatch),
        "{k:?}"
    );
}

#[test]
fn a_checkpoint_by_another_key_or_of_another_log_is_refused() {
    let (ranges, mut objects) = build(&[300, 5], 2);
    let root = TileBuilder::new().root();
    objects.checkpoints.get_mut(&300).expect("cp").1 = note(&signer(8), 300, root);
    let text = Checkpoint::new("auditlog.local/b/t/1", 305, root).to_text();
    objects.checkpoints.get_mut(&305).expect("cp").1 =
        Note::sign(&text, &[&signer(7) as &dyn NoteSigner])
            .expect("signs")
            .to_bytes();
    let v = run(&ranges, &objects);
    assert_eq!(
        kinds(&v)
            .iter()
            .filter(|k| **k == K::LogCheckpointBad)
            .count(),
        2,
        "{:?}",
        v.findings
    );
}

#[test]
fn only_the_newest_range_may_wait_for_the_log() {
    let (ranges, objects) = build(&[10, 20, 30], 2);
    let v = run(&ranges, &objects);
    assert_eq!((kinds(&v), v.pending.as_deref()), (vec![], Some("m2")));
    let (ranges, objects) = build(&[10, 20, 30], 1);
    let v = run(&ranges, &objects);
    assert_eq!(kinds(&v), [K::LogSizeMismatch], "{:?}", v.findings);
}

#[test]
fn a_missing_checkpoint_or_tile_and_a_stray_object_are_named() {
    let (ranges, mut objects) = build(&[300, 5, 250], 3);
    objects.checkpoints.remove(&305);
    objects.tiles.remove("tile/1/000.p/2");
    objects
        .tiles
        .insert("tile/0/999".into(), ("k/stray".into(), vec![0; 32 * 256]));
    let v = run(&ranges, &objects);
    let k = kinds(&v);
    for want in [K::LogSizeMismatch, K::LogTileMissing, K::UnreferencedObject] {
        assert!(k.contains(&want), "{want:?} in {k:?}");
    }
}

#[test]
fn leaves_no_range_accounts_for_are_named() {
    let (mut ranges, objects) = build(&[10, 20], 2);
    ranges.pop();
    let v = run(&ranges, &objects);
    assert!(kinds(&v).contains(&K::LogSizeMismatch), "{:?}", v.findings);
}

#[test]
fn a_log_resumed_where_a_clean_run_stopped_gives_the_full_result() {
    let counts = [300, 5, 250, 1, 700, 3, 256];
    for k in 1..counts.len() {
        let (ranges, now, read, head) = grown(&counts, k);
        let full = run(&ranges, &now);
        let inc = run_from(&head, &ranges, &read);
        assert_eq!(kinds(&inc), [], "k={k}: {:?}", inc.findings);
        assert_eq!(kinds(&full), []);
        assert_eq!(
            (inc.size, &inc.pending, &inc.head),
            (full.size, &full.pending, &full.head)
        );
        // Retention is checked for what was written since, as a full run does.
        let old: BTreeSet<&String> = now
            .tiles
            .values()
            .chain(now.checkpoints.values())
            .map(|(k, _)| k)
            .filter(|k| {
                !read.tiles.values().any(|(r, _)| r == *k)
                    && !read.checkpoints.values().any(|(r, _)| r == *k)
            })
            .collect();
        let mut want = full.written_by.clone();
        want.retain(|key, _| !old.contains(key));
        let partial_at_head: BTreeSet<String> = tlog::tile::partial_tiles_for_size(head.size)
            .iter()
            .map(|t| format!("k/{}", t.path()))
            .collect();
        want.retain(|key, _| !partial_at_head.contains(key));
        assert_eq!(inc.written_by, want, "k={k}");
        assert!(
            read.tiles.len() < now.tiles.len() && read.checkpoints.len() < now.checkpoints.len()
        );
    }
}

#[test]
fn a_resumed_log_finds_what_a_full_run_finds_in_the_new_part() {
    let counts = [300, 5, 250, 1, 700];
    let (mut ranges, mut now, mut read, head) = grown(&counts, 2);
    ranges[3].root = Some(digest(99));
    for objects in [&mut now, &mut read] {
        objects
            .tiles
            .get_mut("tile/0/002")
            .expect("a new full tile")
            .1[64] ^= 1;
        objects.checkpoints.remove(&555);
        objects
            .tiles
            .insert("tile/0/777".into(), ("k/stray".into(), vec![0; 32 * 256]));
    }
    let sorted = |v: &LogVerdict| {
        let mut k: Vec<(K, Option<String>)> =
            v.findings.iter().map(|f| (f.kind, f.key.clone())).collect();
        k.sort_by_key(|(k, key)| (format!("{k:?}"), key.clone()));
        k
    };
    let (full, inc) = (run(&ranges, &now), run_from(&head, &ranges, &read));
    assert_eq!(sorted(&inc), sorted(&full));
    for want in [
        K::LogLeafMismatch,
        K::LogRootMismatch,
        K::LogSizeMismatch,
        K::UnreferencedObject,
    ] {
        assert!(
            kinds(&inc).contains(&want),
            "{want:?} in {:?}",
            inc.findings
        );
    }
    // The last range not logged yet: pending in both.
    let (ranges, _) = build(&counts, 4);
    let (_, now) = build(&counts, 4);
    let (_, then) = build(&counts, 2);
    let read = since(&then, &now, head.size);
    let (full, inc) = (run(&ranges, &now), run_from(&head, &ranges, &read));
    assert_eq!((kinds(&inc), inc.pending.as_deref()), (vec![], Some("m4")));
    assert_eq!((inc.size, inc.head), (full.size, full.head));
}

#[test]
fn a_changed_remembered_root_or_partial_tile_is_caught() {
    let (ranges, _, read, head) = grown(&[300, 5, 250, 1], 2);
    let mut other = head.clone();
    other.root = digest(1);
    let v = run_from(&other, &ranges, &read);
    assert_eq!(kinds(&v), [K::LogRootMismatch], "{:?}", v.findings);
    assert_eq!(v.findings[0].key.as_deref(), Some(head.key.as_str()));

    // A partial tile of the head's size with other bytes (the same version
    // id, as only a faulty store could serve) no longer gives its root.
    let mut altered = since(&LogObjects::default(), &read, head.size);
    altered.tiles.get_mut("tile/0/001.p/49").expect("partial").1[0] ^= 1;
    assert_eq!(
        kinds(&run_from(&head, &ranges, &altered)),
        [K::LogRootMismatch]
    );
    let mut gone = since(&LogObjects::default(), &read, head.size);
    gone.tiles.remove("tile/1/000.p/1");
    assert_eq!(kinds(&run_from(&head, &ranges, &gone)), [K::LogTileMissing]);
    // The remembered checkpoint, read again, must name the same root.
    let mut again = since(&LogObjects::default(), &read, head.size);
    let s = signer(7);
    again
        .checkpoints
        .insert(305, (head.key.clone(), note(&s, 305, digest(2))));
    assert_eq!(
        kinds(&run_from(&head, &ranges, &again)),
        [K::LogRootMismatch]
    );
}

#[test]
fn a_remembered_size_inside_a_range_is_named() {
    let (mut ranges, _, read, head) = grown(&[300, 5, 250, 1], 2);
    ranges[1].count = 10; // the ranges now end at 300 and 310, not 305
    let v = run_from(&head, &ranges, &read);
    assert_eq!(kinds(&v), [K::LogSizeMismatch]);
    assert_eq!(v.findings[0].key.as_deref(), Some(head.key.as_str()));
}

#[test]
fn old_ranges_read_in_full_need_the_old_leaves() {
    let (mut ranges, _, _, head) = grown(&[300, 5, 250], 2);
    assert!(!reads_old_ranges(&ranges, head.size));
    ranges[1].root = Some(digest(3));
    assert!(reads_old_ranges(&ranges, head.size));
    assert!(!reads_old_ranges(&ranges, 300));
}
