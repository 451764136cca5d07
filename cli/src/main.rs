//! `atom-rating-sync`: the operator's command line.
//!
//! - `import --from postgres://… | sqlite://…`: the Python service's
//!   ratings, failures and conflict log, written as the functions expect
//!   them ([`import`]);
//! - `token`: a short-lived admin token signed with the admin secret;
//! - `status`, `sync`, `failed`, `retry`: the admin API.
//!
//! Human output by default, one JSON document with `--json`; exit code 0
//! on success, non-zero with a one-line reason otherwise (the codes are
//! [`output`]'s). `token` is `token.rs`, the admin subcommands
//! [`admin`], where the API and the secret are [`target`].

mod admin;
mod output;
mod target;
mod token;

use atom_rating_sync::import;

use clap::{Parser, Subcommand};

/// The operator's command line of atom-rating-sync.
#[derive(Debug, Parser)]
#[command(
    name = "atom-rating-sync",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 bad input or setting (and the API's 400); 2 bad command line; \
3 token refused (401, 403); 4 not found (404); 5 try again later (409, 429, 503); \
6 the API failed or could not be reached; 7 the sync or retry ran and did not succeed.\n\
See docs/cli.md."
)]
struct Cli {
    /// One JSON document on stdout instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// A deployed stack whose outputs give the API URL, the admin secret's
    /// ARN and the table names (CloudFormation DescribeStacks).
    #[arg(long, global = true, env = "ATOM_RATING_SYNC_STACK")]
    stack: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import ratings, failures and conflicts from the Python service's database.
    Import(import::ImportArgs),
    /// Mint an admin token signed with the admin secret.
    #[command(after_help = "Examples:
  # 15 minutes for you, with the deployed stack's secret
  ADMIN_JWT_SECRET_SECRET_ARN=arn:aws:secretsmanager:... atom-rating-sync token --sub you@example.com
  atom-rating-sync --stack atom-rating-sync token --sub you@example.com
  TOKEN=$(atom-rating-sync token --sub you@example.com --minutes 5)
  # an agent's token (refused with 403 unless AUTONOMOUS)
  atom-rating-sync token --sub bot@example.com --agent-id agent-7 --maturity SUPERVISED")]
    Token(token::TokenArgs),
    /// Where the sync stands: backlog, failures, conflicts, lease, last runs.
    #[command(after_help = "Examples:
  atom-rating-sync status --api https://abc123.execute-api.eu-west-1.amazonaws.com
  atom-rating-sync --stack atom-rating-sync status   # URL and secret from the stack's outputs
  ATOM_RATING_SYNC_API_URL=http://127.0.0.1:3000 atom-rating-sync --json status")]
    Status(admin::ApiArgs),
    /// Run one sync now, inside the request.
    #[command(after_help = "Examples:
  atom-rating-sync sync
  # push every rating again; repeat until it says the pass finished
  atom-rating-sync sync --upload-all")]
    Sync(admin::SyncArgs),
    /// List the failed uploads, newest failure first.
    #[command(after_help = "Examples:
  atom-rating-sync failed                      # the first page
  atom-rating-sync failed --status dead --all  # every parked rating
  atom-rating-sync --json failed --all | jq -r '.items[].rating_id'")]
    Failed(admin::FailedArgs),
    /// Upload one failed rating now, parked ones too.
    #[command(after_help = "Examples:
  atom-rating-sync retry rating-000049
  atom-rating-sync --json retry rating-000049 --token \"$TOKEN\"")]
    Retry(admin::RetryArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let stack = cli.stack.as_deref();
    let result = match cli.command {
        Command::Import(args) => match target::Target::load(stack).await {
            Ok(target) => import::run(args, cli.json, target.tables())
                .await
                .map_err(output::CliError::Input),
            Err(err) => Err(err),
        },
        Command::Token(args) => token::run(args, cli.json, stack).await,
        Command::Status(args) => admin::status(args, cli.json, stack).await,
        Command::Sync(args) => admin::sync(args, cli.json, stack).await,
        Command::Failed(args) => admin::failed(args, cli.json, stack).await,
        Command::Retry(args) => admin::retry(args, cli.json, stack).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("atom-rating-sync: {reason}");
            std::process::ExitCode::from(reason.exit_code())
        }
    }
}
