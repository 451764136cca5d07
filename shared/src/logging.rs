//! Logs are JSON lines on stdout, which Lambda sends to CloudWatch Logs.
//!
//! Each line carries the fields of the spans it was written in: the Lambda
//! runtime's invocation span (with the request id) and the sync's `sync_run`
//! span (with the run id). The level comes from `RUST_LOG` (default `info`).
//! Nothing secret is ever a field: the marketplace token lives in a
//! [`Secret`](crate::secrets::Secret) and a header marked sensitive.
//!
//! Only this service's own crates may log below `info`, whatever `RUST_LOG`
//! says: the crates underneath (the Lambda runtime, the AWS SDK, the HTTP
//! and TLS stacks) write raw events (with their `authorization` header),
//! requests and answers (a Secrets Manager answer is a secret) at `debug`
//! and `trace`. `RUST_LOG=trace` makes this service verbose, never them.

use crate::config::settings::RUST_LOG;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// This service's crates: the only ones that may log at `debug` and
/// `trace`. A tracing target is the crate's name with `_` for `-`: every
/// binary of the workspace (each function, the local stack, the command
/// line, the tests' own processes) and `shared`; a unit test keeps the list equal to the
/// workspace's binaries.
pub const OWN_CRATES: [&str; 13] = [
    "shared",
    "scheduled_rating_sync",
    "stream_rating_sync",
    "admin_sync_ratings",
    "admin_list_failed_uploads",
    "admin_retry_failed_upload",
    "admin_sync_status",
    "admin_authorizer",
    "local_stack",
    "atom_rating_sync",
    "sync_once",
    "stream_once",
    "lambda_function",
];

/// What may be logged at all: everything from this service's crates, at
/// most `info` from any other.
pub fn ceiling() -> Targets {
    OWN_CRATES.iter().fold(
        Targets::new().with_default(LevelFilter::INFO),
        |targets, name| targets.with_target(*name, LevelFilter::TRACE),
    )
}

/// Installs the JSON logs alone; a second call does nothing. The
/// functions install them with their traces ([`crate::traces::init`]).
pub fn init() {
    let _ = tracing_subscriber::registry().with(layer()).try_init();
}

/// The JSON logs, as a layer: under [`ceiling`] and `RUST_LOG`.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let filter =
        EnvFilter::try_from_env(RUST_LOG.name).unwrap_or_else(|_| EnvFilter::new(RUST_LOG.default));
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_filter(ceiling())
        .with_filter(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;
    use tracing::Level;

    /// The `name = "..."` values of `manifest`'s `[package]` and `[[bin]]`
    /// tables, as (table, name). Enough TOML for the workspace's own
    /// manifests, which write each on one line.
    fn names_in(manifest: &str) -> Vec<(String, String)> {
        let mut table = String::new();
        let mut names = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                table = line.to_owned();
            } else if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start();
                if let Some(value) = value.strip_prefix('=') {
                    names.push((table.clone(), value.trim().trim_matches('"').to_owned()));
                }
            }
        }
        names
    }

    /// Every binary the workspace builds, as a tracing target: a package
    /// with `src/main.rs`, and each `[[bin]]`.
    fn workspace_binaries() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = workspace
            .split("members = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .expect("the workspace lists its members");
        let mut binaries = BTreeSet::new();
        for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
            if member.is_empty() {
                continue;
            }
            let dir = root.join(member);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            for (table, name) in names_in(&manifest) {
                let binary = match table.as_str() {
                    "[package]" => dir.join("src/main.rs").exists(),
                    "[[bin]]" => true,
                    _ => false,
                };
                if binary {
                    binaries.insert(name.replace('-', "_"));
                }
            }
        }
        binaries
    }

    #[test]
    fn the_allowlist_is_every_binary_of_the_workspace_and_shared() {
        let binaries = workspace_binaries();
        for function in [
            "stream_rating_sync",
            "scheduled_rating_sync",
            "admin_authorizer",
        ] {
            assert!(binaries.contains(function), "{function} in {binaries:?}");
        }
        let functions =
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
                .unwrap()
                .count();
        assert!(binaries.len() > functions, "{binaries:?}");
        let mut wanted = binaries;
        wanted.insert("shared".to_owned());
        let listed: BTreeSet<String> = OWN_CRATES.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(listed.len(), OWN_CRATES.len(), "a crate listed twice");
        assert_eq!(
            listed, wanted,
            "OWN_CRATES against the workspace's binaries"
        );
        let ceiling = ceiling();
        for target in &listed {
            assert!(ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
    }

    #[test]
    fn only_this_services_crates_log_below_info() {
        let ceiling = ceiling();
        for target in [
            "lambda_runtime",
            "lambda_runtime::layers::api_response",
            "lambda_http",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sdk_secretsmanager",
            "aws_sdk_sts",
            "aws_config::default_provider",
            "hyper_util::client",
            "reqwest::connect",
            "rustls",
            "some_crate_added_later",
        ] {
            assert!(ceiling.would_enable(target, &Level::INFO), "{target}");
            assert!(!ceiling.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
        for target in [
            "shared::sync",
            "scheduled_rating_sync",
            "stream_rating_sync",
            "admin_sync_status",
        ] {
            assert!(ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
    }
}

/// What a log subscriber wrote, for the unit tests that read their own
/// log lines (that a secret or a detail stays out of them).
#[cfg(test)]
pub(crate) mod captured {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// The bytes written so far; clones share them, so one clone goes to
    /// the subscriber as its writer and the test reads another.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// Everything written, as text.
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }
}
