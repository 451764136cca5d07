//! What each function's DynamoDB client asked for, written down for
//! `tests/checks/test_iam.py`.
//!
//! The template grants every function its own DynamoDB actions, on named
//! tables and indexes, some only on certain partitions of the state table
//! (`dynamodb:LeadingKeys`). Moto does not enforce IAM, so a policy that
//! misses an action or a partition would pass every test here and fail in
//! AWS. This interceptor records each request a function's client sends in
//! the tests (operation, table, index, and the `pk` it touches), and the
//! Python test checks the records against the template: everything done was
//! granted, and everything granted was done.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use shared::config::TableNames;

/// Where the records go: `$DYNAMODB_ACCESS_DIR`, or `target/dynamodb-access`.
fn records_dir() -> PathBuf {
    std::env::var_os("DYNAMODB_ACCESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dynamodb-access")
        })
}

/// Records the requests of the clients it is installed in, as the function
/// it is told to act as; nothing while it acts as none.
#[derive(Debug, Clone)]
pub struct AccessRecorder {
    function: Arc<Mutex<Option<&'static str>>>,
    tables: TableNames,
    file: PathBuf,
    written: Arc<Mutex<HashSet<String>>>,
}

impl AccessRecorder {
    pub fn new(tables: &TableNames, function: Option<&'static str>) -> Self {
        let name = format!("{}.jsonl", uuid::Uuid::new_v4().simple());
        Self {
            function: Arc::new(Mutex::new(function)),
            tables: tables.clone(),
            file: records_dir().join(name),
            written: Arc::default(),
        }
    }

    /// From now on, requests are `function`'s (`None`: not recorded).
    pub fn act_as(&self, function: Option<&'static str>) {
        *self.function.lock().expect("recorder lock") = function;
    }

    /// A client like `client` whose requests this records.
    pub fn client(&self, client: &Client) -> Client {
        Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(self.clone())
                .build(),
        )
    }

    fn table(&self, name: &str) -> String {
        let tables = &self.tables;
        match name {
            n if n == tables.ratings => "ratings".into(),
            n if n == tables.failed_uploads => "failed_uploads".into(),
            n if n == tables.sync_state => "sync_state".into(),
            n if n == tables.audit => "audit".into(),
            other => format!("unknown:{other}"),
        }
    }

    fn record(&self, function: &str, operation: &str, body: &Value) -> std::io::Result<()> {
        let mut lines = Vec::new();
        let mut add = |table: &str, index: Option<&str>, pk: Option<&str>| {
            lines.push(
                json!({
                    "function": function,
                    "operation": operation,
                    "table": self.table(table),
                    "index": index,
                    "pk": pk,
                })
                .to_string(),
            );
        };
        if let Some(requests) = body["RequestItems"].as_object() {
            // BatchGetItem: one record per key read.
            // BatchWriteItem: one record per put or delete.
            for (table, writes) in requests {
                for key in writes["Keys"].as_array().into_iter().flatten() {
                    add(table, None, key["pk"]["S"].as_str());
                }
                for write in writes.as_array().into_iter().flatten() {
                    let item = &write["PutRequest"]["Item"];
                    let key = &write["DeleteRequest"]["Key"];
                    let pk = item["pk"]["S"].as_str().or(key["pk"]["S"].as_str());
                    add(table, None, pk);
                }
            }
        } else {
            let table = body["TableName"].as_str().unwrap_or("none");
            let index = body["IndexName"].as_str();
            let pk = body["Key"]["pk"]["S"]
                .as_str()
                .or(body["Item"]["pk"]["S"].as_str())
                .or(if index.is_none() {
                    body["ExpressionAttributeValues"][":pk"]["S"].as_str()
                } else {
                    None
                });
            add(table, index, pk);
        }
        let mut written = self.written.lock().expect("recorder lock");
        let new: Vec<String> = lines
            .into_iter()
            .filter(|line| written.insert(line.clone()))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(records_dir())?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)?;
        for line in new {
            writeln!(file, "{line}")?;
        }
        Ok(())
    }
}

impl Intercept for AccessRecorder {
    fn name(&self) -> &'static str {
        "AccessRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(function) = *self.function.lock().expect("recorder lock") else {
            return Ok(());
        };
        let operation = shared::store::requests::dynamodb_operation(context);
        let body: Value = context
            .request()
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or(Value::Null);
        self.record(function, operation, &body)
            .map_err(|e| format!("could not write the access record: {e}").into())
    }
}
