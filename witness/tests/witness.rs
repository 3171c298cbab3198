//! The witness over a real state directory: the answers of
//! c2sp.org/tlog-witness, durability across a restart (a new `Witness` on
//! the same directory), and a property test that no sequence of requests
//! from two forks of a log, with restarts between them, gets two
//! inconsistent checkpoints cosigned.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tlog::proof::{prove_consistency, tree_hash};
use tlog::{
    AddCheckpoint, Checkpoint, CosignatureVerifier, Ed25519Signer, Hash, MemoryLog, Note,
    NoteSigner, NoteVerifier, TreeHead, WitnessedLog, leaf_hash,
};
use witness::Witness;

const ORIGIN: &str = "example.com/witness-test";
const NAME: &str = "witness.example/w1";
const NOW: u64 = 1_700_000_000;

fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "witness-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn log_signer() -> Ed25519Signer {
    Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).expect("name")
}

fn witness_at(dir: &std::path::Path) -> Witness {
    let log = WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![log_signer().verifier().clone()],
    };
    Witness::new(NAME, SigningKey::from_bytes(&[4; 32]), vec![log], dir).expect("witness")
}

/// A log whose leaf `i` is `<tag> <i>` for `i >= shared`, and `base <i>`
/// below: two tags share their first `shared` leaves.
fn log_of(tag: &str, shared: u64, size: u64) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..size {
        let t = if i < shared { "base" } else { tag };
        log.append(leaf_hash(format!("{t} {i}").as_bytes()));
    }
    log
}

fn body(log: &MemoryLog, old: u64, size: u64, signer: &dyn NoteSigner) -> Vec<u8> {
    let root = tree_hash(size, log).expect("root");
    let text = Checkpoint::new(ORIGIN, size, root).to_text();
    AddCheckpoint {
        old_size: old,
        proof: prove_consistency(old, size, log).expect("proof"),
        checkpoint: Note::sign(&text, &[signer]).expect("signs"),
    }
    .to_bytes()
}

fn root(log: &MemoryLog, size: u64) -> Hash {
    tree_hash(size, log).expect("root")
}

#[test]
fn cosigns_from_zero_then_an_extension_and_refuses_a_split_view() {
    let dir = temp_dir();
    let w = witness_at(&dir);
    let signer = log_signer();
    let main = log_of("main", 0, 40);
    let a = w.add_checkpoint(&body(&main, 0, 10, &signer), NOW);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.starts_with("\u{2014} witness.example/w1 ") && a.body.ends_with('\n'));
    // The answer appended to the checkpoint verifies as the witness's cosignature.
    let verifier = CosignatureVerifier::from_vkey(&w.vkey()).expect("vkey");
    let text = Checkpoint::new(ORIGIN, 10, root(&main, 10)).to_text();
    let note = Note::parse(format!("{text}\n{}", a.body).as_bytes()).expect("note");
    assert_eq!(
        note.verify(&[&verifier as &dyn NoteVerifier])
            .map(|s| s.len()),
        Ok(1)
    );
    assert_eq!(
        w.state(ORIGIN).expect("state"),
        Some(TreeHead {
            size: 10,
            root: root(&main, 10)
        })
    );

    // Split view: another tree of size 10.
    let evil = log_of("evil", 5, 40);
    let split = w.add_checkpoint(&body(&evil, 10, 10, &signer), NOW);
    assert_eq!(split.status, 422, "{}", split.body);
    let stale = w.add_checkpoint(&body(&evil, 0, 10, &signer), NOW);
    assert_eq!(
        (stale.status, stale.content_type, stale.body.as_str()),
        (409, "text/x.tlog.size", "10\n")
    );
    // A fork's extension whose proof starts from the witness's size does not verify.
    let fork = w.add_checkpoint(&body(&evil, 10, 20, &signer), NOW);
    assert_eq!(fork.status, 422, "{}", fork.body);

    // The consistent extension, after a restart.
    drop(w);
    let w = witness_at(&dir);
    let ext = w.add_checkpoint(&body(&main, 10, 30, &signer), NOW);
    assert_eq!(ext.status, 200, "{}", ext.body);
    assert_eq!(w.state(ORIGIN).expect("state").map(|h| h.size), Some(30));
    // The same checkpoint again is cosigned again (old = size, same root).
    assert_eq!(
        w.add_checkpoint(&body(&main, 30, 30, &signer), NOW).status,
        200
    );
}

#[test]
fn unknown_logs_foreign_keys_and_malformed_bodies_are_refused() {
    let dir = temp_dir();
    let w = witness_at(&dir);
    let main = log_of("main", 0, 4);
    let stranger = Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).expect("name");
    assert_eq!(
        w.add_checkpoint(&body(&main, 0, 4, &stranger), NOW).status,
        403
    );
    let other =
        Ed25519Signer::new("other.example/log", SigningKey::from_bytes(&[1; 32])).expect("name");
    let text = Checkpoint::new("other.example/log", 4, root(&main, 4)).to_text();
    let note = Note::sign(&text, &[&other as &dyn NoteSigner]).expect("signs");
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: note,
    }
    .to_bytes();
    assert_eq!(w.add_checkpoint(&req, NOW).status, 404);
    for bad in [&b"old 0\n"[..], b"old x\n\nfoo\n", b"\xff\xfe", b""] {
        assert_eq!(w.add_checkpoint(bad, NOW).status, 400);
    }
    let signer = log_signer();
    assert_eq!(
        w.add_checkpoint(&body(&main, 0, 4, &signer), 0).status,
        500,
        "a zero time is refused"
    );
    assert_eq!(
        w.state(ORIGIN).expect("state"),
        None,
        "nothing cosigned, nothing stored"
    );
}

#[test]
fn a_corrupt_state_is_an_error_not_an_empty_log() {
    let dir = temp_dir();
    let w = witness_at(&dir);
    let signer = log_signer();
    let main = log_of("main", 0, 8);
    assert_eq!(
        w.add_checkpoint(&body(&main, 0, 8, &signer), NOW).status,
        200
    );
    let file = dir.join(witness::state::file_name(ORIGIN));
    std::fs::write(&file, "garbage\n").expect("write");
    let evil = log_of("evil", 0, 8);
    assert_eq!(
        w.add_checkpoint(&body(&evil, 0, 8, &signer), NOW).status,
        500
    );
    drop(w);
    let log = WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![signer.verifier().clone()],
    };
    let restarted = Witness::new(NAME, SigningKey::from_bytes(&[4; 32]), vec![log], &dir);
    assert!(matches!(
        restarted,
        Err(witness::WitnessError::StateCorrupt { .. })
    ));
}

/// Whether (size, root) is a prefix of the main or the evil tree.
fn forks_of(head: &TreeHead, main: &MemoryLog, evil: &MemoryLog) -> (bool, bool) {
    (
        root(main, head.size) == head.root,
        root(evil, head.size) == head.root,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn arbitrary_bodies_are_refused_without_a_panic_or_a_write(
        prefix in prop_oneof![Just(&b"old 0\n\n"[..]), Just(&b"old 3\n"[..]), Just(&b""[..])],
        noise in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let dir = temp_dir();
        let w = witness_at(&dir);
        let mut body = prefix.to_vec();
        body.extend_from_slice(&noise);
        let answer = w.add_checkpoint(&body, NOW);
        prop_assert!([400, 403, 404].contains(&answer.status), "{:?}", answer);
        prop_assert_eq!(w.state(ORIGIN).ok().flatten(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_sequence_of_requests_and_restarts_cosigns_two_inconsistent_checkpoints(
        shared in 0u64..6,
        steps in proptest::collection::vec((any::<bool>(), 0u64..24, 0u64..24, any::<bool>(), 0u8..8), 1..30),
    ) {
        let dir = temp_dir();
        let signer = log_signer();
        let main = log_of("main", shared, 24);
        let evil = log_of("evil", shared, 24);
        let mut w = witness_at(&dir);
        let mut cosigned: Vec<TreeHead> = Vec::new();
        for (use_evil, old, size, honest_old, restart) in steps {
            if restart == 0 {
                w = witness_at(&dir);
            }
            let (size, old) = (size.max(old), size.min(old));
            let old = if honest_old {
                w.state(ORIGIN).ok().flatten().map_or(0, |h| h.size).min(size)
            } else {
                old
            };
            let log = if use_evil { &evil } else { &main };
            let answer = w.add_checkpoint(&body(log, old, size, &signer), NOW);
            prop_assert!([200, 409, 422].contains(&answer.status), "{:?}", answer);
            if answer.status == 200 {
                let head = TreeHead { size, root: root(log, size) };
                prop_assert_eq!(w.state(ORIGIN).ok().flatten(), Some(head));
                cosigned.push(head);
            }
        }
        // Every pair of cosigned heads lies on one tree.
        for a in &cosigned {
            for b in &cosigned {
                let (am, ae) = forks_of(a, &main, &evil);
                let (bm, be) = forks_of(b, &main, &evil);
                prop_assert!((am && bm) || (ae && be), "{:?} and {:?}", a, b);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn concurrent_requests_from_one_old_size_get_exactly_one_cosignature() {
    let dir = temp_dir();
    let w = witness_at(&dir);
    let signer = log_signer();
    let main = log_of("main", 4, 24);
    let evil = log_of("evil", 4, 24);
    assert_eq!(
        w.add_checkpoint(&body(&main, 0, 4, &signer), NOW).status,
        200
    );
    // Each of these extends size 4 consistently; main and evil disagree
    // with each other beyond it, so only one may be cosigned.
    let bodies: Vec<(Vec<u8>, TreeHead)> = (0..16u64)
        .map(|k| {
            let log = if k % 2 == 0 { &main } else { &evil };
            let size = 5 + k;
            (
                body(log, 4, size, &signer),
                TreeHead {
                    size,
                    root: root(log, size),
                },
            )
        })
        .collect();
    let answers: Vec<(u16, TreeHead)> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|(b, head)| s.spawn(|| (w.add_checkpoint(b, NOW).status, *head)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let won: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| [200, 409].contains(s)),
        "{answers:?}"
    );
    assert_eq!(w.state(ORIGIN).expect("state"), Some(won[0].1));
}
