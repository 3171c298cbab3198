//! `auditlog verify-merge`: shards' JSON reports into one verdict, offline
//! (docs/FORMAT.md §8 "Shards", docs/OPERATIONS.md "Verifying in shards").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::output::print;
use crate::verify_cmd::Format;

/// Exit codes, as `verify`'s.
const FINDINGS: u8 = 1;
const CANNOT: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' reports (`verify --format json` of each shard).
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Merges and prints; exit 0 clean, 1 findings, 2 could not merge (a shard
/// missing, another archive, a time window, an unreadable report) or
/// nothing verified.
pub fn verify_merge(args: MergeArgs) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT)
        }
    }
}

fn run(args: MergeArgs) -> Result<u8> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading report {}", path.display()))?;
        let report: verify::Report = serde_json::from_str(&text).with_context(|| {
            format!(
                "report {} is not the JSON of `auditlog verify --format json`",
                path.display()
            )
        })?;
        reports.push(report);
    }
    let merged = verify::merge::merge(reports).context("the shards do not make one verdict")?;
    let location = merged.scope.location.clone();
    let finished_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let written = match args.format {
        Format::Json => print(&format!("{}\n", merged.to_json())),
        Format::Html => print(&verify::html::render(&merged, &location, finished_ms)),
        Format::Text => print(&merged.to_text(&location)),
    };
    if let Err(e) = written {
        eprintln!("error: {e:#}; the report was not delivered (exit 2)");
        return Ok(CANNOT);
    }
    if !merged.findings.is_empty() {
        return Ok(FINDINGS);
    }
    if let Some(why) = &merged.nothing_verified {
        eprintln!("error: nothing verified: {why}. Exit 2: an empty selection is never clean");
        return Ok(CANNOT);
    }
    Ok(0)
}
