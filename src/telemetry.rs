//! Process-level metrics every long-running command (ingest, seal, archive)
//! exposes beside its own.

use std::time::Duration;

use metrics::{describe_gauge, gauge};

/// Resident set size of the process, bytes (VmRSS).
pub const RESIDENT_MEMORY: &str = "auditlog_process_resident_memory_bytes";

/// Reads VmRSS from /proc/self/status.
fn rss_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// Updates [`RESIDENT_MEMORY`] every few seconds for the life of the runtime.
pub fn spawn_process_metrics() {
    describe_gauge!(RESIDENT_MEMORY, "Resident set size of the process, bytes.");
    tokio::spawn(async {
        loop {
            if let Some(b) = rss_bytes() {
                gauge!(RESIDENT_MEMORY).set(b);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}
