//! Test harness: the real `trent` binary on a free port with a temporary data directory,
//! driven by the official `aws-sdk-kms` client.
#![allow(dead_code)]

pub mod byok;
mod kms;

#[allow(unused_imports)]
pub use kms::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub use trent_store::postgres::testing::TestDatabase;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    /// Where the server's stderr (its log) goes; inherited when `None`.
    pub log_file: Option<PathBuf>,
    /// The separate /metrics and /health address, with `--metrics-listen`.
    pub metrics_url: Option<String>,
    /// The server's own PostgreSQL database when the tests run on PostgreSQL.
    pub database: Option<Arc<TestDatabase>>,
    /// `TRENT_ROOT_KEY` for the process (nodes of one database share it).
    root_key: Option<String>,
}

/// `TRENT_TEST_BACKEND=postgres` runs the servers of these tests on PostgreSQL, each on a
/// database of its own (see `trent_store::postgres::testing`); unset or `sqlite`, on SQLite.
pub fn on_postgres() -> bool {
    match std::env::var("TRENT_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("TRENT_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

impl Server {
    /// Starts a server on a fresh data directory with the test clock enabled.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Self {
        Self::start_on(extra_args, on_postgres())
    }

    /// Starts a server on SQLite whatever `TRENT_TEST_BACKEND` says.
    pub fn start_sqlite() -> Self {
        Self::start_on(&[], false)
    }

    fn start_on(extra_args: &[&str], postgres: bool) -> Self {
        let mut s = Self::unstarted_on(extra_args, postgres);
        s.spawn();
        s
    }

    /// A server not started yet, on a fresh data directory: set `log_file` or environment
    /// variables, then [`Server::spawn`].
    pub fn unstarted(extra_args: &[&str]) -> Self {
        Self::unstarted_on(extra_args, on_postgres())
    }

    fn unstarted_on(extra_args: &[&str], postgres: bool) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        Self {
            child: None,
            url: String::new(),
            data_dir,
            _tmp: Some(tmp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            extra_env: Vec::new(),
            log_file: None,
            metrics_url: None,
            database: postgres.then(|| Arc::new(TestDatabase::create())),
            root_key: None,
        }
    }

    /// A server on an existing data directory (not removed on drop), not started yet. Always
    /// SQLite: the data directory is the store.
    pub fn unstarted_in(data_dir: &Path, extra_args: &[&str]) -> Self {
        let mut s = Self::unstarted_on(extra_args, false);
        s.data_dir = data_dir.to_owned();
        s._tmp = None;
        s
    }

    /// Starts one node of several sharing `database` (and so the root key `root_key`).
    pub fn node(database: &Arc<TestDatabase>, root_key: &str, extra_args: &[&str]) -> Self {
        let mut s = Self::unstarted_on(extra_args, false);
        s.database = Some(database.clone());
        s.root_key = Some(root_key.to_owned());
        s.spawn();
        s
    }

    /// Sets an environment variable for the next [`Server::spawn`].
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The temporary directory the data directory lives in.
    pub fn tmp_dir(&self) -> &Path {
        self.data_dir.parent().expect("data dir has a parent")
    }

    /// Starts the server process (again, after [`Server::kill9`]) on the same data directory.
    pub fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trent"));
        if let Some(key) = &self.root_key {
            command.env("TRENT_ROOT_KEY", key);
        } else {
            command.env_remove("TRENT_ROOT_KEY");
        }
        let mut child = command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--test-clock")
            .args(&self.extra_args)
            .args(
                self.database
                    .iter()
                    .flat_map(|db| ["--database-url".to_owned(), db.url().to_owned()]),
            )
            .env_remove("TRENT_CONFIG")
            .env_remove("TRENT_DATABASE_URL")
            .env("TRENT_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(match &self.log_file {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start trent");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read listening line");
            let line = line.trim();
            if let Some(url) = line.strip_prefix("metrics on ") {
                self.metrics_url = Some(url.to_owned());
            } else if let Some(url) = line.strip_prefix("listening on ") {
                self.url = url.to_owned();
                break;
            } else {
                panic!("unexpected line from trent: {line:?} (did it fail to start?)");
            }
        }
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        false
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn client(&self) -> aws_sdk_kms::Client {
        self.client_for(REGION, "test", "test")
    }

    pub fn client_for(&self, region: &str, access_key: &str, secret: &str) -> aws_sdk_kms::Client {
        self.client_with_token(region, access_key, secret, None)
    }

    /// A client whose credential carries `session_token` (sent as `X-Amz-Security-Token`).
    pub fn client_with_token(
        &self,
        region: &str,
        access_key: &str,
        secret: &str,
        session_token: Option<&str>,
    ) -> aws_sdk_kms::Client {
        let token = session_token.map(str::to_owned);
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(access_key, secret, token, None, "test"))
            .endpoint_url(&self.url)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    /// Moves the server's key clock forward.
    pub async fn advance_clock(&self, seconds: i64) {
        let resp = reqwest::Client::new()
            .post(format!(
                "{}/_trent/test/advance-clock?seconds={seconds}",
                self.url
            ))
            .send()
            .await
            .expect("advance clock");
        assert!(resp.status().is_success());
    }

    /// How many rows a table of the server's store holds, whichever the backend.
    pub fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.database {
            Some(db) => db
                .query_text(&sql)
                .expect("query the test database")
                .and_then(|n| n.parse().ok())
                .expect("a count"),
            None => rusqlite::Connection::open(self.db_path())
                .unwrap()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap(),
        }
    }

    /// Every audit record's text, oldest first, whichever the backend.
    pub fn audit_bodies(&self) -> Vec<String> {
        match &self.database {
            Some(db) => db
                .query_text(
                    "SELECT string_agg(body, chr(30) ORDER BY account, seq) FROM audit_events",
                )
                .expect("query the test database")
                .map(|all| all.split('\u{1e}').map(str::to_owned).collect())
                .unwrap_or_default(),
            None => rusqlite::Connection::open(self.db_path())
                .unwrap()
                .prepare("SELECT body FROM audit_events ORDER BY account, seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
        }
    }

    /// The server process's id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("trent.db")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Starts a server and returns it with its client. Keep the server bound (`_server` where the
/// test does not use it otherwise): dropping it stops the process.
pub fn start() -> (Server, aws_sdk_kms::Client) {
    let server = Server::start();
    let kms = server.client();
    (server, kms)
}

/// Starts a server with `config` as its TOML configuration file (credentials, principals,
/// identity policies); the returned directory holds the file and must outlive the server.
pub fn start_with_config(config: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trent.toml");
    std::fs::write(&path, config).expect("write config");
    let server = Server::start_with(&["--config", path.to_str().expect("utf-8 path")]);
    (server, dir)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Seconds since the Unix epoch, by the wall clock (the server's test clock starts there).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The `__type` code of an SDK error, whatever the operation.
pub fn code<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_kms::error::SdkError::ServiceError(e) => {
            e.err().code().unwrap_or("<none>").to_owned()
        }
        other => format!("<not a service error: {other:?}>"),
    }
}

/// The HTTP status of an SDK service error.
pub fn status<E>(
    err: &aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> u16 {
    match err {
        aws_sdk_kms::error::SdkError::ServiceError(e) => e.raw().status().as_u16(),
        _ => 0,
    }
}

/// Asserts a result is an error with the given code.
#[macro_export]
macro_rules! assert_code {
    ($result:expr, $code:expr) => {{
        match $result {
            Ok(_) => panic!("expected {} but the call succeeded", $code),
            Err(e) => assert_eq!(common::code(&e), $code, "{e:?}"),
        }
    }};
}

/// Asserts a result is an error with the given code; evaluates to the error's message.
#[macro_export]
macro_rules! error_message {
    ($result:expr, $code:expr) => {{
        match $result {
            Ok(_) => panic!("expected {} but the call succeeded", $code),
            Err(e) => {
                assert_eq!(common::code(&e), $code, "{e:?}");
                e.into_service_error()
                    .meta()
                    .message()
                    .expect("an error message")
                    .to_owned()
            }
        }
    }};
}
