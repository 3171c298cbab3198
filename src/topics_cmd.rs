//! `auditlog topics`: creating the events and seals topics with the settings
//! durability depends on, and describing them with that judgement.

use std::process::ExitCode;

use anyhow::Result;
use auditlog_config::Config;
use auditlog_kafka::settings::TopicRole;

use crate::TopicsAction;
use crate::output::outln;

pub async fn topics(config: Config, action: TopicsAction) -> Result<ExitCode> {
    match action {
        TopicsAction::Create {
            topic,
            partitions,
            replication_factor,
        } => {
            let topic = topic.unwrap_or_else(|| config.kafka.events_topic.clone());
            let partitions = partitions.unwrap_or(config.kafka.partitions);
            let rf = replication_factor.unwrap_or(config.kafka.replication_factor);
            let seals = config.sealer.seals_topic(&topic);
            for (name, is_seals) in [(&topic, false), (&seals, true)] {
                let created = auditlog_kafka::admin::create_topic(
                    &config.kafka,
                    name,
                    partitions,
                    rf,
                    is_seals,
                )
                .await?;
                if created {
                    outln!(
                        "created topic {name} with {partitions} partitions (replication factor {rf})"
                    )?;
                } else {
                    outln!("topic {name} already exists")?;
                }
            }
        }
        TopicsAction::Describe { topic, json } => {
            let topic = topic.unwrap_or_else(|| config.kafka.events_topic.clone());
            let seals = config.sealer.seals_topic(&topic);
            let kafka = config.kafka.clone();
            let name = seals.clone();
            let (info, seals_info, settings) = tokio::task::spawn_blocking(move || {
                let info = auditlog_kafka::admin::describe_topic(&kafka, &topic)?;
                let seals = match auditlog_kafka::admin::describe_topic(&kafka, &name) {
                    Ok(s) => Some(s),
                    Err(auditlog_kafka::KafkaError::TopicMissing { .. }) => None,
                    Err(e) => return Err(e),
                };
                let mut judged = vec![(topic, TopicRole::Events)];
                if seals.is_some() {
                    judged.push((name, TopicRole::Seals));
                }
                let settings = auditlog_kafka::admin::judge(&kafka, &judged)?.checks;
                Ok((info, seals, settings))
            })
            .await??;
            if json {
                let mut shown = serde_json::to_value(&info)?;
                shown["seals"] = serde_json::to_value(&seals_info)?;
                shown["settings"] = serde_json::to_value(&settings)?;
                outln!("{}", serde_json::to_string_pretty(&shown)?)?;
            } else {
                print_topic(&info)?;
                match &seals_info {
                    Some(s) => print_topic(s)?,
                    None => outln!(
                        "\nseals topic {seals} does not exist: create it with `auditlog topics create`"
                    )?,
                }
                print_settings(&settings)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The judged topic settings, one per line, worst first.
fn print_settings(checks: &[auditlog_kafka::settings::Check]) -> Result<()> {
    use auditlog_kafka::settings::Verdict;
    let rank = |v: &Verdict| match v {
        Verdict::Refused(_) => 0,
        Verdict::Weak(_) => 1,
        Verdict::Sound => 2,
    };
    let mut sorted: Vec<&auditlog_kafka::settings::Check> = checks.iter().collect();
    sorted.sort_by_key(|c| rank(&c.verdict));
    let mut text = String::from("\nsettings durability depends on (docs/OPERATIONS.md):\n");
    for c in sorted {
        let (word, why) = match &c.verdict {
            Verdict::Refused(why) => ("REFUSED", *why),
            Verdict::Weak(why) => ("weak", *why),
            Verdict::Sound => ("ok", ""),
        };
        text.push_str(&format!(
            "  {word:<7} {} {}={}",
            c.topic, c.setting, c.value
        ));
        if !why.is_empty() {
            text.push_str(&format!(": {why}"));
        }
        text.push('\n');
    }
    crate::output::print(&text)
}

/// One topic's partitions as a table.
fn print_topic(info: &auditlog_kafka::admin::TopicInfo) -> Result<()> {
    let mut text = format!(
        "topic {} ({} partitions, {} records retained)\n{:>9} {:>7} {:>12} {:>12}\n",
        info.topic,
        info.partitions.len(),
        info.records(),
        "partition",
        "leader",
        "start",
        "end"
    );
    for p in &info.partitions {
        text.push_str(&format!(
            "{:>9} {:>7} {:>12} {:>12}\n",
            p.partition, p.leader, p.low, p.high
        ));
    }
    crate::output::print(&text)
}
