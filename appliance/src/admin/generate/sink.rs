//! Where a COPY pass writes its CSV rows: a large buffer in front of the connection, and the
//! progress line.

use std::io::Write;

use super::progress::Progress;
use crate::errors::AppError;

pub struct Sink<'a> {
    out: std::io::BufWriter<&'a mut dyn Write>,
    progress: Progress,
    pub rows: u64,
}

fn failed(e: std::io::Error) -> AppError {
    AppError::internal(format!("writing COPY data: {e}"))
}

impl<'a> Sink<'a> {
    pub fn new(out: &'a mut dyn Write, what: &'static str, total: u64) -> Sink<'a> {
        Sink { out: std::io::BufWriter::with_capacity(1 << 20, out), progress: Progress::new(what, total), rows: 0 }
    }

    /// Writes one CSV row (the line end is added here).
    pub fn row(&mut self, fields: std::fmt::Arguments<'_>) -> Result<(), AppError> {
        self.rows += 1;
        self.out.write_fmt(fields).and_then(|()| self.out.write_all(b"\n")).map_err(failed)
    }

    /// One more of the things the progress line counts.
    pub fn advance(&mut self) {
        self.progress.advance(1);
    }

    pub fn finish(mut self) -> Result<u64, AppError> {
        self.out.flush().map_err(failed)?;
        self.progress.finish();
        Ok(self.rows)
    }
}

/// A CSV field: quoted, with quotes doubled. (An unquoted empty field is NULL.)
pub fn text(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// An optional id as a CSV field: empty for NULL.
pub fn id(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One COPY pass in CSV into `$table`'s `$columns`: `$write` fills `$sink`, a [`Sink`] whose
/// progress line counts `$total` things as `$what`. Evaluates to the rows PostgreSQL took.
macro_rules! copy_csv {
    ($conn:expr, $table:expr, $columns:expr, ($what:expr, $total:expr), |$sink:ident| $write:block) => {{
        let written = diesel::copy_from($table)
            .from_raw_data($columns, |out: &mut dyn std::io::Write| -> Result<(), crate::errors::AppError> {
                let mut $sink = super::sink::Sink::new(out, $what, $total);
                $write
                $sink.finish().map(drop)
            })
            .with_format(diesel::pg::CopyFormat::Csv)
            .execute($conn)?;
        written as u64
    }};
}
pub(super) use copy_csv;
