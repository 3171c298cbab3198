//! The pure checkpoint checks (`docs/FORMAT.md` §8, step 8): each
//! checkpoint's place and signature, the chain they form, and what the
//! newest sound one says the archive must still hold. No IO here.

use chain::checkpoint::{Checkpoint, partition_name};

use crate::finding::{Finding, FindingKind as K};
use crate::registry::{KeyProblem, Registry, Role};
use crate::state::{Accepted, State};

fn at(kind: K, key: &str, detail: String) -> Finding {
    Finding::new(kind, "", -1, detail).at(key)
}

/// One checkpoint on its own: it sits at the key of its `seq`, and its
/// signature verifies under a registered archiver key valid when it was
/// written.
pub fn check_checkpoint(key: &str, key_seq: u64, c: &Checkpoint, reg: &Registry) -> Vec<Finding> {
    let mut out = Vec::new();
    if c.seq != key_seq {
        out.push(at(
            K::CheckpointMalformed,
            key,
            format!("holds checkpoint seq {}, its key names {key_seq}", c.seq),
        ));
    }
    match reg.lookup(&c.key_id, Role::Archiver, c.written_at_ms) {
        Ok(k) => {
            if c.verify(k).is_err() {
                out.push(at(
                    K::BadSignature,
                    key,
                    "checkpoint signature does not verify".into(),
                ));
            }
        }
        Err(KeyProblem::Unknown) => out.push(at(
            K::UnknownKey,
            key,
            format!("checkpoint signed by unregistered key {}", c.key_id),
        )),
        Err(KeyProblem::OutsideWindow { window }) => out.push(at(
            K::KeyOutsideWindow,
            key,
            format!(
                "checkpoint signed by key {} outside its window ({window})",
                c.key_id
            ),
        )),
    }
    out
}

/// The chain of checkpoints, sorted by `seq`: dense from 0, each naming its
/// predecessor's digest, and never going backwards for any partition. Each
/// finding is on the later checkpoint's key.
pub fn check_checkpoint_chain<'a>(
    cs: impl IntoIterator<Item = (&'a str, &'a Checkpoint)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut prev: Option<&Checkpoint> = None;
    for (key, c) in cs {
        let broken = |detail: String| at(K::CheckpointChainBroken, key, detail);
        match prev {
            None => {
                if c.seq > 0 {
                    out.push(broken(format!(
                        "the first checkpoint present is seq {}; {} before it are missing",
                        c.seq, c.seq
                    )));
                } else if c.prev.is_some() {
                    out.push(broken("checkpoint 0 names a predecessor".into()));
                }
            }
            Some(p) => {
                if c.seq != p.seq + 1 {
                    out.push(broken(format!(
                        "follows checkpoint seq {}; expected seq {}",
                        p.seq,
                        p.seq + 1
                    )));
                } else if c.prev != Some(p.digest()) {
                    out.push(broken(format!(
                        "prev_checkpoint is not the digest of checkpoint {}",
                        p.seq
                    )));
                }
                for ((t, part), e) in &p.partitions {
                    match c.partitions.get(&(t.clone(), *part)) {
                        None => out.push(broken(format!(
                            "{} is in checkpoint {} and not in this one",
                            partition_name(t, *part),
                            p.seq
                        ))),
                        Some(now) if now.seq < e.seq => out.push(broken(format!(
                            "{} went back from manifest seq {} to {}",
                            partition_name(t, *part),
                            e.seq,
                            now.seq
                        ))),
                        Some(_) => {}
                    }
                }
            }
        }
        prev = Some(c);
    }
    out
}

/// What a checkpoint says the archive holds, as a state file would.
pub fn as_state(c: &Checkpoint) -> State {
    State {
        partitions: c
            .partitions
            .iter()
            .map(|((t, p), e)| {
                (
                    partition_name(t, *p),
                    Accepted {
                        seq: e.seq,
                        digest: chain::hex::encode(&e.digest),
                        last_offset: e.last_offset,
                    },
                )
            })
            .collect(),
        ..State::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chain::checkpoint::Entry;
    use chain::seal::signing_key;

    use super::*;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            digest: [1; 32],
            last_offset: 9,
            key: "manifests/topic=t/partition=0000/00000000000000000000.json".into(),
        }
    }

    fn chain_of(n: u64) -> Vec<(String, Checkpoint)> {
        let key = signing_key(&[3; 32]).unwrap_or_else(|e| panic!("{e}"));
        let mut out: Vec<(String, Checkpoint)> = Vec::new();
        for i in 0..n {
            let latest = BTreeMap::from([(("t".to_owned(), 0), entry(i))]);
            let mut c = Checkpoint::next(
                out.last().map(|(_, c)| c),
                latest,
                1_000 + 1_000 * i64::try_from(i).unwrap_or(0),
            );
            c.sign(&key);
            out.push((format!("checkpoints/{i:020}.json"), c));
        }
        out
    }

    fn chain(cs: &[(String, Checkpoint)]) -> Vec<Finding> {
        check_checkpoint_chain(cs.iter().map(|(k, c)| (k.as_str(), c)))
    }

    fn kinds(fs: &[Finding]) -> Vec<(K, String)> {
        fs.iter()
            .map(|f| (f.kind, f.key.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_dense_chain_has_no_findings() {
        assert!(chain(&chain_of(4)).is_empty());
    }

    #[test]
    fn a_hole_a_missing_start_and_a_wrong_link_are_chain_breaks() {
        let mut cs = chain_of(4);
        cs.remove(2);
        assert_eq!(
            kinds(&chain(&cs)),
            vec![(K::CheckpointChainBroken, cs[2].0.clone())]
        );
        let cs = chain_of(3);
        assert_eq!(
            kinds(&chain(&cs[1..])),
            vec![(K::CheckpointChainBroken, cs[1].0.clone())]
        );
        let mut cs = chain_of(3);
        cs[2].1.prev = Some([9; 32]);
        assert_eq!(
            kinds(&chain(&cs)),
            vec![(K::CheckpointChainBroken, cs[2].0.clone())]
        );
    }

    #[test]
    fn a_partition_going_back_or_vanishing_is_a_chain_break() {
        let mut cs = chain_of(3);
        if let Some(e) = cs[2].1.partitions.get_mut(&("t".into(), 0)) {
            e.seq = 0;
        }
        assert_eq!(chain(&cs).len(), 1);
        let mut cs = chain_of(3);
        cs[2].1.partitions.clear();
        assert_eq!(chain(&cs).len(), 1);
    }

    #[test]
    fn as_state_names_partitions_as_state_files_do() {
        let cs = chain_of(2);
        let s = as_state(&cs[1].1);
        assert_eq!(s.partitions["t/0"].seq, 1);
        assert_eq!(s.partitions["t/0"].digest, "01".repeat(32));
    }
}
