//! The library behind the `atom-rating-sync` command line: each subcommand
//! that tests drive in-process lives here (`import`).

pub mod import;
