//! The one-page HTML report a compliance officer attaches to an audit: the
//! verdict, counts per partition, a picture of chain coverage per partition
//! over time, and every finding. Self-contained (inline CSS and SVG, no
//! scripts, nothing fetched).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::registry::utc;
use crate::report::{RangeStatus, Report};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const WIDTH: f64 = 900.0;
const ROW: f64 = 22.0;
const LABEL: f64 = 150.0;

/// Coverage per partition: each archived range is a bar from the previous
/// range's seal time to its own; green when nothing is wrong with it, red
/// when a finding names it, and a hatched red gap where manifests are
/// missing.
fn coverage(ranges: &[RangeStatus]) -> String {
    let mut by_part: BTreeMap<(&str, i32), Vec<&RangeStatus>> = BTreeMap::new();
    for r in ranges {
        by_part
            .entry((r.topic.as_str(), r.partition))
            .or_default()
            .push(r);
    }
    let (Some(t0), Some(t1)) = (
        ranges.iter().map(|r| r.sealed_at_ms).min(),
        ranges.iter().map(|r| r.sealed_at_ms).max(),
    ) else {
        return "<p>No archived ranges.</p>".into();
    };
    let span = ((t1 - t0).max(1)) as f64;
    let x = |t: i64| LABEL + (t - t0) as f64 / span * (WIDTH - LABEL - 10.0);
    let height = ROW * by_part.len() as f64 + 40.0;
    let mut svg = format!(
        "<svg id=\"coverage\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"chain coverage per partition\">\
<defs><pattern id=\"gap\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><path d=\"M0,6 L6,0\" stroke=\"#c62828\" stroke-width=\"2\"/></pattern></defs>"
    );
    for (row, ((topic, partition), rs)) in by_part.iter().enumerate() {
        let y = 10.0 + ROW * row as f64;
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}/{}</text>",
            y + 14.0,
            esc(topic),
            partition
        );
        let mut prev: Option<&RangeStatus> = None;
        for r in rs {
            let start = prev.map_or(r.sealed_at_ms, |p| p.sealed_at_ms);
            let (a, b) = (x(start), x(r.sealed_at_ms).max(x(start) + 3.0));
            let mut a = a;
            if let Some(p) = prev.filter(|p| r.seq > p.seq + 1) {
                // The missing manifests' period, then this range as a marker.
                let _ = write!(
                    svg,
                    "<rect class=\"gap\" x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"16\" fill=\"url(#gap)\"><title>{} manifest(s) missing after seq {}</title></rect>",
                    (b - a - 4.0).max(2.0),
                    r.seq - p.seq - 1,
                    p.seq
                );
                a = (b - 4.0).max(a);
            }
            let _ = write!(
                svg,
                "<rect class=\"range {}\" x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"16\" fill=\"{}\"><title>seq {} offsets {}..={} sealed {}</title></rect>",
                if r.ok { "ok" } else { "bad" },
                (b - a).max(2.0),
                if r.ok { "#2e7d32" } else { "#c62828" },
                r.seq,
                r.first_offset,
                r.last_offset,
                utc(r.sealed_at_ms)
            );
            prev = Some(r);
        }
    }
    let base = 10.0 + ROW * by_part.len() as f64 + 14.0;
    let _ = write!(
        svg,
        "<text x=\"{LABEL}\" y=\"{base:.1}\" class=\"axis\">{}</text><text x=\"{:.1}\" y=\"{base:.1}\" class=\"axis\" text-anchor=\"end\">{}</text></svg>",
        utc(t0),
        WIDTH - 10.0,
        utc(t1)
    );
    svg
}

/// Renders the report.
pub fn render(report: &Report, location: &str, generated_at_ms: i64) -> String {
    let clean = report.is_clean();
    let mut rows = String::new();
    for ((t, p), s) in &report.partitions {
        let range = match (s.first_offset, s.last_offset) {
            (Some(a), Some(b)) => format!("{a}..={b}"),
            _ => "–".into(),
        };
        let _ = write!(
            rows,
            "<tr><td>{}/{p}</td><td>{}/{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{range}</td></tr>",
            esc(t),
            s.manifests - s.manifests_bad,
            s.manifests,
            s.manifests_missing,
            s.objects - s.objects_bad - s.objects_missing,
            s.objects,
            s.objects_missing,
            s.records
        );
    }
    let mut findings = String::new();
    for f in &report.findings {
        let offsets = f
            .offsets
            .map_or(String::new(), |(a, b)| format!("{a}..={b}"));
        let _ = write!(
            findings,
            "<tr class=\"finding\"><td><code>{}</code></td><td>{}</td><td>{offsets}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&f.kind.name()),
            esc(&f.place()),
            esc(&f.detail),
            esc(f.key.as_deref().unwrap_or(""))
        );
    }
    let verdict = if let Some(why) = &report.nothing_verified {
        format!(
            "<p id=\"verdict\" class=\"findings\">NOTHING VERIFIED — {}. This is not a clean result.</p>",
            esc(why)
        )
    } else if clean {
        "<p id=\"verdict\" class=\"clean\">CLEAN — every manifest, object, seal, signature, chain link and retention setting checked; no findings.</p>".to_owned()
    } else {
        format!(
            "<p id=\"verdict\" class=\"findings\">{} FINDING(S) — see the list below.</p>",
            report.findings.len()
        )
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>auditlog verification report</title>\
<style>body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}}h1{{font-size:20px}}\
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
.clean{{background:#e8f5e9;border-left:6px solid #2e7d32;padding:8px}}.findings{{background:#ffebee;border-left:6px solid #c62828;padding:8px}}\
.label,.axis{{font:11px sans-serif;fill:#444}}</style></head><body>\
<h1>auditlog verification report</h1>\
<p>Archive: <code>{}</code><br>Generated: {} · {} MiB read · {} unreferenced object(s)</p>{verdict}\
<h2>Chain coverage per partition over time</h2>{}\
<p class=\"legend\">green: range verified · red: a finding names it · hatched: manifests missing</p>\
<h2>Partitions</h2><table id=\"partitions\"><tr><th>partition</th><th>manifests valid</th><th>missing</th><th>objects valid</th><th>missing</th><th>records</th><th>offsets</th></tr>{rows}</table>\
<h2>Findings ({})</h2><table id=\"findings\"><tr><th>finding</th><th>partition</th><th>offsets</th><th>detail</th><th>key</th></tr>{findings}</table>\
</body></html>\n",
        esc(location),
        utc(generated_at_ms),
        format_args!("{:.1}", report.bytes as f64 / 1_048_576.0),
        report.unreferenced,
        coverage(&report.ranges),
        report.findings.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, FindingKind};

    fn range(partition: i32, seq: u64, at: i64, ok: bool) -> RangeStatus {
        RangeStatus {
            topic: "t<x>".into(),
            partition,
            seq,
            first_offset: seq as i64 * 10,
            last_offset: seq as i64 * 10 + 9,
            sealed_at_ms: at,
            key: format!("m{seq}"),
            ok,
        }
    }

    #[test]
    fn draws_ranges_gaps_and_findings_escaped() {
        let mut report = Report {
            ranges: vec![
                range(0, 0, 1_000, true),
                range(0, 1, 2_000, false),
                range(0, 4, 5_000, true),
                range(1, 0, 1_500, true),
            ],
            ..Report::default()
        };
        report
            .findings
            .push(Finding::new(FindingKind::RecordAltered, "t<x>", 0, "rows <differ>").at("m1"));
        let html = render(&report, "s3://b/p/", 0);
        assert_eq!(html.matches("class=\"range ok\"").count(), 3);
        assert_eq!(html.matches("class=\"range bad\"").count(), 1);
        assert_eq!(html.matches("class=\"gap\"").count(), 1);
        assert!(html.contains("2 manifest(s) missing after seq 1"));
        assert!(html.contains("1 FINDING(S)"));
        assert!(html.contains("rows &lt;differ&gt;") && !html.contains("rows <differ>"));
        assert!(html.contains("t&lt;x&gt;/0"));
        let clean = render(&Report::default(), "s3://b/", 0);
        assert!(clean.contains("CLEAN") && clean.contains("No archived ranges."));
    }
}
