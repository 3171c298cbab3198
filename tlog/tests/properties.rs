//! Properties of the tree, the proofs, the tiles, notes and the witness.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tlog::hash::tree_hash_of;
use tlog::note::NoteVerifier;
use tlog::proof::{
    check_consistency, check_inclusion, prove_consistency, prove_inclusion, tree_hash,
};
use tlog::tile::tiles_of;
use tlog::{
    AddCheckpoint, Checkpoint, CosignatureSigner, Ed25519Signer, Hash, MemoryLog, Note,
    TileBuilder, TreeHead, WitnessedLog, leaf_hash, witness_decide,
};

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(&[&i.to_be_bytes()[..], &[salt]].concat()))
        .collect()
}

fn flip(bytes: &mut [u8], at: usize, bit: u8) {
    let i = at % bytes.len();
    bytes[i] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_change_to_a_leaf_changes_the_root(n in 1usize..600, at in any::<usize>(), byte in any::<usize>(), bit in any::<u8>()) {
        let mut l = leaves(n, 0);
        let before = tree_hash_of(&l);
        flip(&mut l[at % n], byte, bit);
        prop_assert_ne!(tree_hash_of(&l), before);
        let log = MemoryLog::from_leaf_hashes(&l);
        prop_assert_eq!(log.root(), tree_hash_of(&l));
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_on_any_byte_change(
        n in 1u64..1500, i in any::<u64>(), at in any::<usize>(), bit in any::<u8>(),
    ) {
        let l = leaves(n as usize, 1);
        let log = MemoryLog::from_leaf_hashes(&l);
        let i = i % n;
        let root = log.root();
        let proof = prove_inclusion(i, n, &log).expect("in range");
        prop_assert_eq!(check_inclusion(i, n, &l[i as usize], &root, &proof), Ok(()));
        // Flip one bit of the proof, the leaf or the root: 32 bytes each.
        let mut all: Vec<Hash> = proof.clone();
        all.push(l[i as usize]);
        all.push(root);
        let k = at % all.len();
        let byte = at / all.len();
        flip(&mut all[k], byte, bit);
        let (p, rest) = all.split_at(proof.len());
        prop_assert!(check_inclusion(i, n, &rest[0], &rest[1], p).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_fail_on_any_byte_change(
        a in 1u64..1500, b in 1u64..1500, at in any::<usize>(), bit in any::<u8>(),
    ) {
        let (old, new) = (a.min(b), a.max(b));
        let log = MemoryLog::from_leaf_hashes(&leaves(new as usize, 2));
        let (r1, r2) = (tree_hash(old, &log).expect("held"), log.root());
        let proof = prove_consistency(old, new, &log).expect("in order");
        prop_assert_eq!(check_consistency(old, &r1, new, &r2, &proof), Ok(()));
        let mut all = proof.clone();
        all.push(r1);
        all.push(r2);
        let k = at % all.len();
        let byte = at / all.len();
        flip(&mut all[k], byte, bit);
        let (p, rest) = all.split_at(proof.len());
        prop_assert!(check_consistency(old, &rest[0], new, &rest[1], p).is_err());
        if old < new {
            prop_assert!(check_consistency(old, &r1, new, &r2, &proof[1..]).is_err());
        }
    }

    #[test]
    fn tiles_built_incrementally_and_resumed_equal_tiles_built_at_once(n in 1usize..3000, cut in any::<usize>()) {
        let l = leaves(n, 3);
        let cut = cut % (n + 1);
        let mut b = TileBuilder::new();
        let mut full = Vec::new();
        for h in &l[..cut] {
            full.extend(b.append(*h));
        }
        // Resume from nothing but the partial tiles, as after a restart.
        let mut b = TileBuilder::resume(cut as u64, &b.partial_tiles()).expect("resumes");
        for h in &l[cut..] {
            full.extend(b.append(*h));
        }
        full.extend(b.partial_tiles());
        full.sort_by_key(|(t, _)| (t.level(), t.index()));
        prop_assert_eq!(&full, &tiles_of(&l));
        prop_assert_eq!(b.root(), tree_hash_of(&l));
    }

    #[test]
    fn notes_round_trip(
        lines in prop::collection::vec("[ -~\u{a0}-\u{17f}\u{2014}]{0,40}", 1..6),
        names in prop::collection::vec("[a-z0-9./_-]{1,20}", 1..4),
        seed in any::<[u8; 32]>(),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let signers: Vec<Ed25519Signer> = names
            .iter()
            .map(|n| Ed25519Signer::new(n, SigningKey::from_bytes(&seed)).expect("valid name"))
            .collect();
        let refs: Vec<&dyn tlog::NoteSigner> = signers.iter().map(|s| s as &dyn tlog::NoteSigner).collect();
        let note = Note::sign(&text, &refs).expect("signs");
        let parsed = Note::parse(&note.to_bytes()).expect("parses");
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.text(), text.as_str());
        let known: Vec<&dyn NoteVerifier> = signers.iter().map(|s| s.verifier() as &dyn NoteVerifier).collect();
        prop_assert!(parsed.verify(&known[..1]).is_ok());
    }

    /// A log forks at `fork`; requests from both branches arrive in any
    /// order with proofs from whatever size they claim. Whatever the witness
    /// cosigns lies on one branch past the fork, never both.
    #[test]
    fn a_witness_never_cosigns_both_sides_of_a_fork(
        fork in 0usize..40,
        steps in prop::collection::vec((any::<bool>(), any::<bool>(), 0u64..80, 0u64..30), 1..30),
    ) {
        const ORIGIN: &str = "example.com/forked";
        let key = Ed25519Signer::new(ORIGIN, SigningKey::from_bytes(&[5; 32])).expect("name");
        let witness = CosignatureSigner::new("w.example/1", SigningKey::from_bytes(&[6; 32])).expect("name");
        let config = WitnessedLog { origin: ORIGIN.into(), keys: vec![key.verifier().clone()] };
        let mut a = leaves(80, 7);
        let b: Vec<Hash> = a[..fork].iter().copied().chain(leaves(80 - fork, 8)).collect();
        a.truncate(80);
        let branches = [MemoryLog::from_leaf_hashes(&a), MemoryLog::from_leaf_hashes(&b)];
        let mut state: Option<TreeHead> = None;
        let mut cosigned_on = [false, false];
        for (side, honest, raw_old, grow) in steps {
            // Mostly the old size the witness holds (as a log that handled
            // 409 would send), sometimes any.
            let current = state.map_or(0, |h| h.size);
            let old = if honest { current } else { raw_old };
            let size = (current + grow).min(79);
            let log = &branches[usize::from(side)];
            let text = Checkpoint::new(ORIGIN, size, tree_hash(size, log).expect("held")).to_text();
            let req = AddCheckpoint {
                old_size: old,
                proof: prove_consistency(old.min(size), size, log).expect("in order"),
                checkpoint: Note::sign(&text, &[&key]).expect("signs"),
            };
            if let Ok(c) = witness_decide(state.as_ref(), &req, Some(&config), &witness, 1) {
                state = Some(c.new_state);
                if size as usize > fork {
                    cosigned_on[usize::from(side)] = true;
                }
            }
        }
        prop_assert!(!(cosigned_on[0] && cosigned_on[1]), "cosigned both branches past leaf {}", fork);
    }
}
