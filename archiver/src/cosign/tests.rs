//! The collector's pure core against the witness's pure decision
//! (`tlog::witness_decide`): the conversation the HTTP adapters carry.

use super::*;
use ed25519_dalek::SigningKey;
use tlog::{
    AddCheckpoint, CosignatureSigner, Ed25519Signer, MemoryLog, TreeHead, WitnessedLog,
    witness_decide,
};

const ORIGIN: &str = "auditlog.local/b/t/0";

struct Witness {
    signer: CosignatureSigner,
    log: WitnessedLog,
    state: Option<TreeHead>,
}

impl Witness {
    fn new(seed: u8, name: &str, log_key: &Ed25519Signer) -> Self {
        Witness {
            signer: CosignatureSigner::new(name, SigningKey::from_bytes(&[seed; 32]))
                .expect("witness key"),
            log: WitnessedLog {
                origin: ORIGIN.into(),
                keys: vec![log_key.verifier().clone()],
            },
            state: None,
        }
    }

    /// What `auditlog witness` answers, without HTTP.
    fn handle(&mut self, body: &[u8]) -> Answer {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => {
                return Answer::Refused {
                    status: e.status(),
                    body: e.to_string(),
                };
            }
        };
        match witness_decide(self.state.as_ref(), &req, Some(&self.log), &self.signer, 7) {
            Ok(c) => {
                self.state = Some(c.new_state);
                Answer::Cosigned(c.response.into_bytes())
            }
            Err(e) => match e.conflict_body() {
                Some(b) => Answer::Conflict(parse_conflict(b.as_bytes()).expect("409 body")),
                None => Answer::Refused {
                    status: e.status(),
                    body: e.to_string(),
                },
            },
        }
    }
}

fn log_key() -> Ed25519Signer {
    Ed25519Signer::new("auditlog.local/b", SigningKey::from_bytes(&[1; 32])).expect("log key")
}

fn checkpoint(log: &MemoryLog, key: &Ed25519Signer) -> Vec<u8> {
    let text = tlog::Checkpoint::new(ORIGIN, log.size(), log.root()).to_text();
    Note::sign(&text, &[key as &dyn tlog::NoteSigner])
        .expect("signs")
        .to_bytes()
}

fn grow(log: &mut MemoryLog, n: u64) {
    for i in 0..n {
        log.append(tlog::leaf_hash(&(log.size() + i).to_be_bytes()));
    }
}

/// One collector round: ask every wanted witness, following 409s.
fn round(c: &mut LogCosign, log: &MemoryLog, ws: &mut [Witness]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let wanted = c.wanted();
        if wanted.is_empty() {
            break;
        }
        let mut retry = false;
        for (i, old) in wanted {
            let proof = tlog::proof::prove_consistency(old, log.size(), log).expect("proof");
            let body = c.request(old, proof).expect("a checkpoint");
            let answer = ws[i].handle(&body);
            let key = ws[i].signer.verifier().clone();
            let o = c.answer(i, &key, answer);
            retry |= o == Outcome::Retry;
            outcomes.push(o);
        }
        if !retry {
            break;
        }
    }
    outcomes
}

#[test]
fn a_quorum_of_cosignatures_makes_a_cosigned_checkpoint_that_verifies() {
    let key = log_key();
    let mut ws = vec![Witness::new(2, "w1", &key), Witness::new(3, "w2", &key)];
    let mut log = MemoryLog::new();
    let mut c = LogCosign::new(2);
    assert!(c.wanted().is_empty());
    grow(&mut log, 5);
    c.offer(5, &checkpoint(&log, &key));
    assert_eq!(c.wanted(), [(0, 0), (1, 0)]);
    assert_eq!(c.lag(0), 5);
    let o = round(&mut c, &log, &mut ws);
    assert_eq!(o, [Outcome::Cosigned, Outcome::Cosigned]);
    assert_eq!(c.lag(1), 0);
    let (size, bytes) = c.cosigned(2).expect("quorum");
    assert_eq!(size, 5);
    let w: Vec<CosignatureVerifier> = ws.iter().map(|w| w.signer.verifier().clone()).collect();
    let known: Vec<&dyn NoteVerifier> = vec![key.verifier(), &w[0], &w[1]];
    let note = Note::open(&bytes, &known).expect("verifies");
    assert_eq!(note.verify(&known).map(|v| v.len()), Ok(3));
    c.mark_stored(5);
    assert!(c.cosigned(2).is_none(), "stored once");

    // The log grows: each witness is asked from the size it holds.
    grow(&mut log, 300);
    c.offer(305, &checkpoint(&log, &key));
    assert_eq!(c.wanted(), [(0, 5), (1, 5)]);
    round(&mut c, &log, &mut ws);
    assert_eq!(c.cosigned(2).map(|(s, _)| s), Some(305));
}

#[test]
fn a_restarted_collector_learns_the_witness_size_from_its_409() {
    let key = log_key();
    let mut ws = vec![Witness::new(2, "w1", &key)];
    let mut log = MemoryLog::new();
    grow(&mut log, 10);
    let mut first = LogCosign::new(1);
    first.offer(10, &checkpoint(&log, &key));
    round(&mut first, &log, &mut ws);
    // A new collector (a restart, or another member after a rebalance).
    grow(&mut log, 7);
    let mut c = LogCosign::new(1);
    c.offer(17, &checkpoint(&log, &key));
    let o = round(&mut c, &log, &mut ws);
    assert_eq!(o, [Outcome::Retry, Outcome::Cosigned]);
    assert_eq!(c.cosigned(1).map(|(s, _)| s), Some(17));
    // The witness already holds the newest size: it cosigns it again.
    let mut again = LogCosign::new(1);
    again.offer(17, &checkpoint(&log, &key));
    assert_eq!(
        round(&mut again, &log, &mut ws),
        [Outcome::Retry, Outcome::Cosigned]
    );
}

#[test]
fn one_witness_short_of_quorum_stores_nothing_and_shows_its_lag() {
    let key = log_key();
    let mut ws = [Witness::new(2, "w1", &key), Witness::new(3, "w2", &key)];
    let mut log = MemoryLog::new();
    grow(&mut log, 4);
    let mut c = LogCosign::new(2);
    c.offer(4, &checkpoint(&log, &key));
    let k0 = ws[0].signer.verifier().clone();
    let body = c.request(0, Vec::new()).expect("request");
    assert_eq!(c.answer(0, &k0, ws[0].handle(&body)), Outcome::Cosigned);
    let down = c.answer(1, &k0, Answer::Unreachable("connection refused".into()));
    assert!(matches!(down, Outcome::Failed(m) if m.contains("connection refused")));
    assert!(c.cosigned(2).is_none());
    assert_eq!(c.cosigned(1).map(|(s, _)| s), Some(4));
    assert_eq!((c.lag(0), c.lag(1)), (0, 4));
    assert_eq!(c.wanted(), [(1, 0)]);
}

#[test]
fn a_forged_or_foreign_cosignature_is_not_counted() {
    let key = log_key();
    let mut w = Witness::new(2, "w1", &key);
    let other = Witness::new(9, "w1", &key);
    let mut log = MemoryLog::new();
    grow(&mut log, 3);
    let mut c = LogCosign::new(1);
    c.offer(3, &checkpoint(&log, &key));
    let body = c.request(0, Vec::new()).expect("request");
    // Signed by a key with the right name but not the configured one.
    let o = c.answer(0, other.signer.verifier(), w.handle(&body));
    assert!(matches!(o, Outcome::Failed(_)), "{o:?}");
    for junk in [&b""[..], b"ok\n", b"\xe2\x80\x94 w1 AAAA\n"] {
        let o = c.answer(0, w.signer.verifier(), Answer::Cosigned(junk.to_vec()));
        assert!(matches!(o, Outcome::Failed(_)), "{junk:?}");
    }
    assert!(c.cosigned(1).is_none());
}

#[test]
fn a_rewritten_history_is_refused_by_a_witness_that_saw_the_real_one() {
    let key = log_key();
    let mut ws = vec![Witness::new(2, "w1", &key)];
    let mut real = MemoryLog::new();
    grow(&mut real, 20);
    let mut c = LogCosign::new(1);
    c.offer(20, &checkpoint(&real, &key));
    round(&mut c, &real, &mut ws);
    // The same key signs a different tree of a larger size.
    let mut forged = MemoryLog::new();
    for i in 0..30u64 {
        forged.append(tlog::leaf_hash(&(i + 1000).to_be_bytes()));
    }
    let mut f = LogCosign::new(1);
    f.offer(30, &checkpoint(&forged, &key));
    let o = round(&mut f, &forged, &mut ws);
    assert_eq!(o.first(), Some(&Outcome::Retry));
    assert!(
        matches!(o.last(), Some(Outcome::Failed(m)) if m.contains("422")),
        "{o:?}"
    );
    assert!(f.cosigned(1).is_none());
    // A split view at the same size is refused too.
    let mut split = MemoryLog::new();
    for i in 0..20u64 {
        split.append(tlog::leaf_hash(&(i + 5000).to_be_bytes()));
    }
    let mut s = LogCosign::new(1);
    s.offer(20, &checkpoint(&split, &key));
    let o = round(&mut s, &split, &mut ws);
    assert!(
        matches!(o.last(), Some(Outcome::Failed(m)) if m.contains("422")),
        "{o:?}"
    );
}

#[test]
fn older_checkpoints_are_ignored_and_a_409_body_is_a_decimal() {
    let key = log_key();
    let mut log = MemoryLog::new();
    grow(&mut log, 8);
    let mut c = LogCosign::new(1);
    c.offer(8, &checkpoint(&log, &key));
    c.offer(3, b"not even a note");
    assert_eq!(c.size(), 8);
    assert_eq!(parse_conflict(b"42\n"), Some(42));
    assert_eq!(parse_conflict(b"0"), Some(0));
    for bad in [&b""[..], b"\n", b"-1\n", b"4 2\n", b"0x10\n"] {
        assert_eq!(parse_conflict(bad), None, "{bad:?}");
    }
}
