//! `auditlog publish`: NDJSON straight to Kafka, all or nothing on validity.
//!
//! The input is read twice: once to validate every line, and, only if every
//! line is valid, once more to publish. Nothing is sent from a file with an
//! invalid line.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use schemas::{FieldError, Limits, parse_event};

use crate::IngestError;
use crate::producer::EventProducer;

/// Events awaiting acknowledgement at once.
const WINDOW: usize = 10_000;

/// An invalid line.
#[derive(Debug, Clone)]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// Every rule it failed.
    pub errors: Vec<FieldError>,
}

/// What validation found.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Non-blank lines, i.e. events.
    pub events: usize,
    /// The invalid ones.
    pub invalid: Vec<LineError>,
}

/// Validates every line of `reader`.
pub fn validate(
    reader: impl BufRead,
    limits: &Limits,
    path: &str,
) -> Result<Validation, IngestError> {
    let mut v = Validation::default();
    for_each_event(reader, path, |line, bytes| {
        v.events += 1;
        if let Err(errors) = parse_event(bytes, limits) {
            v.invalid.push(LineError { line, errors });
        }
        Ok(())
    })?;
    Ok(v)
}

/// Publish results.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Events acknowledged.
    pub published: usize,
    /// Lines whose event was not acknowledged, with the reason.
    pub failed: Vec<(usize, String)>,
    /// Acknowledged events per partition.
    pub per_partition: BTreeMap<i32, usize>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Publishes every line of an already validated input. `progress` is called
/// with the number of events acknowledged or failed so far.
pub async fn publish(
    reader: impl BufRead,
    path: &str,
    limits: &Limits,
    producer: &EventProducer,
    mut progress: impl FnMut(usize),
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut pending = FuturesUnordered::new();
    let mut done = 0usize;
    let mut lines = Vec::new();
    for_each_event(reader, path, |line, bytes| {
        lines.push((line, bytes.to_vec()));
        Ok(())
    })?;
    let record = |summary: &mut Summary,
                  line: usize,
                  r: Result<crate::producer::Ack, IngestError>| match r {
        Ok(ack) => {
            summary.published += 1;
            *summary.per_partition.entry(ack.partition).or_default() += 1;
        }
        Err(e) => summary.failed.push((line, e.to_string())),
    };
    for (line, bytes) in lines {
        let event = match parse_event(&bytes, limits) {
            Ok(e) => e,
            Err(errs) => {
                let msg = errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                summary.failed.push((line, format!("invalid: {msg}")));
                continue;
            }
        };
        while pending.len() >= WINDOW {
            if let Some((l, r)) = pending.next().await {
                record(&mut summary, l, r);
                done += 1;
                progress(done);
            }
        }
        let queued = loop {
            match producer.enqueue(&event) {
                Err(IngestError::QueueFull) if !pending.is_empty() => {
                    if let Some((l, r)) = pending.next().await {
                        record(&mut summary, l, r);
                        done += 1;
                        progress(done);
                    }
                }
                other => break other,
            }
        };
        let id = event.event_id;
        pending.push(async move {
            let r = match queued {
                Ok(fut) => producer.acknowledged(id, fut).await,
                Err(e) => Err(e),
            };
            (line, r)
        });
    }
    while let Some((l, r)) = pending.next().await {
        record(&mut summary, l, r);
        done += 1;
        progress(done);
    }
    summary.failed.sort_by_key(|(l, _)| *l);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn for_each_event(
    mut reader: impl BufRead,
    path: &str,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let mut buf = Vec::with_capacity(1024);
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| IngestError::Read {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let trimmed = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        f(line, trimmed)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_bad_lines_and_skips_blank_ones() {
        let good = r#"{"event_time":"2026-01-01T00:00:00Z","tenant":"t","source":"s","action":"a","actor":{"type":"u","id":"1"},"resource":{"type":"r","id":"1"},"outcome":"success"}"#;
        let input = format!(
            "{good}\n\n{{bad\n{good}\r\n{}\n",
            good.replace("\"t\"", "\"\"")
        );
        let v = validate(input.as_bytes(), &Limits::default(), "mem").expect("reads");
        assert_eq!(v.events, 4);
        let lines: Vec<usize> = v.invalid.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5]);
        assert_eq!(v.invalid[1].errors[0].field, "tenant");
    }
}
