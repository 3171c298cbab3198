//! The derived-columns rule's one input that is not in the record: the id of
//! an event that has none (`docs/FORMAT.md` §2). The archiver mints it when it
//! writes a row; the verifier mints it again when it re-derives the row from
//! `kafka_value`. Both must get the same id from the same coordinates.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The id given to an event that has none: a UUIDv8 from
/// SHA-256("auditlog/v1/event-id" 0x00 ‖ u32be(len topic) ‖ topic ‖ i32be(partition) ‖ i64be(offset)).
pub fn derived_event_id(topic: &str, partition: i32, offset: i64) -> Uuid {
    let d = Sha256::new()
        .chain_update(b"auditlog/v1/event-id\0")
        .chain_update(u32::try_from(topic.len()).unwrap_or(u32::MAX).to_be_bytes())
        .chain_update(topic.as_bytes())
        .chain_update(partition.to_be_bytes())
        .chain_update(offset.to_be_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::derived_event_id;

    #[test]
    fn derived_ids_are_stable_uuid_v8() {
        let a = derived_event_id("t", 1, 2);
        assert_eq!(a, derived_event_id("t", 1, 2));
        assert_ne!(a, derived_event_id("t", 1, 3));
        assert_ne!(a, derived_event_id("u", 1, 2));
        assert_eq!(a.get_version_num(), 8);
    }
}
