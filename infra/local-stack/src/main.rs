//! `local-stack`: the local stack's command line, used by `make demo`.
//!
//! ```text
//! local-stack create-tables               tables from template.yaml
//! local-stack seed --count N --invalid K   N pending ratings, the last K invalid
//! local-stack summary                      what the sync left behind
//! local-stack token [--sub S] [--minutes N] [--role R] [--agent-id A --maturity M]
//!                                          an admin API token (super_admin by default)
//! local-stack stream-poller --invoke-url URL [--on-failure-queue-url URL]
//!             [--from trim-horizon|latest] the ratings stream's event source mapping,
//!                                          played locally until Ctrl-C or SIGTERM
//! local-stack api [--port N]             the admin API on 127.0.0.1:N (default 3000)
//!                                          with the authorizer, until Ctrl-C or SIGTERM
//! local-stack events-setup                 the event bus rule and queues (JSON URLs)
//! local-stack events-drain --queue-url URL [--wait-seconds N]
//!                                          a queue's messages, one JSON line each
//! ```
//! `stream-poller` reads its settings from template.yaml's `RatingChanges`
//! event and invokes through the Runtime API of `cargo lambda watch`
//! (`--invoke-url http://127.0.0.1:9000` is enough); it prints a JSON line
//! of counters to stderr after every invocation.
//! `token` mints through `shared::auth::mint`, as `atom-rating-sync token`
//! does, with the admin secret and token policy read as the functions read
//! them (ADMIN_JWT_SECRET: infra/scripts/with-local-stack.sh sets a random
//! one), and prints only the token, for `TOKEN=$(...)`.
//! Table names come from RATINGS_TABLE, FAILED_UPLOADS_TABLE and
//! SYNC_STATE_TABLE (defaults as in production); the simulator from
//! ATOM_SAAS_API_URL.

use std::process::ExitCode;

use std::time::Duration;

use local_stack::simulator::Simulator;
use local_stack::stream_poller::{self, MappingSettings, OnFailure, StartingPosition};
use local_stack::{dynamodb_client, events, seed, tables, StackError};
use shared::config::{AdminConfig, FromEnvironment, TableNames};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-stack: {message}");
            ExitCode::FAILURE
        }
    }
}

fn table_names() -> TableNames {
    let defaults = TableNames::with_prefix("");
    let pick = |name: &str, default: String| std::env::var(name).unwrap_or(default);
    TableNames {
        ratings: pick("RATINGS_TABLE", defaults.ratings),
        failed_uploads: pick("FAILED_UPLOADS_TABLE", defaults.failed_uploads),
        sync_state: pick("SYNC_STATE_TABLE", defaults.sync_state),
        audit: pick("AUDIT_TABLE", defaults.audit),
    }
}

/// The value after `--flag`, parsed, or `default`.
fn flag(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number")),
    }
}

/// The value after `--flag`, if given.
fn text_flag(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// Runs the subcommand `args[0]` names; the rest are its flags.
async fn run(args: &[String]) -> Result<(), String> {
    let command = args.first().map(String::as_str).unwrap_or("help");
    let names = table_names();
    match command {
        "create-tables" => run_create_tables(&names).await,
        "seed" => run_seed(args, &names).await,
        "summary" => run_summary(&names).await,
        "token" => run_token(args).await,
        "stream-poller" => run_stream_poller(args, &names.ratings).await,
        "api" => run_api(args).await,
        "events-setup" => run_events_setup().await,
        "events-drain" => run_events_drain(args).await,
        _ => {
            print_usage();
            Ok(())
        }
    }
}

/// A local stack error as the one line `main` prints.
fn error(e: StackError) -> String {
    e.to_string()
}

/// Creates the tables from template.yaml.
async fn run_create_tables(names: &TableNames) -> Result<(), String> {
    let client = dynamodb_client().await.map_err(error)?;
    tables::create_tables(&client, names).await.map_err(error)?;
    println!(
        "tables ready: {}, {}, {}, {}",
        names.ratings, names.failed_uploads, names.sync_state, names.audit
    );
    Ok(())
}

/// Seeds `--count` pending ratings, the last `--invalid` of them invalid.
async fn run_seed(args: &[String], names: &TableNames) -> Result<(), String> {
    let count = flag(args, "--count", 300)?;
    let invalid = flag(args, "--invalid", 5)?;
    let client = dynamodb_client().await.map_err(error)?;
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    let ratings = seed::sample_ratings("", count, invalid, start);
    seed::put_ratings(&client, &names.ratings, &ratings)
        .await
        .map_err(error)?;
    println!(
        "seeded {count} pending ratings into {} ({invalid} with invalid star values)",
        names.ratings
    );
    Ok(())
}

/// What the sync left behind: the simulator's counters, then the
/// dead-letter table.
async fn run_summary(names: &TableNames) -> Result<(), String> {
    let url = std::env::var("ATOM_SAAS_API_URL")
        .map_err(|_| "ATOM_SAAS_API_URL is not set".to_owned())?;
    print_simulator_stats(&Simulator::connect(&url)).await?;
    print_dead_letters(&names.failed_uploads).await
}

/// What the marketplace simulator received.
async fn print_simulator_stats(simulator: &Simulator) -> Result<(), String> {
    let stats = simulator.stats().await.map_err(error)?;
    println!("marketplace simulator received:");
    println!("  requests: {}", stats["requests_total"]);
    println!("  by status: {}", stats["by_status"]);
    println!("  ratings created: {}", stats["creates"]);
    println!(
        "  most requests in flight at once: {}",
        stats["max_in_flight"]
    );
    Ok(())
}

/// The dead-letter table's items, a line each.
async fn print_dead_letters(table: &str) -> Result<(), String> {
    let client = dynamodb_client().await.map_err(error)?;
    let failed = client
        .scan()
        .table_name(table)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    println!(
        "dead-letter table {table} holds {} item(s):",
        failed.count()
    );
    for item in failed.items() {
        let field = |n: &str| {
            item.get(n)
                .and_then(|v| v.as_s().ok().or(v.as_n().ok()))
                .cloned()
                .unwrap_or_default()
        };
        println!(
            "  {}  retry_count={}  {}",
            field("rating_id"),
            field("retry_count"),
            field("error_message")
        );
    }
    Ok(())
}

/// Mints an admin API token and prints only the token.
async fn run_token(args: &[String]) -> Result<(), String> {
    let request = token_request(args)?;
    let aws = shared::triggers::clients::aws_config()
        .await
        .map_err(|e| e.to_string())?;
    let config = AdminConfig::load(&aws).await.map_err(|e| {
        format!("{e} (run this through infra/scripts/with-local-stack.sh, which sets one)")
    })?;
    let token = shared::auth::mint(
        &config.jwt_secret,
        &config.policy,
        &request,
        std::time::SystemTime::now(),
    )
    .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

/// The token `--sub`, `--role`, `--minutes`, `--agent-id` and
/// `--maturity` ask for.
fn token_request(args: &[String]) -> Result<shared::auth::TokenRequest, String> {
    let minutes = flag(args, "--minutes", 60)?;
    let agent = match (text_flag(args, "--agent-id"), text_flag(args, "--maturity")) {
        (Some(id), Some(maturity)) => Some(shared::auth::Agent { id, maturity }),
        (None, None) => None,
        _ => return Err("--agent-id and --maturity go together".into()),
    };
    Ok(shared::auth::TokenRequest {
        subject: text_flag(args, "--sub").unwrap_or_else(|| "local-admin".into()),
        role: text_flag(args, "--role").unwrap_or_else(|| shared::auth::ADMIN_ROLE.into()),
        agent,
        lifetime: Duration::from_secs(60u64.saturating_mul(minutes as u64)),
    })
}

/// Sets up the event bus rule and its queues; prints their URLs as JSON.
async fn run_events_setup() -> Result<(), String> {
    let events = local_stack::eventbridge_client().await.map_err(error)?;
    let sqs = local_stack::sqs_client().await.map_err(error)?;
    let queues = events::setup(&events, &sqs).await.map_err(error)?;
    println!("{}", queues.to_json());
    Ok(())
}

/// Prints the messages of `--queue-url`, one JSON line each.
async fn run_events_drain(args: &[String]) -> Result<(), String> {
    let queue_url = text_flag(args, "--queue-url")
        .ok_or_else(|| "events-drain needs --queue-url URL".to_owned())?;
    let wait = flag(args, "--wait-seconds", 1)?;
    let sqs = local_stack::sqs_client().await.map_err(error)?;
    let bodies = events::drain(&sqs, &queue_url, Duration::from_secs(wait as u64))
        .await
        .map_err(error)?;
    for body in bodies {
        println!("{}", events::summary(&body));
    }
    Ok(())
}

/// The subcommands and their flags, for `help` or an unknown subcommand.
fn print_usage() {
    println!(
        "usage: local-stack create-tables | seed [--count N] [--invalid K] | summary \
         | token [--sub S] [--minutes N] [--role R] [--agent-id A --maturity M] \
         | api [--port N] | stream-poller --invoke-url URL [--on-failure-queue-url URL] \
         [--from trim-horizon|latest] | events-setup | events-drain --queue-url URL"
    );
}

/// Serves the admin API on loopback until Ctrl-C or SIGTERM, with the
/// settings the admin functions read (the environment, secrets included).
async fn run_api(args: &[String]) -> Result<(), String> {
    let port = flag(args, "--port", 3000)?;
    let port = u16::try_from(port).map_err(|_| format!("--port {port}: at most 65535"))?;
    let aws = local_stack::local_sdk_config("AWS_ENDPOINT_URL_DYNAMODB")
        .await
        .map_err(|e| e.to_string())?;
    let aws = shared::config::AwsCallTimeouts::from_env()
        .map_err(|e| e.to_string())?
        .apply(&aws);
    let admin = AdminConfig::load(&aws).await.map_err(|e| e.to_string())?;
    let keys = shared::triggers::http::AdminKeys::rotating(&admin).map_err(|e| e.to_string())?;
    let api = shared::triggers::http::SyncApi::load(&aws)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    let server =
        local_stack::api::ApiServer::start(listener, local_stack::api::AdminApi::new(api, keys))
            .map_err(|e| e.to_string())?;
    eprintln!(
        "api: the admin API on {} (tables {}, {}); Ctrl-C stops",
        server.url(),
        admin.tables.ratings,
        admin.tables.failed_uploads
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(server);
    Ok(())
}

/// Plays the stream's event source mapping until Ctrl-C or SIGTERM.
async fn run_stream_poller(args: &[String], table: &str) -> Result<(), String> {
    let invoke_url = text_flag(args, "--invoke-url")
        .ok_or_else(|| "stream-poller needs --invoke-url URL (cargo lambda watch's)".to_owned())?;
    let mut settings = MappingSettings::from_template_file(&tables::template_path())
        .map_err(|e| format!("template.yaml: {e}"))?;
    match text_flag(args, "--from").as_deref() {
        None => {}
        Some("latest") => settings.starting_position = StartingPosition::Latest,
        Some("trim-horizon") => settings.starting_position = StartingPosition::TrimHorizon,
        Some(other) => return Err(format!("--from {other}: use trim-horizon or latest")),
    }
    let destination = match text_flag(args, "--on-failure-queue-url") {
        Some(queue_url) => OnFailure::Sqs {
            client: local_stack::sqs_client().await.map_err(error)?,
            queue_url,
        },
        None => OnFailure::Discard,
    };
    let invoker = stream_poller::RuntimeApiInvoker::new(&invoke_url, &settings.function_name)
        .map_err(|e| e.to_string())?;
    let url = invoker.url().to_owned();
    let mut options = stream_poller::PollerOptions::new(table, settings);
    options.log_stats = true;
    let dynamodb = dynamodb_client().await.map_err(error)?;
    let streams = local_stack::streams_client().await.map_err(error)?;
    let mut poller = stream_poller::start(&dynamodb, streams, options, invoker, destination)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "stream-poller: reading {} (table {table}), invoking {url}; Ctrl-C stops",
        poller.stream_arn()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        ended = poller.wait() => return ended.map_err(|e| e.to_string()),
    }
    let stats = poller.stats();
    poller.stop().await.map_err(|e| e.to_string())?;
    println!("{}", serde_json::json!({ "stream_poller_stopped": stats }));
    Ok(())
}
