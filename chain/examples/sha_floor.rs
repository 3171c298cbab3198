//! The sealer's SHA-256 floor (issue 23): raw SHA-256, one-shot with the
//! same `sha2` crate, over exactly the bytes docs/FORMAT.md hashes per
//! record, with no chain bookkeeping: the record digest's message (§3), the
//! link's message (§3), and one Merkle node (§4; a seal of c records has
//! c − 1, counted here as one per record but the first).
//!
//! Usage: sha_floor FILE, where FILE has one record per line: the key, a
//! tab, the value (what `scripts/bench_sealer.py` produced). Prints
//! `SHA_FLOOR_S_PER_1M=<seconds>` for the script to add to the plain
//! consumer's CPU.

use std::time::Instant;

use sha2::{Digest, Sha256};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sha_floor FILE (key TAB value per line)");
        std::process::exit(2);
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    // The record digests' messages, built before the clock starts.
    let messages: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(offset, line)| {
            let tab = line.iter().position(|&b| b == b'\t').unwrap_or(0);
            let (key, value) = (&line[..tab], &line[(tab + 1).min(line.len())..]);
            let mut m = Vec::with_capacity(48 + line.len());
            m.extend_from_slice(b"auditlog/v1/record\0");
            m.extend_from_slice(&(offset as i64).to_be_bytes());
            m.extend_from_slice(&1_764_000_000_000i64.to_be_bytes());
            for part in [key, value] {
                m.extend_from_slice(&u32::try_from(part.len()).unwrap_or(0).to_be_bytes());
                m.extend_from_slice(part);
            }
            m
        })
        .collect();
    let n = messages.len();
    if n == 0 {
        eprintln!("{path}: no records");
        std::process::exit(2);
    }
    let t = Instant::now();
    let mut head = [0u8; 32];
    let mut link = [0u8; 17 + 64];
    link[..17].copy_from_slice(b"auditlog/v1/link\0");
    let mut node = [0u8; 65];
    node[0] = 0x01;
    for (i, m) in messages.iter().enumerate() {
        let digest: [u8; 32] = Sha256::digest(m).into();
        link[17..49].copy_from_slice(&head);
        link[49..].copy_from_slice(&digest);
        head = Sha256::digest(link).into();
        if i > 0 {
            node[1..33].copy_from_slice(&head);
            node[33..].copy_from_slice(&digest);
            node[1] ^= Sha256::digest(node)[0];
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "{n} records, {:.0} bytes per record digest message (checksum {})",
        bytes as f64 / n as f64,
        head[0] ^ node[1]
    );
    println!("SHA_FLOOR_S_PER_1M={:.4}", secs / n as f64 * 1e6);
}
