//! The topic settings durability depends on, checked when a sealer or an
//! archiver starts (docs/OPERATIONS.md, "Broker and topic settings").
//!
//! [`assess`] is pure: from a topic's role, replication factor and
//! described configs it says, per setting, whether it is sound, weak (the
//! component starts, logs a warning and sets
//! [`crate::telemetry::TOPIC_SETTING_UNSAFE`] to 1) or refused (the
//! component does not start). A setting is refused only when it can make a
//! record vanish *after* it was acknowledged or sealed while every broker
//! keeps running as configured; settings that only weaken tolerance to
//! broker failures are weak, because operators choose them knowingly (a
//! one-node development cluster has replication factor 1).

use std::collections::BTreeMap;
use std::fmt;

/// What a topic is to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicRole {
    /// An events topic: the gateway writes it, the sealer reads it.
    Events,
    /// A seals topic: the arbiter of every chain.
    Seals,
}

/// The verdict on one setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "lowercase")]
pub enum Verdict {
    /// As docs/OPERATIONS.md asks.
    Sound,
    /// Weaker than asked; the reason.
    Weak(&'static str),
    /// Unacceptable; the reason.
    Refused(&'static str),
}

/// One checked setting of one topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// The topic.
    pub topic: String,
    /// The setting (a topic config, or `replication.factor`).
    pub setting: &'static str,
    /// Its value as the broker described it (`(absent)` if not described).
    pub value: String,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The refused settings that stopped a component, with how to fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Vec<Check>);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let why = match c.verdict {
                Verdict::Refused(why) | Verdict::Weak(why) => why,
                Verdict::Sound => "",
            };
            write!(
                f,
                "topic {} has {}={}: {why}; fix it with kafka-configs.sh --alter --entity-type topics --entity-name {} --add-config {}={}",
                c.topic,
                c.setting,
                c.value,
                c.topic,
                c.setting,
                wanted(c.setting)
            )?;
        }
        Ok(())
    }
}

fn wanted(setting: &str) -> &'static str {
    match setting {
        "unclean.leader.election.enable" => "false",
        "cleanup.policy" => "delete",
        "retention.ms" | "retention.bytes" => "-1",
        "min.insync.replicas" => "2",
        _ => "(see docs/OPERATIONS.md)",
    }
}

/// The value shown for a setting the broker did not describe.
const ABSENT: &str = "(absent)";
const NOT_DESCRIBED: &str = "the broker did not describe it, so it cannot be confirmed";
const UNCLEAN: &str = "an out-of-sync replica may become leader and drop records that were already acknowledged (and perhaps sealed), leaving a hole in the chain that no one can fill";
const COMPACTED: &str = "a partition's seals share one key, so compaction deletes all but the last, and with them the chain's evidence and the arbiter of forks";
const FINITE: &str = "seals the archiver has not stored before they expire are lost, and a sealer restarting after that cannot find its chain's head";
const ONE_ISR: &str = "acks=all is then satisfied by a single broker, so losing that broker loses acknowledged records";
const FEW_REPLICAS: &str = "with fewer than 3 replicas one broker failure either stops writes or risks acknowledged records";

/// Judges one topic's described settings.
pub fn assess(
    topic: &str,
    role: TopicRole,
    replication_factor: usize,
    configs: &BTreeMap<String, String>,
) -> Vec<Check> {
    let value = |k: &str| {
        configs
            .get(k)
            .map_or_else(|| ABSENT.to_owned(), |v| v.trim().to_owned())
    };
    let check = |setting: &'static str, value: String, verdict: Verdict| Check {
        topic: topic.to_owned(),
        setting,
        value,
        verdict,
    };
    let mut checks = Vec::new();
    let unclean = value("unclean.leader.election.enable");
    let verdict = if unclean.eq_ignore_ascii_case("false") {
        Verdict::Sound
    } else if unclean == ABSENT {
        Verdict::Weak(NOT_DESCRIBED)
    } else {
        Verdict::Refused(UNCLEAN)
    };
    checks.push(check("unclean.leader.election.enable", unclean, verdict));
    let rf = replication_factor.to_string();
    checks.push(if replication_factor >= 3 {
        check("replication.factor", rf, Verdict::Sound)
    } else {
        check("replication.factor", rf, Verdict::Weak(FEW_REPLICAS))
    });
    if replication_factor >= 2 {
        let min_isr = value("min.insync.replicas");
        let verdict = match min_isr.parse::<usize>() {
            Ok(n) if n >= 2 => Verdict::Sound,
            _ => Verdict::Weak(ONE_ISR),
        };
        checks.push(check("min.insync.replicas", min_isr, verdict));
    }
    if role == TopicRole::Seals {
        let policy = value("cleanup.policy");
        let verdict = if policy.split(',').any(|p| p.trim() == "compact") {
            Verdict::Refused(COMPACTED)
        } else if policy == ABSENT {
            Verdict::Weak(NOT_DESCRIBED)
        } else {
            Verdict::Sound
        };
        checks.push(check("cleanup.policy", policy, verdict));
        for setting in ["retention.ms", "retention.bytes"] {
            let v = value(setting);
            let verdict = if v == "-1" {
                Verdict::Sound
            } else {
                Verdict::Weak(FINITE)
            };
            checks.push(check(setting, v, verdict));
        }
    }
    checks
}

/// The refused checks among `checks`, if any.
pub fn refusal(checks: &[Check]) -> Option<Refusal> {
    let refused: Vec<Check> = checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Refused(_)))
        .cloned()
        .collect();
    (!refused.is_empty()).then_some(Refusal(refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn verdict<'a>(checks: &'a [Check], setting: &str) -> &'a Verdict {
        &checks
            .iter()
            .find(|c| c.setting == setting)
            .unwrap_or_else(|| panic!("{setting} not checked"))
            .verdict
    }

    const DURABLE_SEALS: &[(&str, &str)] = &[
        ("unclean.leader.election.enable", "false"),
        ("min.insync.replicas", "2"),
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
    ];

    #[test]
    fn what_topics_create_sets_on_three_replicas_is_sound() {
        let checks = assess("s", TopicRole::Seals, 3, &configs(DURABLE_SEALS));
        assert_eq!(checks.len(), 6);
        assert!(
            checks.iter().all(|c| c.verdict == Verdict::Sound),
            "{checks:?}"
        );
        assert_eq!(refusal(&checks), None);
    }

    #[test]
    fn unclean_election_is_refused_on_either_topic() {
        for role in [TopicRole::Events, TopicRole::Seals] {
            let mut c = configs(DURABLE_SEALS);
            c.insert("unclean.leader.election.enable".into(), "true".into());
            let checks = assess("t", role, 3, &c);
            assert_eq!(
                verdict(&checks, "unclean.leader.election.enable"),
                &Verdict::Refused(UNCLEAN)
            );
            let said = refusal(&checks).expect("refused").to_string();
            assert!(
                said.contains("topic t has unclean.leader.election.enable=true"),
                "{said}"
            );
            assert!(
                said.contains("--add-config unclean.leader.election.enable=false"),
                "{said}"
            );
        }
    }

    #[test]
    fn a_compacted_seals_topic_is_refused_but_a_compacted_events_topic_is_not_judged() {
        let mut c = configs(DURABLE_SEALS);
        c.insert("cleanup.policy".into(), "compact,delete".into());
        let seals = assess("s", TopicRole::Seals, 3, &c);
        assert_eq!(
            verdict(&seals, "cleanup.policy"),
            &Verdict::Refused(COMPACTED)
        );
        let events = assess("e", TopicRole::Events, 3, &c);
        assert!(events.iter().all(|c| c.setting != "cleanup.policy"));
        assert_eq!(refusal(&events), None);
    }

    #[test]
    fn weak_settings_start_but_are_named() {
        let mut c = configs(DURABLE_SEALS);
        c.insert("min.insync.replicas".into(), "1".into());
        c.insert("retention.ms".into(), "604800000".into());
        let checks = assess("s", TopicRole::Seals, 3, &c);
        assert_eq!(
            verdict(&checks, "min.insync.replicas"),
            &Verdict::Weak(ONE_ISR)
        );
        assert_eq!(verdict(&checks, "retention.ms"), &Verdict::Weak(FINITE));
        assert_eq!(verdict(&checks, "retention.bytes"), &Verdict::Sound);
        assert_eq!(refusal(&checks), None);
    }

    #[test]
    fn one_replica_is_weak_and_its_min_isr_is_not_judged() {
        let checks = assess("e", TopicRole::Events, 1, &configs(DURABLE_SEALS));
        assert_eq!(
            verdict(&checks, "replication.factor"),
            &Verdict::Weak(FEW_REPLICAS)
        );
        assert!(checks.iter().all(|c| c.setting != "min.insync.replicas"));
    }

    #[test]
    fn a_setting_the_broker_did_not_describe_is_weak_not_sound() {
        let checks = assess("s", TopicRole::Seals, 3, &BTreeMap::new());
        assert_eq!(
            verdict(&checks, "unclean.leader.election.enable"),
            &Verdict::Weak(NOT_DESCRIBED)
        );
        assert_eq!(
            verdict(&checks, "cleanup.policy"),
            &Verdict::Weak(NOT_DESCRIBED)
        );
        assert_eq!(refusal(&checks), None);
        assert_eq!(verdict(&checks, "retention.ms"), &Verdict::Weak(FINITE));
        assert!(checks.iter().any(|c| c.value == "(absent)"));
    }
}
