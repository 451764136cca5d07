//! What the tool shows: tables for people, one JSON document for scripts,
//! and errors as one line with an exit code that says what kind of
//! failure it was ([`CliError::exit_code`]).
//!
//! Everything shown comes from outside (the API's answers): each cell is
//! cleaned of control characters, so an answer cannot move the cursor or
//! recolour the terminal, and cut to a width.

use std::fmt::Write as _;

use serde_json::Value;
use thiserror::Error;

/// Exit code: a setting, the command line or the input is wrong (and the
/// API's 400).
pub const EXIT_INPUT: u8 = 1;
/// Exit code: the API refused the token (401, 403).
pub const EXIT_NOT_ALLOWED: u8 = 3;
/// Exit code: the API has no such thing (404).
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: try again later (409, 429, 503).
pub const EXIT_TRY_LATER: u8 = 5;
/// Exit code: the API failed, could not be reached, or answered something
/// unreadable.
pub const EXIT_API_FAILED: u8 = 6;
/// Exit code: the call was made, and the sync or retry it started did not
/// succeed (`success: false`).
pub const EXIT_NOT_SYNCED: u8 = 7;

/// Why a command failed: a one-line reason and an exit code.
#[derive(Debug, Error)]
pub enum CliError {
    /// Something to fix on this side: a setting, an argument.
    #[error("{0}")]
    Input(String),
    /// The API answered with an error.
    #[error("{status} {code}: {message}{hint}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's code (`UNAUTHORIZED`, ...), or API Gateway's message.
        code: String,
        /// The API's message, cleaned.
        message: String,
        /// What to do about it, with its leading separator; may be empty.
        hint: String,
    },
    /// The API could not be reached or its answer read.
    #[error("{0}")]
    Unreachable(String),
    /// The call was made and did not succeed; the output already says why.
    #[error("{0}")]
    NotSynced(String),
}

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => EXIT_INPUT,
            Self::Api { status, .. } => match status {
                401 | 403 => EXIT_NOT_ALLOWED,
                404 => EXIT_NOT_FOUND,
                409 | 429 | 503 => EXIT_TRY_LATER,
                400..=499 => EXIT_INPUT,
                _ => EXIT_API_FAILED,
            },
            Self::Unreachable(_) => EXIT_API_FAILED,
            Self::NotSynced(_) => EXIT_NOT_SYNCED,
        }
    }
}

/// The longest a cell of a table is shown.
pub const MAX_CELL_CHARS: usize = 80;

/// `text` without control characters (each shown as a space), cut to
/// `max` characters with an ellipsis.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A JSON value as a cell: strings as they are, null as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => clean(text, MAX_CELL_CHARS),
        other => clean(&other.to_string(), MAX_CELL_CHARS),
    }
}

/// A table with a header row, columns as wide as their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|name| (*name).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of cells (already cleaned, see [`cell`]).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line a row, the last column unpadded.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (at, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(at) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (at, cell) in row.iter().enumerate() {
                let width = widths.get(at).copied().unwrap_or_default();
                if at + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Prints `value` as one JSON document.
pub fn print_json(value: &Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal_and_cells_are_cut() {
        assert_eq!(clean("a\u{1b}[31mred\r\n", 80), "a [31mred  ");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!(3)), "3");
    }

    #[test]
    fn a_table_aligns_its_columns() {
        let mut table = Table::new(&["ID", "N"]);
        table.row(vec!["long-id".into(), "1".into()]);
        assert_eq!(table.render(), "ID       N\nlong-id  1\n");
    }

    #[test]
    fn each_kind_of_failure_has_its_exit_code() {
        let api = |status| CliError::Api {
            status,
            code: String::new(),
            message: String::new(),
            hint: String::new(),
        };
        assert_eq!(api(401).exit_code(), EXIT_NOT_ALLOWED);
        assert_eq!(api(403).exit_code(), EXIT_NOT_ALLOWED);
        assert_eq!(api(404).exit_code(), EXIT_NOT_FOUND);
        assert_eq!(api(429).exit_code(), EXIT_TRY_LATER);
        assert_eq!(api(503).exit_code(), EXIT_TRY_LATER);
        assert_eq!(api(400).exit_code(), EXIT_INPUT);
        assert_eq!(api(500).exit_code(), EXIT_API_FAILED);
    }
}
