//! `atom-rating-sync import`: the Python service's SQL database moved in.

use clap::Args;

/// `import --from URL`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Python service's database: `postgres://user@host/db` or `sqlite://path`.
    #[arg(long)]
    pub from: String,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the import; the error is the one-line reason.
pub async fn run(args: ImportArgs, _json: bool) -> Result<(), String> {
    Err(format!("import from {} is not built yet", args.from))
}
