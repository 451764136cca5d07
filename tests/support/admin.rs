//! The admin API's test harness: the four endpoints as API Gateway routes
//! them, requests built by hand, answers read as a client reads them (and
//! recorded for the OpenAPI check), tokens, and a snapshot of every table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::access::AccessRecorder;
use crate::*;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lambda_http::http::{self, Method};
use lambda_http::Body;
use serde_json::{json, Value};
use shared::auth::AdminPolicy;
use shared::config::{Secret, SyncSettings};
use shared::rating::Rating;
use shared::store::{Item, Store, AUDIT_PARTITION, RETRYING};
use shared::triggers::http::{
    admin_list_failed_uploads as failed_uploads, admin_retry_failed_upload as retry,
    admin_sync_ratings as sync_ratings, admin_sync_status as status, AdminContext, Request,
    SyncApi,
};

pub const SECRET: &str = "admin-api-test-secret-0123456789abcdef";
pub const ADMIN: &str = "ops@example.com";

// ---------------------------------------------------------------------------
// The four endpoints, as API Gateway routes them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Sync,
    List,
    Retry,
    Status,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [Self::Sync, Self::List, Self::Retry, Self::Status];

    /// The route as `openapi.yaml` and `template.yaml` write it.
    pub fn route(self) -> (Method, &'static str) {
        match self {
            Self::Sync => (Method::POST, "/api/admin/sync/ratings"),
            Self::List => (Method::GET, "/api/admin/ratings/failed-uploads"),
            Self::Retry => (Method::POST, "/api/admin/ratings/failed-uploads/{id}/retry"),
            Self::Status => (Method::GET, "/api/admin/sync/ratings/status"),
        }
    }

    /// The Lambda function (its binary) that serves the endpoint.
    pub fn function(self) -> &'static str {
        match self {
            Self::Sync => "admin-sync-ratings",
            Self::List => "admin-list-failed-uploads",
            Self::Retry => "admin-retry-failed-upload",
            Self::Status => "admin-sync-status",
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            Self::Sync => sync_ratings::ACTION,
            Self::List => failed_uploads::ACTION,
            Self::Retry => retry::ACTION,
            Self::Status => status::ACTION,
        }
    }

    /// A well-formed request without a token.
    pub fn request(self) -> Req {
        match self {
            Self::Retry => Req::new(self, "/api/admin/ratings/failed-uploads/no-such-id/retry"),
            _ => Req::new(self, self.route().1),
        }
    }
}

/// A request being built.
pub struct Req {
    pub endpoint: Endpoint,
    pub method: Method,
    pub uri: String,
    pub token: Option<String>,
    pub body: String,
}

impl Req {
    pub fn new(endpoint: Endpoint, uri: &str) -> Self {
        Self {
            endpoint,
            method: endpoint.route().0,
            uri: uri.to_owned(),
            token: None,
            body: String::new(),
        }
    }

    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(format!("Bearer {token}"));
        self
    }

    pub fn header(mut self, value: &str) -> Self {
        self.token = Some(value.to_owned());
        self
    }

    pub fn admin(self) -> Self {
        self.token(&admin_token())
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    pub fn build(&self) -> Request {
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(&self.uri)
            .header("content-type", "application/json");
        if let Some(value) = &self.token {
            builder = builder.header("authorization", value);
        }
        builder.body(Body::from(self.body.clone())).unwrap()
    }
}

/// What a handler answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// Every error has the same envelope.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert_eq!(self.body["success"], false);
        let error = self.body["error"].as_object().unwrap();
        let keys: BTreeSet<&str> = error.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["code", "message", "timestamp", "details"])
        );
        assert!(!self.message().is_empty());
        let at = self.body["error"]["timestamp"].as_str().unwrap();
        assert!(at.ends_with('Z'), "{at}");
        chrono::DateTime::parse_from_rfc3339(at).unwrap();
    }
}

/// One test's world: its tables and simulator, and the handlers' state.
pub struct Admin {
    pub env: TestEnv,
    pub context: AdminContext,
    pub api: SyncApi,
    /// Records the handlers' DynamoDB requests as their function's.
    pub recorder: AccessRecorder,
}

impl Admin {
    pub async fn new() -> Self {
        Self::with(retry_at_once()).await
    }

    pub async fn with(settings: SyncSettings) -> Self {
        let env = TestEnv::new().await;
        let recorder = AccessRecorder::new(&env.tables, None);
        let client = recorder.client(&env.client);
        let store = Store::new(client.clone(), env.tables.clone());
        let context =
            AdminContext::new(store, &Secret::new(SECRET), AdminPolicy::default()).unwrap();
        let engine =
            shared::triggers::clients::sync_engine(&env.config(settings.clone()), client).unwrap();
        let api = SyncApi::new(context.clone(), engine, &settings);
        Self {
            env,
            context,
            api,
            recorder,
        }
    }

    pub async fn call(&self, request: Req) -> Answer {
        self.recorder.act_as(Some(request.endpoint.function()));
        let answer = match request.endpoint {
            Endpoint::Sync => {
                sync_ratings::handle(&self.api, request.build(), generous_deadline()).await
            }
            Endpoint::Retry => retry::handle(&self.api, request.build(), generous_deadline()).await,
            Endpoint::List => failed_uploads::handle(&self.context, request.build()).await,
            Endpoint::Status => status::handle(&self.context, request.build()).await,
        };
        self.recorder.act_as(None);
        read_answer(request.endpoint, answer)
    }

    /// Everything the admin API could change: the three tables, less the
    /// audit trail.
    pub async fn snapshot(&self) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        let tables = &self.env.tables;
        let mut all = BTreeMap::new();
        for table in [&tables.ratings, &tables.failed_uploads, &tables.sync_state] {
            let mut items: Vec<BTreeMap<String, String>> = scan(&self.env, table)
                .await
                .into_iter()
                .filter(|item| text(item, "pk") != AUDIT_PARTITION)
                .map(|item| {
                    item.into_iter()
                        .map(|(k, v)| (k, format!("{v:?}")))
                        .collect()
                })
                .collect();
            items.sort();
            all.insert(table.clone(), items);
        }
        all
    }

    pub async fn audit(&self) -> Vec<Item> {
        self.env
            .store()
            .recent_audit_records(1000)
            .await
            .expect("audit records")
    }

    /// Puts a dead-letter item as the sync writes one.
    pub fn dead_letter(&self, index: usize, status: &str, last_failed_at: &str) -> Item {
        let id = format!("{}rating-{index:06}", self.env.prefix);
        let mut item = HashMap::from([
            ("id".to_owned(), s(&id)),
            ("rating_id".to_owned(), s(&id)),
            ("tenant_id".to_owned(), s("tenant-1")),
            ("error_message".to_owned(), s(&format!("failure {index}"))),
            ("failed_at".to_owned(), s("2026-01-01T00:00:00.000Z")),
            ("last_failed_at".to_owned(), s(last_failed_at)),
            ("retry_count".to_owned(), AttributeValue::N("1".into())),
            ("status".to_owned(), s(status)),
            (
                "retryable".to_owned(),
                AttributeValue::Bool(status == RETRYING),
            ),
        ]);
        if status == RETRYING {
            item.insert("next_retry_at".to_owned(), s("2030-01-01T00:00:00.000Z"));
        }
        item
    }
}

/// `count` ratings that failed once, transiently: each waiting, with a
/// dead-letter item. The marketplace still answers 500 to everything.
pub async fn failed_once(admin: &Admin, count: usize) -> Vec<Rating> {
    let ratings = admin.env.ratings(count, 0);
    admin.env.put(&ratings).await;
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 500 }))
        .await;
    admin
        .env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;
    ratings
}

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub async fn scan(env: &TestEnv, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = env
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

/// Reads the answer, checks what every answer has, and keeps it for the
/// OpenAPI check.
pub fn read_answer(endpoint: Endpoint, response: lambda_http::Response<Body>) -> Answer {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{endpoint:?}"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    };
    record_for_openapi(endpoint, status, &body);
    Answer { status, body }
}

pub fn responses_dir() -> PathBuf {
    std::env::var_os("ADMIN_API_RESPONSES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/admin-api-responses")
        })
}

pub fn record_for_openapi(endpoint: Endpoint, status: u16, body: &Value) {
    let dir = responses_dir();
    std::fs::create_dir_all(&dir).expect("responses dir");
    let (method, path) = endpoint.route();
    let record = json!({
        "method": method.as_str().to_lowercase(),
        "path": path,
        "status": status,
        "body": body,
    });
    let name = format!(
        "{}-{status}-{}.json",
        endpoint.action(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(dir.join(name), record.to_string()).expect("write response");
}

// ---------------------------------------------------------------------------
// Tokens.

pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// super_admin claims issued now for ten minutes, with `changes` merged in (a `null`
/// removes a claim).
pub fn claims(changes: Value) -> Value {
    let mut claims = json!({
        "sub": ADMIN,
        "role": "super_admin",
        "iat": now_seconds(),
        "exp": now_seconds() + 600,
    });
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

pub fn token_with(changes: Value) -> String {
    shared::auth::sign_token(&Secret::new(SECRET), &claims(changes)).unwrap()
}

pub fn admin_token() -> String {
    token_with(json!({}))
}

/// A token with `alg: none` and no signature.
pub fn unsigned_token() -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    format!("{header}.{claims}.")
}

impl Admin {
    /// [`Admin::call`] for a request built by hand: any header bytes, any
    /// body bytes, API Gateway's path parameters.
    pub async fn call_request(&self, endpoint: Endpoint, request: Request) -> Answer {
        self.recorder.act_as(Some(endpoint.function()));
        let answer = match endpoint {
            Endpoint::Sync => sync_ratings::handle(&self.api, request, generous_deadline()).await,
            Endpoint::Retry => retry::handle(&self.api, request, generous_deadline()).await,
            Endpoint::List => failed_uploads::handle(&self.context, request).await,
            Endpoint::Status => status::handle(&self.context, request).await,
        };
        self.recorder.act_as(None);
        read_answer(endpoint, answer)
    }
}
