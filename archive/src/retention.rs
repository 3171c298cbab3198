//! The retention policy: how long Object Lock keeps a range's objects and
//! manifest, and the retain-until date a writer asks for and a verifier
//! recomputes (`docs/FORMAT.md` §6).

/// The Object Lock retention policy: per topic, with a default, and longer
/// for event classes (`action` prefixes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// For topics not in `by_topic`.
    pub default: std::time::Duration,
    /// Per topic.
    pub by_topic: std::collections::BTreeMap<String, std::time::Duration>,
    /// At least this long for events whose `action` starts with the key.
    pub by_action: std::collections::BTreeMap<String, std::time::Duration>,
}

impl Retention {
    /// The retention of `topic`'s ranges.
    pub fn for_topic(&self, topic: &str) -> std::time::Duration {
        self.by_topic.get(topic).copied().unwrap_or(self.default)
    }

    /// The retention of a range of `topic` whose events have these actions:
    /// the topic's, or the longest of a class any of them belongs to
    /// (`docs/FORMAT.md` §6). Every object of the range shares it.
    pub fn for_range<'a>(
        &self,
        topic: &str,
        actions: impl IntoIterator<Item = &'a str>,
    ) -> std::time::Duration {
        let mut r = self.for_topic(topic);
        if self.by_action.is_empty() {
            return r;
        }
        for a in actions {
            for (prefix, d) in &self.by_action {
                if a.starts_with(prefix.as_str()) {
                    r = r.max(*d);
                }
            }
        }
        r
    }

    /// The longest of any topic or class: what a checkpoint, which speaks
    /// for every partition, is locked for.
    pub fn longest(&self) -> std::time::Duration {
        self.by_topic
            .values()
            .chain(self.by_action.values())
            .copied()
            .fold(self.default, std::time::Duration::max)
    }
}

/// The Object Lock retain-until date of a range's objects and manifest, in
/// seconds since the epoch: the seal's time plus the retention, rounded up to
/// a whole second. A function of the seal alone, so a retry asks for the same
/// date and a verifier can recompute it.
pub fn retain_until_secs(sealed_at_ms: i64, retention: std::time::Duration) -> i64 {
    let sealed = sealed_at_ms.max(0).saturating_add(999) / 1000;
    sealed.saturating_add(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_until_is_seal_time_plus_retention_rounded_up() {
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(retain_until_secs(1_000, day), 1 + 86_400);
        assert_eq!(retain_until_secs(1_001, day), 2 + 86_400);
    }

    #[test]
    fn a_range_is_kept_as_long_as_its_longest_event_class() {
        let day = std::time::Duration::from_secs(86_400);
        let r = Retention {
            default: day,
            by_topic: [("long".to_owned(), day * 30)].into(),
            by_action: [
                ("admin.".to_owned(), day * 7),
                ("admin.root.".to_owned(), day * 90),
            ]
            .into(),
        };
        assert_eq!(r.for_range("t", ["invoice.delete"]), day);
        assert_eq!(r.for_range("t", ["invoice.delete", "admin.login"]), day * 7);
        assert_eq!(
            r.for_range("t", ["admin.root.grant", "admin.login"]),
            day * 90
        );
        // A class never shortens a topic's retention; no events, the topic's.
        assert_eq!(r.for_range("long", ["admin.login"]), day * 30);
        assert_eq!(r.for_range("long", std::iter::empty()), day * 30);
        assert_eq!(r.longest(), day * 90, "checkpoints outlive every class");
    }
}
