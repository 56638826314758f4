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
use std::time::Duration;

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
}

impl Server {
    /// Starts a server on a fresh data directory with the test clock enabled.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut s = Server {
            child: None,
            url: String::new(),
            data_dir,
            _tmp: Some(tmp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    /// Starts the server process (again, after [`Server::kill9`]) on the same data directory.
    pub fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--test-clock")
            .args(&self.extra_args)
            .env_remove("TRENT_ROOT_KEY")
            .env_remove("TRENT_CONFIG")
            .env("TRENT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start trent");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from trent: {line:?}"))
            .to_owned();
        self.url = url;
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
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
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
