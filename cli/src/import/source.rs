//! Reading the Python service's database: SQLite (`sqlite://PATH`, opened
//! read-only) or PostgreSQL (`postgres://…`, TLS by libpq's `sslmode`:
//! see [`super::tls`]).
//!
//! Every value is read as text (`NULL` as `None`), so both databases give
//! the same rows: numbers as written (`7`, `4.5`), booleans as `true`,
//! `false`, `1` or `0`, and times as the database holds them. PostgreSQL's
//! times are read as seconds since the epoch (exact, whatever the session's
//! zone); SQLite's are its text (naive means UTC) or a number of seconds.
//!
//! Ratings are read in keyset pages (`ORDER BY id`, `LIMIT n`), and the
//! failure rows of one page by a range of `rating_id`, streamed into a fold,
//! so memory holds one page, never a table.

use std::collections::BTreeMap;

use futures_util::{pin_mut, TryStreamExt};

use super::shape::{Shape, Table};
use super::tls::SslMode;
use super::ImportError;

/// A `skill_ratings` row, either shape.
#[derive(Debug, Clone, Default)]
pub struct SqlRating {
    /// `id`.
    pub id: String,
    /// `skill_id`.
    pub skill_id: Option<String>,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `rating`, as written.
    pub rating: Option<String>,
    /// `comment` (early shape) or `review` (later shape).
    pub review: Option<String>,
    /// `created_at`.
    pub created_at: Option<String>,
    /// `updated_at` (later shape only).
    pub updated_at: Option<String>,
    /// `synced_at`.
    pub synced_at: Option<String>,
    /// `synced_to_saas`.
    pub synced_to_saas: Option<String>,
    /// `remote_rating_id`.
    pub remote_rating_id: Option<String>,
    /// `tenant_id` (later shape only).
    pub tenant_id: Option<String>,
    /// `is_visible`, where the table has it.
    pub is_visible: Option<String>,
    /// `is_flagged`, where the table has it.
    pub is_flagged: Option<String>,
}

/// A `failed_rating_uploads` row.
#[derive(Debug, Clone, Default)]
pub struct SqlFailure {
    /// `rating_id`.
    pub rating_id: String,
    /// `error_message`.
    pub error_message: Option<String>,
    /// `failed_at`.
    pub failed_at: Option<String>,
    /// `last_retry_at`.
    pub last_retry_at: Option<String>,
    /// `retry_count`.
    pub retry_count: Option<String>,
    /// `max_retries` (later shape only).
    pub max_retries: Option<String>,
}

/// A `conflict_log` row.
#[derive(Debug, Clone, Default)]
pub struct SqlConflict {
    /// `id`, as text.
    pub id: String,
    /// `conflict_type`.
    pub conflict_type: Option<String>,
    /// `severity`.
    pub severity: Option<String>,
    /// `local_data`, JSON.
    pub local_data: Option<String>,
    /// `remote_data`, JSON.
    pub remote_data: Option<String>,
    /// `resolution_strategy`.
    pub resolution_strategy: Option<String>,
    /// `resolved_at`.
    pub resolved_at: Option<String>,
    /// `skill_id`.
    pub skill_id: Option<String>,
    /// `created_at`.
    pub created_at: Option<String>,
}

/// An open database.
pub enum Source {
    /// `sqlite://PATH`.
    Sqlite(rusqlite::Connection),
    /// `postgres://…`.
    Postgres(tokio_postgres::Client),
}

/// The column list of a table: name → the database's type name.
pub type Columns = BTreeMap<String, String>;

impl Source {
    /// Opens `url` (`sqlite://PATH` or `postgres://…`); the second value
    /// is the URL as it may be shown (no password).
    pub async fn open(url: &str) -> Result<(Self, String), ImportError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let connection = rusqlite::Connection::open_with_flags(path, flags)
                .map_err(|e| ImportError::Source(format!("cannot open SQLite file {path}: {e}")))?;
            return Ok((Self::Sqlite(connection), format!("sqlite://{path}")));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (url, tls) = super::tls::split_url(url)?;
            let mut config: tokio_postgres::Config = url
                .parse()
                .map_err(|e| ImportError::Source(format!("not a PostgreSQL URL ({e})")))?;
            let shown = shown_postgres(&config);
            config.ssl_mode(match tls.mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
            let connector = super::tls::connector(&tls)?;
            let (client, connection) = config.connect(connector).await.map_err(|e| {
                ImportError::Source(format!(
                    "cannot connect to {shown} (sslmode={}): {}",
                    tls.mode.as_str(),
                    connect_error(&e)
                ))
            })?;
            tokio::spawn(async move {
                // Errors surface on the client's next query.
                let _ = connection.await;
            });
            return Ok((Self::Postgres(client), shown));
        }
        Err(ImportError::Source(
            "--from must be postgres://USER@HOST[:PORT]/DB or sqlite://PATH".into(),
        ))
    }

    /// The columns of `table`, or `None` if there is no such table.
    pub async fn columns(&self, table: &str) -> Result<Option<Columns>, ImportError> {
        let columns: Columns = match self {
            Self::Sqlite(db) => {
                let mut statement = db
                    .prepare("SELECT name, type FROM pragma_table_info(?1)")
                    .map_err(sqlite_error)?;
                let rows = statement
                    .query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(sqlite_error)?;
                rows.collect::<Result<_, _>>().map_err(sqlite_error)?
            }
            Self::Postgres(db) => db
                .query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                    &[&table],
                )
                .await
                .map_err(postgres_error)?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect(),
        };
        Ok((!columns.is_empty()).then_some(columns))
    }

    /// How many rows `skill_ratings` holds: the length of the progress bar.
    pub async fn count_ratings(&self) -> Result<u64, ImportError> {
        const COUNT: &str = "SELECT COUNT(*) FROM skill_ratings";
        let count: i64 = match self {
            Self::Sqlite(db) => db
                .query_row(COUNT, [], |row| row.get(0))
                .map_err(sqlite_error)?,
            Self::Postgres(db) => db
                .query_one(COUNT, &[])
                .await
                .map_err(postgres_error)?
                .get(0),
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Up to `limit` ratings with an id after `after`, by id.
    pub async fn ratings_page(
        &self,
        shape: &Shape,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SqlRating>, ImportError> {
        let select = self.select(shape, Table::Ratings);
        let rows = self
            .page(&select, "skill_ratings", "id", after, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|mut v| SqlRating {
                id: take(&mut v, 0).unwrap_or_default(),
                skill_id: take(&mut v, 1),
                user_id: take(&mut v, 2),
                rating: take(&mut v, 3),
                review: take(&mut v, 4),
                created_at: take(&mut v, 5),
                updated_at: take(&mut v, 6),
                synced_at: take(&mut v, 7),
                synced_to_saas: take(&mut v, 8),
                remote_rating_id: take(&mut v, 9),
                tenant_id: take(&mut v, 10),
                is_visible: take(&mut v, 11),
                is_flagged: take(&mut v, 12),
            })
            .collect())
    }

    /// Up to `limit` conflicts with an id after `after`, by id (as text).
    pub async fn conflicts_page(
        &self,
        shape: &Shape,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SqlConflict>, ImportError> {
        let select = self.select(shape, Table::Conflicts);
        let key = match self {
            Self::Sqlite(_) => "CAST(id AS TEXT)",
            Self::Postgres(_) => "id::text",
        };
        let rows = self
            .page(&select, "conflict_log", key, after, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|mut v| SqlConflict {
                id: take(&mut v, 0).unwrap_or_default(),
                conflict_type: take(&mut v, 1),
                severity: take(&mut v, 2),
                local_data: take(&mut v, 3),
                remote_data: take(&mut v, 4),
                resolution_strategy: take(&mut v, 5),
                resolved_at: take(&mut v, 6),
                skill_id: take(&mut v, 7),
                created_at: take(&mut v, 8),
            })
            .collect())
    }

    /// Every failure row whose `rating_id` is after `after` and at most
    /// `upto` (no bound where `None`), one at a time into `each`.
    pub async fn failures_between(
        &self,
        shape: &Shape,
        after: Option<&str>,
        upto: Option<&str>,
        mut each: impl FnMut(SqlFailure),
    ) -> Result<(), ImportError> {
        let select = self.select(shape, Table::Failures);
        let row = |mut v: Vec<Option<String>>| SqlFailure {
            rating_id: take(&mut v, 0).unwrap_or_default(),
            error_message: take(&mut v, 1),
            failed_at: take(&mut v, 2),
            last_retry_at: take(&mut v, 3),
            retry_count: take(&mut v, 4),
            max_retries: take(&mut v, 5),
        };
        let bounds: Vec<&str> = after.into_iter().chain(upto).collect();
        let (mut conditions, mut n) = (Vec::new(), 0);
        let mut placeholder = || {
            n += 1;
            match self {
                Self::Sqlite(_) => format!("?{n}"),
                Self::Postgres(_) => format!("${n}"),
            }
        };
        if after.is_some() {
            conditions.push(format!("rating_id > {}", placeholder()));
        }
        if upto.is_some() {
            conditions.push(format!("rating_id <= {}", placeholder()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!("{select} FROM failed_rating_uploads{filter}");
        match self {
            Self::Sqlite(db) => {
                let mut statement = db.prepare(&sql).map_err(sqlite_error)?;
                let width = statement.column_count();
                let mut rows = statement
                    .query(rusqlite::params_from_iter(bounds.iter()))
                    .map_err(sqlite_error)?;
                while let Some(found) = rows.next().map_err(sqlite_error)? {
                    each(row(sqlite_row(found, width)?));
                }
            }
            Self::Postgres(db) => {
                let stream = db
                    .query_raw(&sql, bounds.iter())
                    .await
                    .map_err(postgres_error)?;
                pin_mut!(stream);
                while let Some(found) = stream.try_next().await.map_err(postgres_error)? {
                    each(row(postgres_row(&found)?));
                }
            }
        }
        Ok(())
    }

    /// `SELECT` and the columns of `table` in the order the row types
    /// take them, each as text; a column the shape lacks is `NULL`.
    fn select(&self, shape: &Shape, table: Table) -> String {
        let columns = shape.read_columns(table);
        let exprs: Vec<String> = columns
            .iter()
            .map(|(name, kind)| match (self, name) {
                (_, None) => "NULL".to_owned(),
                (Self::Sqlite(_), Some(name)) => format!("\"{name}\""),
                (Self::Postgres(_), Some(name)) => {
                    if kind.contains("timestamp") || kind == "date" {
                        format!("(extract(epoch from \"{name}\"))::text")
                    } else {
                        format!("\"{name}\"::text")
                    }
                }
            })
            .collect();
        format!("SELECT {}", exprs.join(", "))
    }

    async fn page(
        &self,
        select: &str,
        table: &str,
        key: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Vec<Option<String>>>, ImportError> {
        match self {
            Self::Sqlite(db) => {
                let filter = if after.is_some() {
                    format!(" WHERE {key} > ?2")
                } else {
                    String::new()
                };
                let sql = format!("{select} FROM {table}{filter} ORDER BY {key} LIMIT ?1");
                let mut statement = db.prepare(&sql).map_err(sqlite_error)?;
                let width = statement.column_count();
                let mut rows = match after {
                    Some(after) => statement.query(rusqlite::params![limit, after]),
                    None => statement.query(rusqlite::params![limit]),
                }
                .map_err(sqlite_error)?;
                let mut page = Vec::new();
                while let Some(row) = rows.next().map_err(sqlite_error)? {
                    page.push(sqlite_row(row, width)?);
                }
                Ok(page)
            }
            Self::Postgres(db) => {
                let limit = i64::from(limit);
                let rows = match after {
                    Some(after) => {
                        let sql = format!(
                            "{select} FROM {table} WHERE {key} > $2 ORDER BY {key} LIMIT $1"
                        );
                        db.query(&sql, &[&limit, &after]).await
                    }
                    None => {
                        let sql = format!("{select} FROM {table} ORDER BY {key} LIMIT $1");
                        db.query(&sql, &[&limit]).await
                    }
                }
                .map_err(postgres_error)?;
                rows.iter().map(postgres_row).collect()
            }
        }
    }
}

fn take(values: &mut [Option<String>], index: usize) -> Option<String> {
    values.get_mut(index).and_then(Option::take)
}

fn sqlite_row(row: &rusqlite::Row<'_>, width: usize) -> Result<Vec<Option<String>>, ImportError> {
    use rusqlite::types::ValueRef;
    (0..width)
        .map(|i| {
            Ok(match row.get_ref(i).map_err(sqlite_error)? {
                ValueRef::Null => None,
                ValueRef::Integer(v) => Some(v.to_string()),
                ValueRef::Real(v) => Some(v.to_string()),
                ValueRef::Text(v) | ValueRef::Blob(v) => Some(String::from_utf8_lossy(v).into()),
            })
        })
        .collect()
}

fn postgres_row(row: &tokio_postgres::Row) -> Result<Vec<Option<String>>, ImportError> {
    (0..row.len())
        .map(|i| row.try_get::<_, Option<String>>(i).map_err(postgres_error))
        .collect()
}

/// The error and its causes (tokio-postgres puts the TLS handshake's
/// reason, such as an unknown issuer, in the source).
fn connect_error(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = inner.source();
    }
    text
}

fn sqlite_error(e: rusqlite::Error) -> ImportError {
    ImportError::Source(format!("SQLite: {e}"))
}

fn postgres_error(e: tokio_postgres::Error) -> ImportError {
    ImportError::Source(format!("PostgreSQL: {e}"))
}

/// `postgres://user@host:port/db`, never the password.
fn shown_postgres(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}
