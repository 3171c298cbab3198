//! What a run selected, and why a selection that holds nothing is never
//! called clean (`docs/FORMAT.md` §8, "Nothing verified").
//!
//! Pure: the IO edge counts what it listed into a [`Selection`]; the
//! binary adds what only S3 can say (the bucket's Object Lock, the prefixes
//! that do exist) and [`explain`] turns it into the sentence a person reads.

use std::collections::BTreeSet;

use archive::layout::{KeyKind, parse_key};
use serde::{Deserialize, Serialize};

use crate::registry::utc;

/// What the listing held, before and after the run's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Keys under the prefix (any kind).
    pub keys_listed: u64,
    /// Manifest keys under the prefix.
    pub manifests_listed: u64,
    /// Topics those manifests belong to.
    pub topics_listed: BTreeSet<String>,
    /// Manifest keys of the wanted topics and partitions.
    pub manifests_selected: u64,
    /// Of those, manifests the time window left out.
    pub manifests_outside_window: u64,
    /// Earliest and latest `sealed_at_ms` of the manifests the window left out.
    pub outside_window_sealed_ms: Option<(i64, i64)>,
}

impl Selection {
    /// Counts a listing's keys under `prefix`; `selected` manifest keys
    /// passed the topic and partition filters.
    pub fn of_listing<'a>(
        prefix: &str,
        keys: impl Iterator<Item = &'a String>,
        selected: usize,
    ) -> Self {
        let mut s = Self {
            manifests_selected: selected as u64,
            ..Self::default()
        };
        for k in keys {
            s.keys_listed += 1;
            if let KeyKind::Manifest { topic, .. } = parse_key(prefix, k) {
                s.manifests_listed += 1;
                s.topics_listed.insert(topic);
            }
        }
        s
    }

    /// Notes a manifest the time window left out.
    pub fn outside_window(&mut self, sealed_at_ms: i64) {
        self.manifests_outside_window += 1;
        self.outside_window_sealed_ms = Some(match self.outside_window_sealed_ms {
            Some((a, b)) => (a.min(sealed_at_ms), b.max(sealed_at_ms)),
            None => (sealed_at_ms, sealed_at_ms),
        });
    }
}

/// The run's filters, for the message.
#[derive(Debug, Clone, Default)]
pub struct Filters<'a> {
    /// Where the run looked, e.g. `s3://bucket/prefix/`.
    pub location: &'a str,
    /// `--topic`s (all when empty).
    pub topics: &'a [String],
    /// `--partition`s (all when empty).
    pub partitions: &'a [i32],
    /// `--since`, ms since the epoch.
    pub since_ms: Option<i64>,
    /// `--until`, ms since the epoch.
    pub until_ms: Option<i64>,
}

/// What only S3 can add when nothing was selected.
#[derive(Debug, Clone, Default)]
pub struct Surroundings {
    /// Why the bucket is not an Object Lock bucket, if it is not.
    pub bucket_not_locked: Option<String>,
    /// Prefixes that do exist beside the one asked for (one level up).
    pub nearby_prefixes: Vec<String>,
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.len() {
        0 => "none".into(),
        n if n > 10 => format!("{} … ({n} in all)", items[..10].join(", ")),
        _ => items.join(", "),
    }
}

/// Why a run that checked no manifest and found no object verified
/// nothing, in one sentence a person can act on.
pub fn explain(s: &Selection, f: &Filters<'_>, around: &Surroundings) -> String {
    let mut why = if s.keys_listed == 0 {
        let mut m = format!(
            "no object under {}: no such prefix, or nothing archived yet",
            f.location
        );
        if !around.nearby_prefixes.is_empty() {
            m.push_str(&format!(
                "; prefixes that exist there: {}",
                list(around.nearby_prefixes.iter().cloned())
            ));
        }
        m
    } else if s.manifests_listed == 0 {
        format!(
            "{} key(s) under {} but no manifest (manifests/topic=…/partition=…/…json): not an archive prefix, or the archiver has not written yet",
            s.keys_listed, f.location
        )
    } else if s.manifests_selected == 0 {
        let topics = if f.topics.is_empty() {
            "any topic".to_owned()
        } else {
            format!("topic(s) {}", f.topics.join(", "))
        };
        let parts = if f.partitions.is_empty() {
            String::new()
        } else {
            let p: Vec<String> = f.partitions.iter().map(i32::to_string).collect();
            format!(" partition(s) {}", p.join(", "))
        };
        format!(
            "{} manifest(s) under {}, none of {topics}{parts}; topics archived there: {}",
            s.manifests_listed,
            f.location,
            list(s.topics_listed.iter().cloned())
        )
    } else {
        let window = format!(
            "[{}, {})",
            f.since_ms.map_or("-∞".into(), utc),
            f.until_ms.map_or("+∞".into(), utc)
        );
        let sealed = s.outside_window_sealed_ms.map_or(String::new(), |(a, b)| {
            format!("; they were sealed from {} to {}", utc(a), utc(b))
        });
        format!(
            "the time window {window} selects none of the {} manifest(s) of the selection{sealed}",
            s.manifests_selected
        )
    };
    if let Some(lock) = &around.bucket_not_locked {
        why.push_str(&format!(
            "; and the bucket is not an archive bucket: {lock}"
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(location: &str) -> Filters<'_> {
        Filters {
            location,
            ..Filters::default()
        }
    }

    #[test]
    fn an_empty_prefix_names_the_prefixes_that_exist() {
        let around = Surroundings {
            bucket_not_locked: None,
            nearby_prefixes: vec!["audit/".into(), "chaos/".into()],
        };
        let m = explain(&Selection::default(), &filters("s3://b/audti/"), &around);
        assert!(
            m.contains("no object under s3://b/audti/: no such prefix"),
            "{m}"
        );
        assert!(
            m.contains("prefixes that exist there: audit/, chaos/"),
            "{m}"
        );
    }

    #[test]
    fn a_bucket_without_object_lock_is_named() {
        let around = Surroundings {
            bucket_not_locked: Some("it has no Object Lock configuration".into()),
            nearby_prefixes: Vec::new(),
        };
        let m = explain(&Selection::default(), &filters("s3://plain/"), &around);
        assert!(
            m.contains("not an archive bucket: it has no Object Lock"),
            "{m}"
        );
    }

    #[test]
    fn a_filter_that_matches_no_topic_lists_the_topics() {
        let s = Selection {
            keys_listed: 9,
            manifests_listed: 3,
            topics_listed: ["audit.events".to_owned()].into(),
            ..Selection::default()
        };
        let topics = ["audit.evnets".to_owned()];
        let f = Filters {
            topics: &topics,
            partitions: &[4],
            ..filters("s3://b/")
        };
        let m = explain(&s, &f, &Surroundings::default());
        assert!(
            m.contains("3 manifest(s) under s3://b/, none of topic(s) audit.evnets partition(s) 4; topics archived there: audit.events"),
            "{m}"
        );
    }

    #[test]
    fn a_window_that_selects_nothing_prints_rfc3339_times() {
        let mut s = Selection {
            keys_listed: 9,
            manifests_listed: 2,
            manifests_selected: 2,
            ..Selection::default()
        };
        s.outside_window(1_764_000_000_000);
        s.outside_window(1_764_000_060_000);
        let f = Filters {
            since_ms: Some(1_798_761_600_000),
            ..filters("s3://b/")
        };
        let m = explain(&s, &f, &Surroundings::default());
        assert!(
            m.contains(
                "the time window [2027-01-01T00:00:00Z, +∞) selects none of the 2 manifest(s)"
            ),
            "{m}"
        );
        assert!(
            m.contains("sealed from 2025-11-24T16:00:00Z to 2025-11-24T16:01:00Z"),
            "{m}"
        );
        assert!(!m.contains("1764000000000"), "{m}");
    }
}
