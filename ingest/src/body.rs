//! Request bodies to events: pure, no IO.
//!
//! A body is one JSON event, a JSON array of events, or NDJSON (one event per
//! line, blank lines ignored). Every event is validated; if any fails, the
//! whole body is refused with every failure listed.

use schemas::{AuditEvent, FieldError, Limits, parse_event};
use serde::Serialize;
use serde_json::value::RawValue;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: an object or an array of objects.
    Json,
    /// `application/x-ndjson`: one object per line.
    Ndjson,
}

/// One failed rule of one event in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// Position of the event in the batch, from 0.
    pub index: usize,
    /// For NDJSON, the line number, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The field at fault (dotted path; empty for the whole event).
    pub field: String,
    /// The rule that failed.
    pub rule: &'static str,
    /// What to do about it.
    pub message: String,
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The content type is neither JSON nor NDJSON.
    UnsupportedMediaType(String),
    /// The body is not JSON at all, or not an object or array.
    Malformed(String),
    /// The body holds no event.
    Empty,
    /// More events than `ingest.max_batch_events`.
    TooManyEvents {
        /// Events in the body.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// At least one event is invalid.
    Invalid(Vec<ItemError>),
}

impl BodyError {
    /// The HTTP status for this refusal: 415, 400, 413, or 422 (400 when any
    /// item is not JSON at all).
    pub fn status(&self) -> u16 {
        match self {
            BodyError::UnsupportedMediaType(_) => 415,
            BodyError::Malformed(_) | BodyError::Empty => 400,
            BodyError::TooManyEvents { .. } => 413,
            BodyError::Invalid(items) if items.iter().any(|i| i.rule == "json_syntax") => 400,
            BodyError::Invalid(_) => 422,
        }
    }
}

/// Chooses the framing from a `Content-Type` header. A request without
/// one is refused (415, as the README says) rather than guessed at: the
/// framing decides what counts as one event, so it must be stated.
pub fn format_of(content_type: Option<&str>) -> Result<BodyFormat, BodyError> {
    let Some(ct) = content_type else {
        return Err(BodyError::UnsupportedMediaType(String::new()));
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(BodyFormat::Ndjson)
        }
        other => Err(BodyError::UnsupportedMediaType(other.to_owned())),
    }
}

/// Parses and validates a whole body.
pub fn parse_body(
    format: BodyFormat,
    body: &[u8],
    limits: &Limits,
    max_events: usize,
) -> Result<Vec<AuditEvent>, BodyError> {
    // (index, line, raw bytes) of every event in the body.
    let items: Vec<(Option<usize>, &[u8])> = match format {
        BodyFormat::Ndjson => body
            .split(|b| *b == b'\n')
            .enumerate()
            .map(|(i, l)| (Some(i + 1), l.strip_suffix(b"\r").unwrap_or(l)))
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .collect(),
        BodyFormat::Json => {
            let start = body.iter().find(|b| !b.is_ascii_whitespace());
            match start {
                None => return Err(BodyError::Empty),
                Some(b'[') => {
                    let raw: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                        BodyError::Malformed(format!("not a JSON array of events: {e}"))
                    })?;
                    raw.into_iter()
                        .map(|r| (None, r.get().as_bytes()))
                        .collect()
                }
                Some(b'{') => vec![(None, body)],
                Some(_) => {
                    return Err(BodyError::Malformed(
                        "expected a JSON object or an array of objects".into(),
                    ));
                }
            }
        }
    };
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    if items.len() > max_events {
        return Err(BodyError::TooManyEvents {
            count: items.len(),
            max: max_events,
        });
    }
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, (line, raw)) in items.into_iter().enumerate() {
        match parse_event(raw, limits) {
            Ok(e) => events.push(e),
            Err(errs) => errors.extend(errs.into_iter().map(
                |FieldError {
                     field,
                     rule,
                     message,
                 }| ItemError {
                    index,
                    line,
                    field,
                    rule,
                    message,
                },
            )),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(BodyError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"event_time":"2026-01-01T00:00:00Z","tenant":"t","source":"s","action":"a","actor":{"type":"user","id":"u"},"resource":{"type":"r","id":"1"},"outcome":"success"}"#;

    fn parse(format: BodyFormat, body: &str) -> Result<Vec<AuditEvent>, BodyError> {
        parse_body(format, body.as_bytes(), &Limits::default(), 100)
    }

    #[test]
    fn single_array_and_ndjson() {
        assert_eq!(parse(BodyFormat::Json, EVENT).map(|v| v.len()), Ok(1));
        assert_eq!(
            parse(BodyFormat::Json, &format!("[{EVENT},{EVENT}]")).map(|v| v.len()),
            Ok(2)
        );
        assert_eq!(
            parse(BodyFormat::Ndjson, &format!("{EVENT}\r\n\n{EVENT}\n")).map(|v| v.len()),
            Ok(2)
        );
    }

    #[test]
    fn one_bad_item_refuses_the_batch_and_names_it() {
        let bad = EVENT.replace("\"success\"", "\"great\"");
        let err = parse(BodyFormat::Ndjson, &format!("{EVENT}\n\n{bad}\n")).expect_err("invalid");
        assert_eq!(err.status(), 422);
        let BodyError::Invalid(items) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(items.len(), 1);
        assert_eq!(
            (
                items[0].index,
                items[0].line,
                items[0].field.as_str(),
                items[0].rule
            ),
            (1, Some(3), "outcome", "enum")
        );
    }

    #[test]
    fn broken_json_line_is_400() {
        let err = parse(BodyFormat::Ndjson, &format!("{EVENT}\n{{oops\n")).expect_err("invalid");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn framing_errors() {
        assert_eq!(
            parse(BodyFormat::Json, "  ").expect_err("empty"),
            BodyError::Empty
        );
        assert_eq!(
            parse(BodyFormat::Json, "[]").expect_err("empty"),
            BodyError::Empty
        );
        assert_eq!(
            parse(BodyFormat::Json, "42").expect_err("number").status(),
            400
        );
        assert_eq!(
            parse(BodyFormat::Json, "[1,").expect_err("broken").status(),
            400
        );
        let many = vec![EVENT; 101].join("\n");
        assert_eq!(
            parse(BodyFormat::Ndjson, &many).expect_err("many"),
            BodyError::TooManyEvents {
                count: 101,
                max: 100
            }
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            format_of(None),
            Err(BodyError::UnsupportedMediaType(String::new()))
        );
        assert_eq!(format_of(Some("")).expect_err("empty").status(), 415);
        assert_eq!(
            format_of(Some("application/json; charset=utf-8")),
            Ok(BodyFormat::Json)
        );
        assert_eq!(
            format_of(Some("Application/X-NDJSON")),
            Ok(BodyFormat::Ndjson)
        );
        assert_eq!(format_of(Some("text/csv")).expect_err("csv").status(), 415);
    }
}
