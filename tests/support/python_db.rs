//! The Python service's databases, built by the import tests from the
//! column lists of issue 19: SQLite files of both shapes, and a real
//! PostgreSQL server started on loopback ([`Postgres`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which shape of `skill_ratings` (and `failed_rating_uploads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `comment`, no tenant, no `updated_at`.
    Early,
    /// `review`, `tenant_id`, `updated_at` and the columns the import
    /// does not read.
    Later,
}

/// The tables of `shape`, as DDL both SQLite and PostgreSQL take: one
/// copy, in `tests/fixtures/python_service/`, which the benchmark's import
/// scenario loads too.
pub fn schema(shape: Shape) -> String {
    match shape {
        Shape::Early => include_str!("../fixtures/python_service/early.sql"),
        Shape::Later => include_str!("../fixtures/python_service/later.sql"),
    }
    .to_owned()
}

/// A SQL literal: `NULL`, or the text quoted.
pub fn lit(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some(v) => format!("'{}'", v.replace('\'', "''")),
    }
}

/// A new SQLite file of `shape` in a fresh directory, with `rows` (SQL
/// statements) run in it; the path.
pub fn sqlite_file(shape: Shape, rows: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ratings.db");
    let db = rusqlite::Connection::open(&path).expect("open sqlite");
    db.execute_batch(&schema(shape)).expect("schema");
    // SQLite leaves foreign keys unchecked unless asked (the Python
    // service's files may hold failure rows of deleted ratings).
    db.execute_batch(&format!("PRAGMA foreign_keys = OFF; BEGIN; {rows} COMMIT;"))
        .expect("rows");
    path
}

/// A PostgreSQL server of the machine's own, started on a free loopback
/// port in a directory of its own, stopped and removed when dropped.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
}

impl Postgres {
    /// Starts one; `None` (with the reason on stderr) if the machine has
    /// no `initdb`.
    pub fn start() -> Option<Self> {
        let bin = ["/usr/local/bin", "/usr/lib/postgresql/16/bin", "/usr/bin"]
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
        let Some(bin) = bin else {
            eprintln!("SKIPPED: no PostgreSQL (initdb, pg_ctl) on this machine");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {}", dir.display());
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let data = dir.join("data");
        run(&bin, root, "initdb", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres"]);
        });
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        run(&bin, root, "pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(&options)
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "start"]);
        });
        Some(Self {
            dir,
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        })
    }

    /// A client of the server's `postgres` database.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(connection);
        client
    }

    /// Creates the tables of `shape` and runs `rows`.
    pub async fn load(&self, shape: Shape, rows: &str) {
        let client = self.client().await;
        client
            .batch_execute(&schema(shape))
            .await
            .expect("schema in PostgreSQL");
        client
            .batch_execute(&format!("BEGIN; {rows} COMMIT;"))
            .await
            .expect("rows in PostgreSQL");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        let data = self.dir.join("data");
        let mut command = command(&self.bin, root, "pg_ctl");
        command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = command.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn command(bin: &Path, root: bool, program: &str) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

fn run(bin: &Path, root: bool, program: &str, args: impl FnOnce(&mut Command)) {
    let mut command = command(bin, root, program);
    args(&mut command);
    let out = command.output().expect(program);
    assert!(
        out.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
