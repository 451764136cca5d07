//! Reports of recent runs, kept in the state table for the status endpoint
//! and for operators, and expired by DynamoDB's TTL after a retention period.

use chrono::{Duration, Utc};

use super::{n, request_error, s, text, Store, StoreError};
use crate::report::SyncReport;

const REPORT_PARTITION: &str = "run";
/// How long a run's report is kept.
const REPORT_RETENTION_DAYS: i64 = 30;

impl Store {
    /// Saves `report` in the state table, where it is kept 30 days.
    pub async fn save_report(&self, report: &SyncReport) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        let body = serde_json::to_string(report).map_err(|e| StoreError::Malformed {
            table: table.clone(),
            message: format!("report does not serialize: {e}"),
        })?;
        let expires = Utc::now() + Duration::days(REPORT_RETENTION_DAYS);
        self.client
            .put_item()
            .table_name(table)
            .item("pk", s(REPORT_PARTITION))
            .item("sk", s(format!("{}#{}", report.started_at, report.run_id)))
            .item("report", s(body))
            .item("expires_at", n(expires.timestamp()))
            .send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }

    /// The most recent reports, newest first.
    pub async fn recent_reports(&self, limit: u32) -> Result<Vec<SyncReport>, StoreError> {
        let table = &self.tables.sync_state;
        self.newest_in_partition(&self.tables.sync_state, REPORT_PARTITION, limit, false)
            .await?
            .iter()
            .map(|item| {
                let body = text(item, "report").unwrap_or_default();
                serde_json::from_str(body).map_err(|e| StoreError::Malformed {
                    table: table.clone(),
                    message: format!("stored report does not parse: {e}"),
                })
            })
            .collect()
    }
}
