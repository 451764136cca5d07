//! `atom-rating-sync`: the operator's command line.
//!
//! - `import --from postgres://… | sqlite://…`: the Python service's
//!   ratings, failures and conflict log, written as the functions expect
//!   them ([`import`]);
//! - `token`: a short-lived admin token signed with the admin secret;
//! - `status`, `sync`, `failed`, `retry`: the admin API.
//!
//! Human output by default, one JSON document with `--json`; exit code 0
//! on success, non-zero with a one-line reason otherwise.

use atom_rating_sync::import;

use clap::{Parser, Subcommand};

/// The operator's command line of atom-rating-sync.
#[derive(Debug, Parser)]
#[command(name = "atom-rating-sync", version, about)]
struct Cli {
    /// One JSON document on stdout instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import ratings, failures and conflicts from the Python service's database.
    Import(import::ImportArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(args) => import::run(args, cli.json).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("atom-rating-sync: {reason}");
            std::process::ExitCode::FAILURE
        }
    }
}
