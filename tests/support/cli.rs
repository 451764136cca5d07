//! The operator's command line against the admin API served over HTTP on
//! loopback (`local_stack::api`, the four routes with the authorizer in
//! front, through the functions' handlers), over one test's own tables
//! and simulator: the built `atom-rating-sync` binary run as a person
//! runs it.

use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use local_stack::api::{AdminApi, ApiServer};
use serde_json::Value;
use shared::auth::AdminPolicy;
use shared::config::Secret;
use shared::secrets::Rotating;
use shared::store::Store;
use shared::triggers::http::{AdminContext, AdminKeys, SyncApi};

use crate::admin::{Admin, SECRET};
use crate::retry_at_once;

/// Variables of the environment the tests run in that would change what
/// the tool does; each run starts without them.
const CLEARED: [&str; 7] = [
    "ADMIN_JWT_SECRET",
    "ADMIN_JWT_SECRET_SECRET_ARN",
    "ATOM_SAAS_API_TOKEN_SECRET_ARN",
    "ATOM_RATING_SYNC_API_URL",
    "ATOM_RATING_SYNC_TOKEN",
    "ATOM_RATING_SYNC_SUB",
    "ADMIN_JWT_MAX_TTL_SECONDS",
];

/// The `atom-rating-sync` binary, built once per test process (cargo
/// builds it beside this test's binary; up to date, that is a no-op).
pub fn cli_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "-q",
                    "-p",
                    "atom-rating-sync",
                    "--bin",
                    "atom-rating-sync",
                ])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build -p atom-rating-sync failed");
            let exe = std::env::current_exe().expect("this test's path");
            // target/debug/deps/<test> -> target/debug/atom-rating-sync
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target dir");
            dir.join("atom-rating-sync")
        })
        .clone()
}

/// One test's world: the admin harness and the API on loopback over its
/// tables.
pub struct CliWorld {
    pub admin: Admin,
    pub server: ApiServer,
}

/// What one run of the tool did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as the one JSON document `--json` prints.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

impl CliWorld {
    pub async fn new() -> Self {
        // Built before the test's clock starts: the build may wait for
        // cargo's lock.
        cli_binary();
        let admin = Admin::new().await;
        let settings = retry_at_once();
        let store = Store::new(admin.env.client.clone(), admin.env.tables.clone());
        let context =
            AdminContext::new(store, &Secret::new(SECRET), AdminPolicy::default()).unwrap();
        let engine = shared::triggers::clients::sync_engine(
            &admin.env.config(settings.clone()),
            admin.env.client.clone(),
        )
        .unwrap();
        let api = SyncApi::new(context, engine, &settings);
        let keys = AdminKeys::new(&Secret::new(SECRET), AdminPolicy::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ApiServer::start(
            listener,
            AdminApi::new(api, Rotating::fixed("ADMIN_JWT_SECRET", keys)),
        )
        .unwrap();
        Self { admin, server }
    }

    /// The tool with `args`, the API's URL and `env`, the test's other
    /// variables cleared; it mints its own token only where `env` gives
    /// a secret.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = tokio::process::Command::new(cli_binary());
        command.args(args);
        for name in CLEARED {
            command.env_remove(name);
        }
        command.env("ATOM_RATING_SYNC_API_URL", self.server.url());
        command.env("RUST_LOG", "off");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().await.expect("run atom-rating-sync");
        Run::from(output)
    }

    /// The tool minting its own token with the API's secret.
    pub async fn run_as_admin(&self, args: &[&str]) -> Run {
        self.run(args, &[("ADMIN_JWT_SECRET", SECRET)]).await
    }
}
