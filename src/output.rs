//! Standard output without panics: `println!` panics (exit 101) when stdout
//! is closed (`auditlog verify | head -0`) or full (`>/dev/full`). Every
//! command prints through [`print`] instead, so such a failure is an error
//! with a message on stderr and the command's documented exit code.

use std::io::Write;

use anyhow::{Context, Result};

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// `println!` that returns the write error instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;
