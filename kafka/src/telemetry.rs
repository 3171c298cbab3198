//! This crate's metric names, in one place.

/// Gauge, labels `topic` and `setting`: 1 while a topic setting that
/// durability depends on is weaker than docs/OPERATIONS.md asks (the
/// component started anyway, see [`crate::settings`]), 0 once it was
/// checked and found sound. `setting="describe_configs"` is 1 when the
/// settings could not be read at all.
pub const TOPIC_SETTING_UNSAFE: &str = "auditlog_kafka_topic_setting_unsafe";

/// Describes this crate's metrics to the installed recorder.
pub fn describe() {
    metrics::describe_gauge!(
        TOPIC_SETTING_UNSAFE,
        "1 while a topic setting durability depends on is weaker than documented (see the log), 0 when checked and sound"
    );
}

/// Records one checked setting.
pub(crate) fn setting(topic: &str, setting: &str, unsafe_now: bool) {
    metrics::gauge!(TOPIC_SETTING_UNSAFE, "topic" => topic.to_owned(), "setting" => setting.to_owned())
        .set(if unsafe_now { 1.0 } else { 0.0 });
}
