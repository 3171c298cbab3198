//! What every reader and writer of an archive table shares, below the tables
//! themselves: the error for a batch that is not what the archive schema
//! says, finding a column by name, and the timestamp type.

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, TimeUnit};

/// Why a record batch could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A column the archive schema requires is absent.
    #[error("column {0} is missing")]
    MissingColumn(&'static str),
    /// A column has a different Arrow type than the archive schema.
    #[error("column {0} has the wrong type")]
    ColumnType(&'static str),
    /// A value does not parse back into an event field.
    #[error("column {column}, row {row}: {reason}")]
    Invalid {
        /// The column.
        column: &'static str,
        /// The row index in the batch.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// Arrow refused the batch.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Timestamp(µs, UTC).
pub(crate) fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The column `name` of `batch`, or [`ArchiveError::MissingColumn`].
pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a ArrayRef, ArchiveError> {
    batch
        .column_by_name(name)
        .ok_or(ArchiveError::MissingColumn(name))
}
