//! Metric names (one place) and the events that update them.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Requests answered, by status code.
pub const REQUESTS: &str = "auditlog_ingest_requests_total";
/// Events acknowledged by the broker.
pub const EVENTS_ACCEPTED: &str = "auditlog_ingest_events_accepted_total";
/// Events refused by validation, by rule.
pub const EVENTS_REJECTED: &str = "auditlog_ingest_events_rejected_total";
/// Events the broker did not acknowledge.
pub const PUBLISH_FAILURES: &str = "auditlog_ingest_publish_failures_total";
/// Requests refused because the in-flight bound was reached.
pub const OVERLOADED: &str = "auditlog_ingest_overloaded_total";
/// Events currently being published.
pub const IN_FLIGHT: &str = "auditlog_ingest_in_flight_events";
/// 1 when the broker answered the last probe, else 0.
pub const BROKER_READY: &str = "auditlog_ingest_broker_ready";
/// Requests refused by authentication or tenant authorisation, by reason.
pub const AUTH_FAILURES: &str = "auditlog_ingest_auth_failures_total";
/// Request handling time in seconds.
pub const REQUEST_SECONDS: &str = "auditlog_ingest_request_duration_seconds";

/// Histogram buckets for [`REQUEST_SECONDS`].
pub const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Registers descriptions for every ingest metric.
pub fn describe() {
    describe_counter!(REQUESTS, "HTTP requests answered, by status code.");
    describe_counter!(EVENTS_ACCEPTED, "Events acknowledged by the broker.");
    describe_counter!(EVENTS_REJECTED, "Events refused by validation, by rule.");
    describe_counter!(PUBLISH_FAILURES, "Events the broker did not acknowledge.");
    describe_counter!(
        OVERLOADED,
        "Requests refused with 503 because too many events were in flight."
    );
    describe_gauge!(IN_FLIGHT, "Events currently being published.");
    describe_counter!(
        AUTH_FAILURES,
        "Requests refused: missing_token, invalid_token (401) or forbidden_tenant (403)."
    );
    describe_gauge!(
        BROKER_READY,
        "1 when the broker answered the last readiness probe, else 0."
    );
    describe_histogram!(
        REQUEST_SECONDS,
        "Time to answer POST /v1/events, in seconds."
    );
    // Zero-initialise so dashboards see the series before the first event.
    counter!(EVENTS_ACCEPTED).absolute(0);
    counter!(PUBLISH_FAILURES).absolute(0);
    counter!(OVERLOADED).absolute(0);
    gauge!(BROKER_READY).set(0.0);
    gauge!(IN_FLIGHT).set(0.0);
}

/// A request was answered.
pub fn request_answered(status: u16, seconds: f64) {
    counter!(REQUESTS, "status" => status.to_string()).increment(1);
    histogram!(REQUEST_SECONDS).record(seconds);
}

/// Events were refused; one count per failed rule.
pub fn events_rejected<'a>(rules: impl Iterator<Item = &'a str>) {
    for rule in rules {
        counter!(EVENTS_REJECTED, "rule" => rule.to_owned()).increment(1);
    }
}

/// Events were acknowledged.
pub fn events_accepted(n: usize) {
    counter!(EVENTS_ACCEPTED).increment(n as u64);
}

/// Events were not acknowledged.
pub fn publish_failed(n: usize) {
    counter!(PUBLISH_FAILURES).increment(n as u64);
}

/// A request was refused for lack of capacity.
pub fn overloaded() {
    counter!(OVERLOADED).increment(1);
}

/// The number of events in flight changed.
pub fn in_flight(n: usize) {
    gauge!(IN_FLIGHT).set(n as f64);
}

/// The readiness probe finished.
pub fn broker_ready(ready: bool) {
    gauge!(BROKER_READY).set(if ready { 1.0 } else { 0.0 });
}

/// A request was refused by authentication or authorisation.
pub fn auth_failed(reason: &'static str) {
    counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}
