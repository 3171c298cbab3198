//! Verification results as Prometheus text (`verify --metrics-file`), for a
//! node_exporter textfile collector: the dashboard's "verify results" panel.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::Report;

/// Findings of the last run, by name (0 for a clean run).
pub const FINDINGS: &str = "auditlog_verify_findings";
/// 1 if the last run had no findings and verified something (or
/// `--allow-empty` expected nothing), else 0.
pub const CLEAN: &str = "auditlog_verify_clean";
/// When the last run finished, seconds since the epoch.
pub const LAST_RUN: &str = "auditlog_verify_last_run_timestamp_seconds";
/// Records the last run read back and re-chained.
pub const RECORDS: &str = "auditlog_verify_records";
/// Manifests the last run checked.
pub const MANIFESTS: &str = "auditlog_verify_manifests";
/// Objects the last run checked, by how: `full` (read, hashed and
/// re-chained) or `listing` (unchanged since a clean run, `--state`).
pub const OBJECTS: &str = "auditlog_verify_objects";
/// When the newest sound checkpoint the last run held the archive to was
/// written, seconds since the epoch (absent when there was none).
pub const CHECKPOINT: &str = "auditlog_verify_checkpoint_timestamp_seconds";

/// The Prometheus text exposition of a run's results.
pub fn render(report: &Report, finished_at_secs: i64) -> String {
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for f in &report.findings {
        *by_kind.entry(f.kind.name()).or_default() += 1;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP {FINDINGS} Findings of the last auditlog verify run, by name."
    );
    let _ = writeln!(out, "# TYPE {FINDINGS} gauge");
    let _ = writeln!(out, "{FINDINGS}{{kind=\"all\"}} {}", report.findings.len());
    for (kind, n) in &by_kind {
        let _ = writeln!(out, "{FINDINGS}{{kind=\"{kind}\"}} {n}");
    }
    let records: u64 = report.partitions.values().map(|s| s.records).sum();
    let manifests: u64 = report.partitions.values().map(|s| s.manifests).sum();
    for (name, help, value) in [
        (
            CLEAN,
            "1 if the last auditlog verify run had no findings.",
            u64::from(report.is_clean()),
        ),
        (
            RECORDS,
            "Records the last auditlog verify run re-chained.",
            records,
        ),
        (
            MANIFESTS,
            "Manifests the last auditlog verify run checked.",
            manifests,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "# HELP {OBJECTS} Objects the last auditlog verify run checked, read in full or by listing.\n# TYPE {OBJECTS} gauge\n{OBJECTS}{{how=\"full\"}} {}\n{OBJECTS}{{how=\"listing\"}} {}",
        c.objects_full, c.objects_listed
    );
    let _ = writeln!(
        out,
        "# HELP {LAST_RUN} When the last auditlog verify run finished.\n# TYPE {LAST_RUN} gauge\n{LAST_RUN} {finished_at_secs}"
    );
    if let Some(ms) = report.checkpoints.newest_written_at_ms {
        let _ = writeln!(
            out,
            "# HELP {CHECKPOINT} When the newest sound checkpoint the last run held the archive to was written.\n# TYPE {CHECKPOINT} gauge\n{CHECKPOINT} {}",
            ms.div_euclid(1000)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, FindingKind};

    #[test]
    fn counts_findings_by_name_and_says_clean() {
        let clean = render(&Report::default(), 7);
        assert!(clean.contains("auditlog_verify_clean 1\n"));
        assert!(clean.contains("auditlog_verify_findings{kind=\"all\"} 0\n"));
        assert!(clean.contains("auditlog_verify_last_run_timestamp_seconds 7\n"));
        let mut inc = Report::default();
        inc.coverage.objects_full = 2;
        inc.coverage.objects_listed = 40;
        let text = render(&inc, 7);
        assert!(text.contains("auditlog_verify_objects{how=\"full\"} 2\n"));
        assert!(text.contains("auditlog_verify_objects{how=\"listing\"} 40\n"));
        assert!(!clean.contains(CHECKPOINT), "no checkpoint, no series");
        let mut with = Report::default();
        with.checkpoints.newest_written_at_ms = Some(5_999);
        assert!(render(&with, 7).contains("auditlog_verify_checkpoint_timestamp_seconds 5\n"));
        let mut r = Report::default();
        for _ in 0..2 {
            r.findings
                .push(Finding::new(FindingKind::RecordAltered, "t", 0, "x"));
        }
        r.findings
            .push(Finding::new(FindingKind::OffsetGap, "t", 0, "x"));
        let text = render(&r, 7);
        assert!(text.contains("auditlog_verify_findings{kind=\"record_altered\"} 2\n"));
        assert!(text.contains("auditlog_verify_findings{kind=\"offset_gap\"} 1\n"));
        assert!(text.contains("auditlog_verify_findings{kind=\"all\"} 3\n"));
        assert!(text.contains("auditlog_verify_clean 0\n"));
    }
}
