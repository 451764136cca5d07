//! What every integration test starts from: its own tables (under a unique
//! prefix, so tests run side by side on one DynamoDB server) and its own
//! marketplace simulator process.
//!
//! The DynamoDB server must be running and named by
//! `AWS_ENDPOINT_URL_DYNAMODB`: `make test` (infra/scripts/with-local-stack.sh)
//! starts it, and drops it with all its tables when the run ends. The
//! simulator is started here, one per test, and killed with the test.

pub mod access;
pub mod admin;
pub mod cli;
pub mod dynamo_proxy;
pub mod host;
pub mod hostile;
pub mod python_db;
pub mod runtime_api;
pub mod stream;

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use local_stack::simulator::Simulator;
use local_stack::{dynamodb_client, seed, tables};
use serde_json::Value;
use shared::config::{Config, MarketplaceConfig, Secret, SyncSettings, TableNames};
use shared::rating::Rating;
use shared::store::{Item, Store, PENDING_INDEX, RETRY_INDEX, SYNCED_TO_SAAS_PENDING};
use shared::sync::SyncEngine;

pub const TOKEN: &str = "test-token-5f1c";

pub struct TestEnv {
    /// For the test's own reads and writes.
    pub client: Client,
    /// The engines' client: its requests are recorded as the scheduled
    /// function's (see [`access`]).
    pub scheduled_client: Client,
    pub tables: TableNames,
    pub simulator: Simulator,
    /// Prefix of every id this test writes.
    pub prefix: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("t{}_", &unique[..12]);
        let client = dynamodb_client().await.expect("local DynamoDB");
        let tables = TableNames::with_prefix(&prefix);
        tables::create_tables(&client, &tables)
            .await
            .expect("create tables");
        let simulator = Simulator::start(TOKEN).await.expect("start simulator");
        let scheduled_client =
            access::AccessRecorder::new(&tables, Some("scheduled-rating-sync")).client(&client);
        Self {
            client,
            scheduled_client,
            tables,
            simulator,
            prefix,
        }
    }

    pub fn config(&self, sync: SyncSettings) -> Config {
        Config {
            tables: self.tables.clone(),
            marketplace: MarketplaceConfig {
                base_url: self.simulator.base_url().to_owned(),
                api_token: Secret::new(TOKEN),
                token_refresh: Default::default(),
                instance_id: "test-instance".into(),
                request_timeout: Duration::from_secs(5),
                max_skill_response_bytes: shared::config::DEFAULT_MAX_SKILL_RESPONSE_BYTES,
            },
            sync,
            event_bus: None,
        }
    }

    pub fn engine(&self) -> SyncEngine {
        self.engine_with(SyncSettings::default())
    }

    pub fn engine_with(&self, sync: SyncSettings) -> SyncEngine {
        shared::triggers::clients::sync_engine(&self.config(sync), self.scheduled_client.clone())
            .expect("engine")
    }

    /// An engine whose DynamoDB client counts its requests (see each
    /// report's `dynamodb_requests`).
    pub fn counting_engine(&self, sync: SyncSettings) -> SyncEngine {
        let counter = shared::store::requests::RequestCounter::default();
        let client = Client::from_conf(
            self.scheduled_client
                .config()
                .to_builder()
                .interceptor(counter.clone())
                .build(),
        );
        shared::triggers::clients::sync_engine(&self.config(sync), client)
            .expect("engine")
            .counting_requests_with(counter)
    }

    /// An engine that presents `token` to the marketplace.
    pub fn engine_with_token(&self, sync: SyncSettings, token: &str) -> SyncEngine {
        let mut config = self.config(sync);
        config.marketplace.api_token = Secret::new(token);
        shared::triggers::clients::sync_engine(&config, self.scheduled_client.clone())
            .expect("engine")
    }

    pub fn store(&self) -> Store {
        Store::new(self.client.clone(), self.tables.clone())
    }

    /// `count` pending ratings, the oldest first, the last `invalid` invalid.
    pub fn ratings(&self, count: usize, invalid: usize) -> Vec<Rating> {
        let start = chrono::Utc::now() - chrono::Duration::days(1);
        seed::sample_ratings(&self.prefix, count, invalid, start)
    }

    pub async fn put(&self, ratings: &[Rating]) {
        seed::put_ratings(&self.client, &self.tables.ratings, ratings)
            .await
            .expect("seed ratings");
    }

    pub async fn item(&self, id: &str) -> Item {
        self.store()
            .rating_item(id)
            .await
            .expect("get rating")
            .expect("rating exists")
    }

    /// Ids in the backlog index, oldest first.
    pub async fn pending_ids(&self) -> Vec<String> {
        self.index_ids(PENDING_INDEX, "synced_to_saas", SYNCED_TO_SAAS_PENDING)
            .await
    }

    /// Ids of failed ratings waiting for a later attempt, due or not.
    pub async fn waiting_ids(&self) -> Vec<String> {
        self.index_ids(RETRY_INDEX, "sync_retry", "waiting").await
    }

    async fn index_ids(&self, index: &str, key: &str, value: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.ratings)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", AttributeValue::S(value.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query index");
            ids.extend(out.items().iter().map(|i| text(i, "id")));
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return ids,
            }
        }
    }

    /// Every dead-letter item.
    pub async fn dead_letters(&self) -> Vec<Item> {
        let out = self
            .client
            .scan()
            .table_name(&self.tables.failed_uploads)
            .consistent_read(true)
            .send()
            .await
            .expect("scan dead letters");
        out.items().to_vec()
    }

    /// The simulator's rating id for each user who has one.
    pub async fn remote_ids_by_user(&self) -> std::collections::HashMap<String, String> {
        self.simulator
            .ratings()
            .await
            .expect("simulator ratings")
            .into_iter()
            .map(|r| {
                (
                    r["user_id"].as_str().unwrap_or_default().to_owned(),
                    r["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    pub async fn stats(&self) -> Value {
        self.simulator.stats().await.expect("simulator stats")
    }

    /// An edit as the Atom app makes it: new stars, the next version, a new
    /// `updated_at`, pending again.
    pub async fn edit_locally(&self, id: &str, stars: u8) {
        self.client
            .update_item()
            .table_name(&self.tables.ratings)
            .key("id", AttributeValue::S(id.into()))
            .update_expression(
                "SET rating = :r, version = version + :one, updated_at = :u, synced_to_saas = :p",
            )
            .expression_attribute_values(":r", AttributeValue::N(stars.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":u",
                AttributeValue::S(shared::store::timestamp(chrono::Utc::now())),
            )
            .expression_attribute_values(":p", AttributeValue::S(SYNCED_TO_SAAS_PENDING.into()))
            .send()
            .await
            .expect("edit the rating");
    }

    /// The settings a function gets for this test's tables and simulator.
    pub fn function_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RATINGS_TABLE", self.tables.ratings.clone()),
            ("FAILED_UPLOADS_TABLE", self.tables.failed_uploads.clone()),
            ("SYNC_STATE_TABLE", self.tables.sync_state.clone()),
            ("AUDIT_TABLE", self.tables.audit.clone()),
            ("ATOM_SAAS_API_URL", self.simulator.base_url().to_string()),
            ("ATOM_SAAS_API_TOKEN", TOKEN.to_owned()),
        ]
    }

    /// A process of `program` configured as the functions are, for this
    /// test's tables and simulator, logging nothing, stdout discarded, and
    /// killed if dropped.
    pub fn function_process(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .envs(self.function_settings())
            .env("ATOM_INSTANCE_ID", "crash-test")
            .env("RUST_LOG", "off")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    pub async fn configure(&self, knobs: Value) {
        self.simulator
            .configure(knobs)
            .await
            .expect("configure simulator");
    }
}

/// Settings under which a failed rating is due again at once, so that
/// consecutive runs in a test see it.
pub fn retry_at_once() -> SyncSettings {
    let mut settings = SyncSettings::default();
    settings.retry_backoff.base = Duration::ZERO;
    settings.retry_backoff.max = Duration::ZERO;
    settings.request_backoff.base = Duration::from_millis(10);
    settings.request_backoff.max = Duration::from_millis(50);
    settings
}

/// A deadline far enough away that a test run never reaches it.
pub fn generous_deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(120)
}

pub fn text(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok()))
        .cloned()
        .unwrap_or_default()
}

/// The marketplace requests of one kind ("POST" or "PUT") in arrival order.
pub fn requests(stats: &Value, method: &str) -> Vec<Value> {
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] == method)
        .cloned()
        .collect()
}

/// Polls `check` until it yields a value or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The most of `times` (seconds) that fall in any window of `window`
/// starting at one of them.
pub fn most_in_any_window(times: &[f64], window: Duration) -> usize {
    times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|t| **t >= *start && **t < start + window.as_secs_f64())
                .count()
        })
        .max()
        .unwrap_or(0)
}

impl TestEnv {
    /// Every one of `ratings` at the simulator exactly once (one remote
    /// rating of its user), marked synced with that rating's remote id, and
    /// no create beyond them.
    pub async fn assert_each_synced_once(&self, ratings: &[Rating]) {
        let mut by_user: std::collections::HashMap<String, Vec<String>> = Default::default();
        for remote in self.simulator.ratings().await.unwrap() {
            by_user
                .entry(remote["user_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(remote["id"].as_str().unwrap().to_owned());
        }
        for rating in ratings {
            let ids = by_user.get(&rating.user_id).cloned().unwrap_or_default();
            assert_eq!(
                ids.len(),
                1,
                "{} has {} remote ratings",
                rating.id,
                ids.len()
            );
            let item = self.item(&rating.id).await;
            assert_eq!(
                shared::store::sync_state(&item),
                shared::rating::SyncState::Synced,
                "{}",
                rating.id
            );
            assert_eq!(text(&item, "remote_rating_id"), ids[0], "{}", rating.id);
        }
        assert_eq!(self.stats().await["creates"], ratings.len());
    }
}
