//! Throw-away databases for tests: each test gets a database of its own on the server that
//! `TRENT_TEST_DATABASE_URL` names (default [`DEFAULT_SERVER`]), dropped when it ends.
//! When no server answers, creating one fails with a message saying how to provide one: the
//! PostgreSQL tests never skip silently.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

pub const ENV_VAR: &str = "TRENT_TEST_DATABASE_URL";
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test and dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin: tokio_postgres::Config,
    name: String,
    url: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}

/// The server tests run against.
pub fn server_url() -> String {
    std::env::var(ENV_VAR).unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// Runs `sql` on the admin database, in a thread of its own (tests may call this from
/// inside a runtime).
fn admin(config: &tokio_postgres::Config, sql: String) -> Result<(), String> {
    let config = config.clone();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let (client, conn) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
            let task = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .unwrap_or_else(|_| Err("admin thread panicked".into()))
}

impl TestDatabase {
    /// Creates a fresh, empty database. Panics, saying how to provide a server, when none
    /// answers.
    pub fn create() -> TestDatabase {
        static N: AtomicU64 = AtomicU64::new(0);
        let server = server_url();
        let mut admin_config: tokio_postgres::Config = server
            .parse()
            .unwrap_or_else(|e| panic!("{ENV_VAR}={server:?} is not a PostgreSQL URL: {e}"));
        admin_config.connect_timeout(std::time::Duration::from_secs(5));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "trent_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = admin(&admin_config, format!("CREATE DATABASE {name}")) {
            panic!(
                "PostgreSQL tests need a server they may create databases on, and {server} \
                 did not serve ({e}). Start one (e.g. `service postgresql start`, trust \
                 authentication for 127.0.0.1) or point {ENV_VAR} at one: \
                 {ENV_VAR}=postgres://USER[:PASSWORD]@HOST:PORT/postgres"
            );
        }
        let url = match server.rfind('/') {
            Some(i) if server[..i].contains("://") && server[..i].matches('/').count() >= 2 => {
                let (base, rest) = server.split_at(i);
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{base}/{name}{query}")
            }
            _ => format!("{}/{name}", server.trim_end_matches('/')),
        };
        TestDatabase {
            admin: admin_config,
            name,
            url,
        }
    }

    /// The URL of the test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first column of the first row of `sql`, as text, run on the test's own database.
    pub fn query_text(&self, sql: &str) -> Result<Option<String>, String> {
        let url = self.url.clone();
        let sql = sql.to_owned();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                let task = tokio::spawn(conn);
                let rows = client.simple_query(&sql).await.map_err(|e| e.to_string());
                drop(client);
                let _ = task.await;
                Ok(rows?.into_iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                }))
            })
        })
        .join()
        .unwrap_or_else(|_| Err("query thread panicked".into()))
    }

    /// Runs SQL on the server's admin database (e.g. `pg_terminate_backend`).
    pub fn admin(&self, sql: &str) -> Result<(), String> {
        admin(&self.admin, sql.to_owned())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(
            &self.admin,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// The schema's migrations up to (not including) version `version`, as one script that also
/// records that version: a database as an older release left it.
pub fn schema_at(version: usize) -> String {
    let mut sql = super::schema::MIGRATIONS[..version].join(";\n");
    sql.push_str(&format!(
        ";\nCREATE TABLE trent_schema (
             one     boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
             version integer NOT NULL
         );
         INSERT INTO trent_schema (one, version) VALUES (true, {version});"
    ));
    sql
}
