//! The add-checkpoint decision, outcome by outcome (c2sp.org/tlog-witness).

use ed25519_dalek::SigningKey;
use tlog::note::NoteVerifier;
use tlog::proof::{prove_consistency, tree_hash};
use tlog::{
    AddCheckpoint, Checkpoint, CosignatureSigner, Ed25519Signer, Hash, MemoryLog, Note, TreeHead,
    WitnessRefusal, WitnessedLog, empty_hash, leaf_hash, witness_decide,
};

const ORIGIN: &str = "example.com/auditlog/events/0";
const NOW: u64 = 1_760_000_000;

struct Setup {
    log_key: Ed25519Signer,
    log: WitnessedLog,
    witness: CosignatureSigner,
    tree: MemoryLog,
}

fn setup() -> Setup {
    let log_key = Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).expect("name");
    let log = WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![log_key.verifier().clone()],
    };
    let witness = CosignatureSigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32]))
        .expect("name");
    let leaves: Vec<Hash> = (0..100u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    Setup {
        log_key,
        log,
        witness,
        tree: MemoryLog::from_leaf_hashes(&leaves),
    }
}

impl Setup {
    fn root(&self, n: u64) -> Hash {
        tree_hash(n, &self.tree).expect("in tree")
    }

    fn request(&self, old: u64, size: u64) -> AddCheckpoint {
        let text = Checkpoint::new(ORIGIN, size, self.root(size)).to_text();
        AddCheckpoint {
            old_size: old,
            proof: prove_consistency(old, size, &self.tree).unwrap_or_default(),
            checkpoint: Note::sign(&text, &[&self.log_key]).expect("signs"),
        }
    }

    fn decide(
        &self,
        state: Option<TreeHead>,
        req: &AddCheckpoint,
    ) -> Result<TreeHead, WitnessRefusal> {
        witness_decide(state.as_ref(), req, Some(&self.log), &self.witness, NOW)
            .map(|c| c.new_state)
    }

    fn head(&self, n: u64) -> Option<TreeHead> {
        Some(TreeHead {
            size: n,
            root: self.root(n),
        })
    }
}

#[test]
fn a_consistent_chain_of_checkpoints_is_cosigned() {
    let s = setup();
    let first =
        witness_decide(None, &s.request(0, 10), Some(&s.log), &s.witness, NOW).expect("cosigns");
    assert_eq!(first.new_state, s.head(10).expect("head"));
    // The response appended to the checkpoint verifies under the witness key.
    let req = s.request(0, 10);
    let mut note = Note::parse(&req.checkpoint.to_bytes()).expect("parses");
    let line = Note::parse(format!("{}\n{}", note.text(), first.response).as_bytes())
        .expect("line parses");
    note.add_signature(line.signatures()[0].clone())
        .expect("room");
    let witness: &dyn NoteVerifier = s.witness.verifier();
    assert_eq!(note.verify(&[witness]).map(|v| v.len()), Ok(1));

    assert_eq!(
        s.decide(s.head(10), &s.request(10, 37)),
        Ok(TreeHead {
            size: 37,
            root: s.root(37)
        })
    );
    assert_eq!(
        s.decide(s.head(37), &s.request(37, 37)).ok(),
        s.head(37),
        "same size, same root"
    );
}

#[test]
fn a_stale_old_size_gets_409_with_the_current_size() {
    let s = setup();
    let r = s.decide(s.head(37), &s.request(10, 50)).expect_err("stale");
    assert_eq!(
        r,
        WitnessRefusal::Conflict {
            current: 37,
            old: 10
        }
    );
    assert_eq!(
        (r.status(), r.conflict_body()),
        (409, Some("37\n".to_string()))
    );
    let r = s
        .decide(None, &s.request(10, 50))
        .expect_err("witness has nothing");
    assert_eq!(r.conflict_body(), Some("0\n".to_string()));
}

#[test]
fn unknown_logs_and_unsigned_checkpoints_are_refused() {
    let s = setup();
    let req = s.request(0, 5);
    let r = witness_decide(None, &req, None, &s.witness, NOW).expect_err("unknown");
    assert_eq!(r.status(), 404);
    let other = WitnessedLog {
        origin: "example.com/other".into(),
        keys: s.log.keys.clone(),
    };
    assert_eq!(
        witness_decide(None, &req, Some(&other), &s.witness, NOW).map_err(|r| r.status()),
        Err(404)
    );

    let stranger = Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("name");
    let text = req.checkpoint.text().to_string();
    let forged = AddCheckpoint {
        checkpoint: Note::sign(&text, &[&stranger]).expect("signs"),
        ..req.clone()
    };
    assert_eq!(s.decide(None, &forged).map_err(|r| r.status()), Err(403));

    let mut bad = req.checkpoint.to_bytes();
    let at = bad.len() - 10;
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let bad = AddCheckpoint {
        checkpoint: Note::parse(&bad).expect("still parses"),
        ..req
    };
    assert_eq!(s.decide(None, &bad).map_err(|r| r.status()), Err(403));
}

#[test]
fn bad_proofs_and_split_views_get_422() {
    let s = setup();
    let mut req = s.request(10, 40);
    req.proof[1][0] ^= 1;
    assert_eq!(s.decide(s.head(10), &req).map_err(|r| r.status()), Err(422));
    req.proof.clear();
    assert_eq!(s.decide(s.head(10), &req).map_err(|r| r.status()), Err(422));

    // Same size, another root: the split view a witness exists to refuse.
    let forked = TreeHead {
        size: 40,
        root: leaf_hash(b"another history"),
    };
    assert_eq!(
        s.decide(Some(forked), &s.request(40, 40))
            .map_err(|r| r.status()),
        Err(422)
    );

    // Old size 0 takes no proof; size 0 must have the empty root.
    let mut req = s.request(0, 8);
    req.proof = s.request(4, 8).proof;
    assert_eq!(s.decide(None, &req).map_err(|r| r.status()), Err(422));
    let empty = |root: Hash| AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: Note::sign(&Checkpoint::new(ORIGIN, 0, root).to_text(), &[&s.log_key])
            .expect("signs"),
    };
    assert_eq!(
        s.decide(None, &empty(s.root(1))).map_err(|r| r.status()),
        Err(422)
    );
    assert_eq!(s.decide(None, &empty(empty_hash())).map(|h| h.size), Ok(0));
}

#[test]
fn malformed_requests_get_400() {
    let s = setup();
    assert_eq!(
        s.decide(s.head(50), &s.request(50, 40))
            .map_err(|r| r.status()),
        Err(400)
    );
    let good = s.request(10, 40).to_bytes();
    assert_eq!(AddCheckpoint::parse(&good), Ok(s.request(10, 40)));
    let text = String::from_utf8(good).expect("utf-8");
    for bad in [
        text.replacen("old 10", "old 010", 1),
        text.replacen("old 10", "old -1", 1),
        text.replacen("old 10", "old  10", 1),
        text.replacen("old ", "new ", 1),
        text.replacen('\n', "\nnot base64\n", 1),
        text.replacen("\n\n", "\n", 1),
        format!(
            "old 0\n{}\n{}",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64),
            text.split_once("\n\n").expect("blank").1
        ),
        text.replacen(ORIGIN, "", 1),
    ] {
        let parsed = AddCheckpoint::parse(bad.as_bytes());
        let status = parsed
            .and_then(|r| s.decide(s.head(10), &r))
            .map_err(|r| r.status());
        assert!(matches!(status, Err(400 | 404)), "{bad:?} gave {status:?}");
    }
    // A note whose text is not a checkpoint, validly signed: 400.
    let note = Note::sign(&format!("{ORIGIN}\nnot a size\n"), &[&s.log_key]).expect("signs");
    let req = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: note,
    };
    assert_eq!(s.decide(None, &req).map_err(|r| r.status()), Err(400));
}

#[test]
fn the_spec_example_body_parses() {
    let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    let req = AddCheckpoint::parse(body.as_bytes()).expect("parses");
    assert_eq!(
        (req.old_size, req.proof.len(), req.origin()),
        (20852014, 4, "example.com/behind-the-sofa")
    );
    assert_eq!(req.to_bytes(), body.as_bytes());
}

#[test]
fn a_witness_with_no_clock_refuses_with_500() {
    let s = setup();
    let r =
        witness_decide(None, &s.request(0, 3), Some(&s.log), &s.witness, 0).expect_err("time 0");
    assert_eq!(r.status(), 500);
}
