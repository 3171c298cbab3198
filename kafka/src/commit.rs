//! Readings of rdkafka's own results that every Kafka client here shares
//! (feature `rdkafka`).

use rdkafka::TopicPartitionList;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

/// What went wrong with an offset commit, if anything: the request's error,
/// or the partitions the broker refused (a commit of nothing to commit is
/// not a failure).
pub fn commit_failure(result: &KafkaResult<()>, offsets: &TopicPartitionList) -> Option<String> {
    match result {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => None,
        Err(error) => Some(format!("{error} ({} partitions)", offsets.count())),
        Ok(()) => {
            let refused: Vec<String> = offsets
                .elements()
                .iter()
                .filter_map(|e| {
                    e.error()
                        .err()
                        .map(|error| format!("{}/{}: {error}", e.topic(), e.partition()))
                })
                .collect();
            (!refused.is_empty()).then(|| refused.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::TopicPartitionList;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode as Code};

    use super::commit_failure;

    #[test]
    fn a_commit_fails_loudly_unless_there_was_nothing_to_commit() {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        tpl.add_partition("t", 1);
        assert_eq!(commit_failure(&Ok(()), &tpl), None);
        let nothing = Err(KafkaError::ConsumerCommit(Code::NoOffset));
        assert_eq!(commit_failure(&nothing, &tpl), None);
        let gone = Err(KafkaError::ConsumerCommit(Code::RebalanceInProgress));
        let said = commit_failure(&gone, &tpl).expect("a failure");
        assert!(said.contains("2 partitions"), "{said}");
    }
}
