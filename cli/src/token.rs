//! `atom-rating-sync token`: an admin token signed with the admin secret
//! ([`shared::auth::mint`], as the local stack's `token` mints), and the
//! short-lived token the admin subcommands mint for their own call.

use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::json;
use shared::auth::{mint, token_claims, Agent, TokenRequest, ADMIN_ROLE};
use shared::config::Secret;

use crate::output::{print_json, CliError};
use crate::target::Target;

/// How long the token an admin subcommand mints for its own call lives
/// (less if the deployment allows less).
pub const CALL_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// `token --sub S [--minutes N] [--role R] [--agent-id A --maturity M]`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Who the token is for (`sub`): the audit trail records it.
    #[arg(long, env = "ATOM_RATING_SYNC_SUB")]
    pub sub: String,
    /// How long the token lives, at most ADMIN_JWT_MAX_TTL_SECONDS.
    #[arg(long, default_value_t = 15)]
    pub minutes: u64,
    /// The `role` claim; the admin API wants super_admin.
    #[arg(long, default_value = ADMIN_ROLE)]
    pub role: String,
    /// A token acting for an agent: its id (needs --maturity).
    #[arg(long, requires = "maturity")]
    pub agent_id: Option<String>,
    /// The agent's maturity; the admin API wants AUTONOMOUS.
    #[arg(long, requires = "agent_id")]
    pub maturity: Option<String>,
}

/// Mints the token and prints it alone (for `TOKEN=$(...)`), or with its
/// claims under `--json`.
pub async fn run(args: TokenArgs, json: bool, stack: Option<&str>) -> Result<(), CliError> {
    let lifetime = args
        .minutes
        .checked_mul(60)
        .map(Duration::from_secs)
        .ok_or_else(|| CliError::Input(format!("--minutes {}: too long", args.minutes)))?;
    let request = TokenRequest {
        subject: args.sub,
        role: args.role,
        agent: args
            .agent_id
            .zip(args.maturity)
            .map(|(id, maturity)| Agent { id, maturity }),
        lifetime,
    };
    let config = Target::load(stack).await?.admin_config().await?;
    let now = SystemTime::now();
    let token = mint(&config.jwt_secret, &config.policy, &request, now)
        .map_err(|e| CliError::Input(e.to_string()))?;
    if json {
        let claims = token_claims(&config.policy, &request, now)
            .map_err(|e| CliError::Input(e.to_string()))?;
        print_json(&json!({ "token": token, "claims": claims }));
    } else {
        println!("{token}");
    }
    Ok(())
}

/// A super_admin token for one call, for `subject`, living
/// [`CALL_TOKEN_LIFETIME`] or the deployment's longest, whichever is
/// shorter.
pub async fn mint_for_call(target: &Target, subject: &str) -> Result<Secret, CliError> {
    let config = target.admin_config().await?;
    let request = TokenRequest {
        subject: subject.to_owned(),
        role: ADMIN_ROLE.into(),
        agent: None,
        lifetime: CALL_TOKEN_LIFETIME.min(config.policy.max_ttl()),
    };
    mint(
        &config.jwt_secret,
        &config.policy,
        &request,
        SystemTime::now(),
    )
    .map(Secret::new)
    .map_err(|e| CliError::Input(e.to_string()))
}
