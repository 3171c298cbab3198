//! Sample records and the (unsigned) seals of their ranges, shared by the
//! criterion benches and the `encode_core` example.

use chain::link::{Chain, RecordRef};
use chain::merkle;
use chain::seal::{KeyId, Seal, SealKind};
use schemas::archive::KafkaRecord;

/// `total` sample events as Kafka records of one partition, and one data
/// seal per `range` of them, chained from an all-zero head.
pub fn sealed_ranges(total: usize, range: usize) -> (Vec<KafkaRecord>, Vec<Seal>) {
    let records: Vec<KafkaRecord> = schemas::sample::sample_events(total, 1, 8)
        .enumerate()
        .map(|(i, e)| KafkaRecord {
            topic: "audit.events".into(),
            partition: 0,
            offset: i as i64,
            timestamp_ms: Some(1_795_700_000_000 + i as i64),
            key: Some(e.tenant.as_bytes().to_vec()),
            value: Some(e.to_canonical_json()),
            headers: vec![],
        })
        .collect();
    let mut seals = Vec::new();
    let mut head = [0u8; 32];
    for chunk in records.chunks(range) {
        let mut c = Chain::resume(head, None);
        let leaves: Vec<_> = chunk
            .iter()
            .map(|r| {
                c.append(&RecordRef {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                })
                .unwrap_or_default()
            })
            .collect();
        seals.push(Seal {
            kind: SealKind::Data,
            topic: "audit.events".into(),
            partition: 0,
            seq: seals.len() as u64,
            first_offset: chunk[0].offset,
            last_offset: chunk[chunk.len() - 1].offset,
            count: chunk.len() as u64,
            prev_head: head,
            head: c.head(),
            merkle_root: merkle::root(&leaves),
            high_watermark: 0,
            sealed_at_ms: 0,
            key_id: KeyId([0; 16]),
            signature: [0; 64],
        });
        head = c.head();
    }
    (records, seals)
}
