//! A synthetic archive straight into S3, for `scripts/bench-verify
//! --synthetic`: realistic events (`schemas::sample`), chained and sealed
//! (one signed seal per `RECORDS_PER_SEAL` records, `SEALS_PER_RANGE`
//! seals per events object and manifest), encoded by the archiver's own
//! `encode_range`, named by `archive::layout`, PUT create-only under
//! COMPLIANCE retention with signed, chained manifests. No Kafka, no
//! checkpoints.
//!
//! Usage: synthetic_archive ENDPOINT BUCKET PREFIX EVENTS BASE_MS KEY_DIR
//! [RECORDS_PER_SEAL SEALS_PER_RANGE] (default 1,000 and 5: small objects,
//! many versions; the archiver's own defaults, `sealer.max_records` and
//! `archiver.group_max_seals`, are 10,000 and 8)
//!
//! Everything is a function of the arguments (keys come from fixed seeds,
//! times from BASE_MS), so running it again with more EVENTS re-creates the
//! same objects (the create-only PUT adopts them) and appends the rest:
//! that is how the bench grows an archive by 1%.
//!
//! With `SYNTHETIC_RECORDS=FILE` in the environment it also writes every
//! record as a line `key TAB value` to FILE, the input of the SHA-256 floor
//! (`chain/examples/sha_floor.rs`) that the bench sets beside a deep run.

use std::time::Instant;

use archive::layout::{events_key, manifest_key};
use archive::retain_until_secs;
use archive::store::Store;
use archiver::encode::encode_range;
use chain::keyfile::{KeyKind, encode};
use chain::link::{Chain, RecordRef, genesis};
use chain::manifest::{Manifest, ObjectRef, Seals, Table};
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind};
use ed25519_dalek::SigningKey;
use schemas::Limits;
use schemas::archive::KafkaRecord;

/// Records per seal, unless given.
const SEAL: usize = 1_000;
/// Seals per range (one events object and one manifest each), unless given.
const SEALS_PER_RANGE: usize = 5;
const TOPIC: &str = "audit.events";
const RETENTION: std::time::Duration = std::time::Duration::from_secs(86_400);

const USAGE: &str = "usage: synthetic_archive ENDPOINT BUCKET PREFIX EVENTS BASE_MS KEY_DIR \
                     [RECORDS_PER_SEAL SEALS_PER_RANGE]";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What to build: how many records, cut how (per seal, seals per range).
#[derive(Clone, Copy)]
struct Plan {
    total: usize,
    seal: usize,
    seals_per_range: usize,
}

fn main() -> Res<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (fixed, shape) = a.split_at(a.len().min(6));
    let [endpoint, bucket, prefix, events, base_ms, key_dir] = fixed else {
        return Err(USAGE.into());
    };
    let (total, base_ms): (usize, i64) = (events.parse()?, base_ms.parse()?);
    let plan = match shape {
        [] => Plan {
            total,
            seal: SEAL,
            seals_per_range: SEALS_PER_RANGE,
        },
        [seal, per_range] => Plan {
            total,
            seal: seal.parse()?,
            seals_per_range: per_range.parse()?,
        },
        _ => return Err(USAGE.into()),
    };
    if plan.seal == 0 || plan.seals_per_range == 0 {
        return Err("RECORDS_PER_SEAL and SEALS_PER_RANGE must be positive".into());
    }
    let sealer = SigningKey::from_bytes(&[7; 32]);
    let archiver = SigningKey::from_bytes(&[9; 32]);
    for (name, k) in [("sealer", &sealer), ("archiver", &archiver)] {
        std::fs::write(
            format!("{key_dir}/{name}.pub"),
            encode(KeyKind::Public, &k.verifying_key().to_bytes()),
        )?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(build(
        endpoint, bucket, prefix, plan, base_ms, &sealer, &archiver,
    ))
}

async fn build(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    plan: Plan,
    base_ms: i64,
    sealer: &SigningKey,
    archiver: &SigningKey,
) -> Res<()> {
    let started = Instant::now();
    let store = Store::connect(Some(endpoint), "us-east-1", bucket, true).await;
    let records: Vec<KafkaRecord> = schemas::sample::sample_events(plan.total, 1, 8)
        .enumerate()
        .map(|(i, e)| KafkaRecord {
            topic: TOPIC.into(),
            partition: 0,
            offset: i as i64,
            timestamp_ms: Some(base_ms + i as i64),
            key: Some(e.tenant.as_bytes().to_vec()),
            value: Some(e.to_canonical_json()),
            headers: vec![],
        })
        .collect();
    if let Some(path) = std::env::var_os("SYNTHETIC_RECORDS") {
        write_records(std::path::Path::new(&path), &records)?;
    }
    let mut head = genesis(TOPIC, 0);
    let mut prev_manifest = None;
    let (mut seal_seq, mut bytes) = (0u64, 0u64);
    let limits = Limits::default();
    let ranges = records.chunks(plan.seal * plan.seals_per_range);
    let n_ranges = ranges.len();
    for (mseq, range) in ranges.enumerate() {
        let mut seals = Vec::new();
        for chunk in range.chunks(plan.seal) {
            let mut c = Chain::resume(head, None);
            let mut leaves = Vec::with_capacity(chunk.len());
            for r in chunk {
                leaves.push(c.append(&RecordRef {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                })?);
            }
            let last = chunk.last().ok_or("empty chunk")?;
            let mut s = Seal {
                kind: SealKind::Data,
                topic: TOPIC.into(),
                partition: 0,
                seq: seal_seq,
                first_offset: chunk[0].offset,
                last_offset: last.offset,
                count: chunk.len() as u64,
                prev_head: head,
                head: c.head(),
                merkle_root: merkle::root(&leaves),
                high_watermark: last.offset + 1,
                sealed_at_ms: base_ms + last.offset,
                key_id: KeyId::of(&sealer.verifying_key()),
                signature: [0; 64],
            };
            s.sign(sealer);
            head = s.head;
            seal_seq += 1;
            seals.push(s);
        }
        let seals = Seals::new(seals).ok_or("a range without seals")?;
        let encoded = encode_range(&seals, range.to_vec(), &limits)?;
        let until = retain_until_secs(seals.sealed_at_ms(), RETENTION);
        let t = encoded.events.ok_or("sample events are all valid")?;
        let key = events_key(
            prefix,
            TOPIC,
            0,
            seals.first_offset(),
            range[0].timestamp_ms,
        );
        bytes += t.bytes.len() as u64;
        let object = ObjectRef {
            table: Table::Events,
            key: key.clone(),
            version_id: String::new(),
            sha256: t.sha256,
            rows: t.rows as u64,
            bytes: t.bytes.len() as u64,
        };
        let put = store
            .put_locked(
                &key,
                t.bytes,
                &t.sha256,
                until,
                "application/vnd.apache.parquet",
            )
            .await?;
        let mut m = Manifest {
            seals,
            objects: vec![ObjectRef {
                version_id: put.version_id().to_owned(),
                ..object
            }],
            schema_version: 1,
            seq: mseq as u64,
            prev_manifest,
            written_at_ms: base_ms + range.len() as i64,
            key_id: KeyId::of(&archiver.verifying_key()),
            signature: [0; 64],
        };
        m.sign(archiver);
        let json = m.to_json();
        bytes += json.len() as u64;
        let mkey = manifest_key(prefix, TOPIC, 0, m.seals.first_offset());
        store.put_locked_json(&mkey, json, until).await?;
        prev_manifest = Some(m.digest());
    }
    println!(
        "synthetic archive: {} events, {n_ranges} manifests, {:.1} MiB in {:.1} s",
        plan.total,
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every record as `key TAB value`, one per line, for `sha_floor`.
fn write_records(path: &std::path::Path, records: &[KafkaRecord]) -> Res<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in records {
        out.write_all(r.key.as_deref().unwrap_or_default())?;
        out.write_all(b"\t")?;
        out.write_all(r.value.as_deref().unwrap_or_default())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
