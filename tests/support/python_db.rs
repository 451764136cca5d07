//! The Python service's databases, built by the import tests from the
//! column lists of issue 19 (`infra/python-service/*.sql`): SQLite files of
//! both shapes, and a real PostgreSQL server started on loopback
//! ([`Postgres`]), plain or requiring TLS with a certificate made for it
//! ([`Postgres::start_tls`]).

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

/// The tables of `shape`, as DDL both SQLite and PostgreSQL take: the
/// committed files under `infra/python-service/`, which `make demo` builds
/// its database from too.
pub fn schema(shape: Shape) -> String {
    match shape {
        Shape::Early => include_str!("../../infra/python-service/early.sql"),
        Shape::Later => include_str!("../../infra/python-service/later.sql"),
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
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (with the password
    /// when started with TLS).
    pub url: String,
    /// The TCP port.
    pub port: u16,
    /// With TLS: the server's self-signed certificate (PEM, names
    /// `localhost`), its own root.
    pub cert: Option<PathBuf>,
    /// With TLS: the `postgres` user's password.
    pub password: Option<String>,
    /// Where [`Postgres::client`] connects: the URL, or with TLS the Unix
    /// socket (trusted; TCP there takes TLS only).
    admin: String,
}

/// Where the server's programs are: on `PATH`'s usual places, or in
/// Debian's versioned folder (`/usr/lib/postgresql/<major>/bin`), newest
/// first.
fn postgres_bin() -> Option<PathBuf> {
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| Some(d.ok()?.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versioned.sort();
    versioned.reverse();
    ["/usr/local/bin", "/usr/bin"]
        .iter()
        .map(PathBuf::from)
        .chain(versioned)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

impl Postgres {
    /// Starts one; `None` (with the reason on stderr) if the machine has
    /// no `initdb`, except under CI (`CI` set), where `make test`'s
    /// bootstrap installs PostgreSQL: there a missing server fails the test
    /// rather than skip it.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// Starts one that takes TCP connections over TLS only (`hostssl` with
    /// SCRAM, `hostnossl` rejected), with a self-signed certificate for
    /// `localhost` made by `openssl` (its key owned by the server's user,
    /// mode 0600); `None` as [`Postgres::start`].
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no PostgreSQL (initdb, pg_ctl) on this machine: infra/scripts/bootstrap.sh installs it"
            );
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
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let cert = tls.then(|| {
            let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
            let out = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args(["-subj", "/CN=localhost", "-days", "1"])
                .args(["-addext", "subjectAltName=DNS:localhost"])
                .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                .args(["-addext", "extendedKeyUsage=serverAuth"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl req: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if root {
                let status = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&key)
                    .arg(&cert)
                    .status()
                    .expect("chown");
                assert!(status.success(), "chown the key");
            }
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .expect("pg_hba.conf");
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            ));
            cert
        });
        run(&bin, root, "pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(&options)
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "start"]);
        });
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let mut server = Self {
            admin: url.clone(),
            url,
            port,
            cert,
            password: None,
            dir,
            bin,
        };
        if tls {
            server.admin = format!(
                "host={} port={port} user=postgres dbname=postgres",
                server.dir.display()
            );
            let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
            server.url = format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
            server.password = Some(password);
        }
        Some(server)
    }

    /// A client of the server's `postgres` database (with TLS: over the
    /// Unix socket, the password set first).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.admin, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(connection);
        if let Some(password) = &self.password {
            client
                .batch_execute(&format!(
                    "ALTER USER postgres PASSWORD {}",
                    lit(Some(password))
                ))
                .await
                .expect("the password");
        }
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
