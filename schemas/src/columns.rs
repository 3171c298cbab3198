//! Typed, borrowing access to the event columns of an events batch, row by
//! row: what `archive::from_record_batch` builds owned events from,
//! and what a verifier compares against without copying a string.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{
    Array, Int32Array, MapArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};

use crate::batch::{ArchiveError, column};

/// A text column of the events table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Text {
    EventId,
    Tenant,
    Source,
    Action,
    ActorType,
    ActorId,
    ActorIp,
    ActorUserAgent,
    ResourceType,
    ResourceId,
    Outcome,
    Reason,
    TraceId,
    SpanId,
}

impl Text {
    /// Every text column, in schema order.
    pub const ALL: [Text; 14] = [
        Text::EventId,
        Text::Tenant,
        Text::Source,
        Text::Action,
        Text::ActorType,
        Text::ActorId,
        Text::ActorIp,
        Text::ActorUserAgent,
        Text::ResourceType,
        Text::ResourceId,
        Text::Outcome,
        Text::Reason,
        Text::TraceId,
        Text::SpanId,
    ];

    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            Text::EventId => "event_id",
            Text::Tenant => "tenant",
            Text::Source => "source",
            Text::Action => "action",
            Text::ActorType => "actor_type",
            Text::ActorId => "actor_id",
            Text::ActorIp => "actor_ip",
            Text::ActorUserAgent => "actor_user_agent",
            Text::ResourceType => "resource_type",
            Text::ResourceId => "resource_id",
            Text::Outcome => "outcome",
            Text::Reason => "reason",
            Text::TraceId => "trace_id",
            Text::SpanId => "span_id",
        }
    }
}

/// The event columns of one events batch.
#[derive(Debug)]
pub struct EventColumns<'a> {
    version: &'a Int32Array,
    flags: &'a Int32Array,
    time: &'a TimestampMicrosecondArray,
    text: Vec<&'a StringArray>,
    attrs: &'a MapArray,
    attr_keys: &'a StringArray,
    attr_vals: &'a StringArray,
}

impl<'a> EventColumns<'a> {
    /// Finds and types every event column, or names the one that is missing
    /// or of the wrong type.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, ArchiveError> {
        let int32 = |name: &'static str| {
            column(batch, name)?
                .as_primitive_opt::<Int32Type>()
                .ok_or(ArchiveError::ColumnType(name))
        };
        let text = Text::ALL
            .iter()
            .map(|t| {
                column(batch, t.name())?
                    .as_string_opt::<i32>()
                    .ok_or(ArchiveError::ColumnType(t.name()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let attrs = column(batch, "attributes")?
            .as_map_opt()
            .ok_or(ArchiveError::ColumnType("attributes"))?;
        let strings = |a: &'a std::sync::Arc<dyn Array>| {
            a.as_string_opt::<i32>()
                .ok_or(ArchiveError::ColumnType("attributes"))
        };
        Ok(Self {
            version: int32("schema_version")?,
            flags: int32("trace_flags")?,
            time: column(batch, "event_time")?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or(ArchiveError::ColumnType("event_time"))?,
            text,
            attr_keys: strings(attrs.keys())?,
            attr_vals: strings(attrs.values())?,
            attrs,
        })
    }

    /// A text column's value at `row`; `None` when null.
    pub fn text(&self, column: Text, row: usize) -> Option<&'a str> {
        let a = self.text[column as usize];
        (!a.is_null(row)).then(|| a.value(row))
    }

    /// `schema_version` at `row`.
    pub fn schema_version(&self, row: usize) -> i32 {
        self.version.value(row)
    }

    /// `event_time` at `row`, microseconds since the epoch.
    pub fn event_time(&self, row: usize) -> i64 {
        self.time.value(row)
    }

    /// `trace_flags` at `row`; `None` when null.
    pub fn trace_flags(&self, row: usize) -> Option<i32> {
        (!self.flags.is_null(row)).then(|| self.flags.value(row))
    }

    /// The `attributes` entries at `row`, in stored order.
    pub fn attributes(&self, row: usize) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let offsets = self.attrs.value_offsets();
        let (start, end) = (offsets[row], offsets[row + 1]);
        let (keys, vals) = (self.attr_keys, self.attr_vals);
        (start..end).map(move |i| {
            let i = usize::try_from(i).unwrap_or_default();
            (keys.value(i), vals.value(i))
        })
    }
}
