//! A handle on the marketplace simulator (`infra/simulator/marketplace_simulator.py`):
//! starts it as a real process on a free loopback port, and reads and sets
//! its counters and fault knobs through its `/_sim/` control API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::StackError;

pub fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../simulator/marketplace_simulator.py")
}

pub struct Simulator {
    /// Killed when the handle is dropped.
    _process: Option<Child>,
    base_url: String,
    http: reqwest::Client,
}

impl Simulator {
    /// Starts a private simulator that requires `token`.
    pub async fn start(token: &str) -> Result<Self, StackError> {
        Self::start_on("127.0.0.1", token).await
    }

    /// The same on another loopback address (127.0.0.2 is one: a second
    /// host, for redirects that must not be followed).
    pub async fn start_on(host: &str, token: &str) -> Result<Self, StackError> {
        let python = std::env::var("SIMULATOR_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(python)
            .arg(script_path())
            .args(["--host", host, "--port", "0", "--token", token])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StackError::Simulator(format!("cannot start: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| StackError::Simulator("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .map_err(|_| StackError::Simulator("did not say LISTENING within 20 s".into()))?
            .map_err(|e| StackError::Simulator(e.to_string()))?
            .ok_or_else(|| StackError::Simulator("exited before listening".into()))?;
        let base_url = first
            .strip_prefix("LISTENING ")
            .ok_or_else(|| StackError::Simulator(format!("unexpected first line {first:?}")))?
            .trim()
            .to_owned();
        Ok(Self {
            _process: Some(child),
            base_url,
            http: reqwest::Client::new(),
        })
    }

    /// A simulator someone else started (the demo's).
    pub fn connect(base_url: &str) -> Self {
        Self {
            _process: None,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The base URL the marketplace client should use.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, StackError> {
        let mut request = self
            .http
            .request(method, format!("{}/_sim/{path}", self.base_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| StackError::Simulator(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| StackError::Simulator(e.to_string()))?;
        if !status.is_success() {
            return Err(StackError::Simulator(format!("{path}: {status} {text}")));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| StackError::Simulator(format!("{path}: {e}")))
    }

    /// Counters and the log of every marketplace request.
    pub async fn stats(&self) -> Result<Value, StackError> {
        self.call(reqwest::Method::GET, "stats", None).await
    }

    /// Every rating the simulator holds.
    pub async fn ratings(&self) -> Result<Vec<Value>, StackError> {
        let body = self.call(reqwest::Method::GET, "ratings", None).await?;
        Ok(body["ratings"].as_array().cloned().unwrap_or_default())
    }

    /// Merges fault knobs into the configuration (see the simulator's docs).
    pub async fn configure(&self, knobs: Value) -> Result<Value, StackError> {
        self.call(reqwest::Method::POST, "config", Some(knobs))
            .await
    }

    /// Inserts a rating as if another instance or the website had made it.
    pub async fn insert_rating(&self, rating: Value) -> Result<Value, StackError> {
        self.call(reqwest::Method::POST, "ratings", Some(rating))
            .await
    }

    /// Stores a remote rating exactly as given, however hostile (any id, any
    /// value in any field): what a broken or malicious marketplace lists.
    pub async fn insert_raw_rating(&self, rating: Value) -> Result<Value, StackError> {
        self.call(reqwest::Method::POST, "raw-ratings", Some(rating))
            .await
    }

    /// Changes a remote rating as if it had been edited at the marketplace; a
    /// field set to null is removed.
    pub async fn edit_rating(&self, id: &str, fields: Value) -> Result<Value, StackError> {
        self.call(reqwest::Method::PUT, &format!("ratings/{id}"), Some(fields))
            .await
    }

    pub async fn delete_rating(&self, id: &str) -> Result<(), StackError> {
        self.call(reqwest::Method::DELETE, &format!("ratings/{id}"), None)
            .await
            .map(|_| ())
    }

    pub async fn reset(&self) -> Result<(), StackError> {
        self.call(reqwest::Method::POST, "reset", None)
            .await
            .map(|_| ())
    }
}
