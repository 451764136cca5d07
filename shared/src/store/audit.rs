//! The admin API's audit trail, in a table of its own (pk `audit`, sk
//! `<timestamp>#<uuid>`, one item per admin request: who, what, the
//! answer; kept `AUDIT_RETENTION_DAYS`), where the functions may only put
//! items. Nothing secret is in it: no token, no cursor, no body.

use chrono::{DateTime, Duration, Utc};

use super::{n, optional, request_error, s, timestamp, Store, StoreError};

/// The partition of the audit trail.
pub const AUDIT_PARTITION: &str = "audit";

/// One admin request as the audit trail records it. Nothing secret is in
/// it: no token, no cursor, no body; `input` is a summary the handler made.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the request arrived; with `id` it makes the sort key.
    pub at: DateTime<Utc>,
    /// A random id (a UUID): two requests in the same millisecond never
    /// share a key.
    pub id: String,
    /// What was asked, e.g. `sync_ratings`.
    pub action: String,
    /// The verified caller; all `None` when the request proved no identity.
    pub subject: Option<String>,
    /// The caller's role.
    pub role: Option<String>,
    /// The agent the token acts for, if any.
    pub agent_id: Option<String>,
    /// That agent's maturity.
    pub maturity: Option<String>,
    /// The Lambda request id and the client's address, when the runtime
    /// gave them.
    pub request_id: Option<String>,
    /// The client's address.
    pub source_ip: Option<String>,
    /// A summary of the input (JSON text).
    pub input: String,
    /// `started` while an action runs; then `ok`, `refused`, `invalid` or
    /// `error`.
    pub outcome: String,
    /// The HTTP status answered (0 while `started`).
    pub status: u16,
    /// The error code answered, if any.
    pub code: Option<String>,
    /// What came of it, in a sentence.
    pub result: String,
}

impl AuditRecord {
    /// The record's sort key: its time, then its id, so that records sort
    /// by time and two never share a key.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", timestamp(self.at), self.id)
    }
}

impl Store {
    /// Writes `record` to the audit table, kept `retention_days` (again: a
    /// record written as `started` is replaced by its outcome, under the
    /// same key; a PutItem, the one action the functions have there).
    pub async fn record_audit(
        &self,
        record: &AuditRecord,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let table = &self.tables.audit;
        let expires = record.at + Duration::days(i64::from(retention_days));
        self.client
            .put_item()
            .table_name(table)
            .item("pk", s(AUDIT_PARTITION))
            .item("sk", s(record.sort_key()))
            .item("at", s(timestamp(record.at)))
            .item("action", s(&record.action))
            .item("sub", optional(&record.subject))
            .item("role", optional(&record.role))
            .item("agent_id", optional(&record.agent_id))
            .item("maturity", optional(&record.maturity))
            .item("request_id", optional(&record.request_id))
            .item("source_ip", optional(&record.source_ip))
            .item("input", s(&record.input))
            .item("outcome", s(&record.outcome))
            .item("status", n(record.status))
            .item("code", optional(&record.code))
            .item("result", s(&record.result))
            .item("expires_at", n(expires.timestamp()))
            .send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }

    #[cfg(any(test, feature = "test-util"))]
    /// The most recent audit records, newest first, as stored (for tests
    /// and operators: the functions never read the trail).
    pub async fn recent_audit_records(&self, limit: u32) -> Result<Vec<super::Item>, StoreError> {
        self.newest_in_partition(&self.tables.audit, AUDIT_PARTITION, limit, true)
            .await
    }
}
