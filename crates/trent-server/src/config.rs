//! Configuration: command-line flags, then `TRENT_*` environment variables, then the TOML file
//! named by `--config`/`TRENT_CONFIG`, then defaults, in that order of precedence. With no
//! credentials configured, exactly one development credential is active, and startup says so.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use serde::Deserialize;
use trent_core::{AccountId, Identity, Principal};
pub use trent_store::postgres::redact;
use trent_store::postgres::{is_postgres_url, PgOptions};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "./trent-data";
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 20;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
pub const DEV_ACCESS_KEY: &str = "test";
pub const DEV_SECRET_KEY: &str = "test";
pub const DEV_ACCOUNT: &str = "000000000000";

/// The SQLite file in the data directory when no database URL is given.
pub const SQLITE_FILE: &str = "trent.db";
/// The default coherence bound across nodes.
pub const DEFAULT_COHERENCE: Duration = Duration::from_secs(1);

/// Where the keys live.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// The embedded store: this SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database several nodes may share.
    Postgres {
        options: PgOptions,
        /// A change committed on any node is seen by this one within this bound.
        coherence: Duration,
    },
}

/// `trent serve` flags (each also readable from its environment variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:4599]
    #[arg(long, env = "TRENT_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the embedded store and the root key [default: ./trent-data]
    #[arg(long, env = "TRENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file (credentials and the settings below)
    #[arg(long, env = "TRENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds between runs of the scheduled-deletion sweeper [default: 5]
    #[arg(long, env = "TRENT_SWEEP_INTERVAL_SECS")]
    pub sweep_interval_secs: Option<u64>,
    /// Region of Alibaba Cloud requests that name none [default: cn-hangzhou]
    #[arg(long, env = "TRENT_ALIYUN_REGION")]
    pub aliyun_region: Option<String>,
    /// Seed file: keys, aliases and material applied at every start
    #[arg(long, env = "TRENT_SEED")]
    pub seed: Option<PathBuf>,
    /// Serve /metrics and /health on this address instead of the KMS port
    #[arg(long, env = "TRENT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Connections served at once; more wait until one closes [default: the open-file limit
    /// minus 128, at most 4096]
    #[arg(long, env = "TRENT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may take to deliver a request's headers, counted from its start or
    /// the end of the previous response, or to take any bytes of a response: closes idle
    /// keep-alive connections and stalled clients [default: 20]
    #[arg(long, env = "TRENT_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds shutdown waits for in-flight requests before closing every connection
    /// [default: 10]
    #[arg(long, env = "TRENT_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// The database: postgres://… or postgresql://… for PostgreSQL (several nodes may share
    /// it), sqlite://PATH for an SQLite file [default: trent.db in the data directory]
    #[arg(long, env = "TRENT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL connections per node [default: 16]
    #[arg(long, env = "TRENT_DB_POOL_SIZE")]
    pub db_pool_size: Option<usize>,
    /// PostgreSQL: how long a request waits for the database before failing [default: 5000]
    #[arg(long, env = "TRENT_DB_TIMEOUT_MS")]
    pub db_timeout_ms: Option<u64>,
    /// PostgreSQL: how long opening a connection may take [default: 3000]
    #[arg(long, env = "TRENT_DB_CONNECT_TIMEOUT_MS")]
    pub db_connect_timeout_ms: Option<u64>,
    /// PostgreSQL: a change committed on any node is seen by this one within this many
    /// milliseconds [default: 1000]
    #[arg(long, env = "TRENT_COHERENCE_MS")]
    pub coherence_ms: Option<u64>,
    /// FOR TESTS ONLY: serve `POST /_trent/test/advance-clock?seconds=N`, which moves this
    /// server's clock forward. Never enable in production.
    #[arg(long, env = "TRENT_TEST_CLOCK", hide = true)]
    pub test_clock: bool,
    /// Turn the audit trail off (it is on by default)
    #[arg(long, env = "TRENT_NO_AUDIT")]
    pub no_audit: bool,
    /// Append every committed audit record to FILE as one JSON line
    #[arg(long, env = "TRENT_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Days audit records are kept before the sweeper prunes them [default: 90]
    #[arg(long, env = "TRENT_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
    /// PEM certificate chain to serve HTTPS with (needs --tls-key; re-read on SIGHUP)
    #[arg(long, env = "TRENT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, env = "TRENT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// One access key (its `Debug` shows no secret).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    /// The IAM principal the key acts as (`arn:aws:iam::<account>:user/<name>`, `…:role/<name>`
    /// or `…:root`); the account root when absent.
    #[serde(default)]
    pub principal: Option<String>,
    /// A temporary credential's session token (what an SDK sends as `X-Amz-Security-Token`):
    /// when set, every request signed with this key must carry it; when absent, a request that
    /// carries any token is refused (UnrecognizedClientException), as AWS refuses a token it
    /// did not issue. Such a credential is for AWS's dialect only.
    #[serde(default)]
    pub session_token: Option<String>,
    /// The principal's identity (IAM) policy, as JSON text.
    #[serde(default)]
    pub policy: Option<String>,
    /// The same, from a file; a relative path is relative to the config file. Read into
    /// `policy` by [`Config::resolve`].
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
}

impl std::fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("account_id", &self.account_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl CredentialConfig {
    /// A root credential of `account_id`.
    pub fn root(access_key_id: &str, secret_access_key: &str, account_id: &str) -> Self {
        CredentialConfig {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            account_id: account_id.into(),
            principal: None,
            session_token: None,
            policy: None,
            policy_file: None,
        }
    }

    /// Who the credential acts as; the error names the credential.
    pub fn identity(&self) -> Result<Identity, String> {
        let named = |e: String| format!("credential {}: {e}", self.access_key_id);
        let principal = match &self.principal {
            None => Principal::root(&self.account_id),
            Some(p) => Principal::parse(p, &self.account_id, &self.access_key_id).map_err(named)?,
        };
        Identity::new(principal, self.policy.as_deref()).map_err(named)
    }
}

/// The TOML file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub sweep_interval_secs: Option<u64>,
    pub aliyun_region: Option<String>,
    pub metrics_listen: Option<String>,
    pub seed: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    /// The audit trail (default true).
    pub audit: Option<bool>,
    pub audit_log: Option<PathBuf>,
    pub audit_retention_days: Option<u32>,
    /// Records a LookupEvents by ReadOnly, EventSource or ResourceType examines per call.
    pub audit_lookup_scan: Option<usize>,
    pub database_url: Option<String>,
    pub db_pool_size: Option<usize>,
    pub db_timeout_ms: Option<u64>,
    pub db_connect_timeout_ms: Option<u64>,
    pub coherence_ms: Option<u64>,
    /// Relative paths are taken from the config file's directory.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub sweep_interval_secs: u64,
    /// The region of Alibaba Cloud requests that name none: the current Alibaba SDK signs no
    /// region, and keys live per account and region.
    pub aliyun_region: String,
    /// Where /metrics and /health are served when not on the KMS port.
    pub metrics_listen: Option<SocketAddr>,
    /// The seed file applied at startup.
    pub seed: Option<PathBuf>,
    pub database: Database,
    pub credentials: Vec<CredentialConfig>,
    /// `None`: derived from the open-file limit at startup.
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    /// True when no credentials were configured and the development credential is in use.
    pub dev_credential: bool,
    pub test_clock: bool,
    /// Whether every request is recorded in the audit trail.
    pub audit: bool,
    /// The JSON-lines sink of committed audit records.
    pub audit_log: Option<PathBuf>,
    pub audit_retention_days: u32,
    /// Records a LookupEvents by ReadOnly, EventSource or ResourceType examines per call (its
    /// page is short, with a NextToken, when they hold fewer matches than a page).
    pub audit_lookup_scan: usize,
    /// The certificate chain and key to serve HTTPS with; None serves plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// The account of seed entries that name none: the only configured account (the
    /// development one when none is configured); `None` when there are several.
    pub fn seed_default_account(&self) -> Option<&str> {
        let first = &self.credentials.first()?.account_id;
        self.credentials
            .iter()
            .all(|c| &c.account_id == first)
            .then_some(first.as_str())
    }

    pub fn resolve(args: ServeArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                let mut file = toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
                let base = path.parent().unwrap_or(std::path::Path::new("."));
                for p in [&mut file.tls_cert, &mut file.tls_key]
                    .into_iter()
                    .flatten()
                {
                    *p = base.join(&*p);
                }
                file
            }
            None => FileConfig::default(),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(
                    "TLS needs both a certificate (--tls-cert) and its key (--tls-key)".into(),
                )
            }
        };
        let listen_text = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text
            .parse()
            .map_err(|e| format!("invalid listen address {listen_text:?}: {e}"))?;
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let sweep_interval_secs = args
            .sweep_interval_secs
            .or(file.sweep_interval_secs)
            .unwrap_or(5)
            .max(1);
        let aliyun_region = args
            .aliyun_region
            .or(file.aliyun_region)
            .unwrap_or_else(|| trent_aliyun::DEFAULT_REGION.to_owned());
        if aliyun_region.is_empty()
            || !aliyun_region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("invalid aliyun_region {aliyun_region:?}"));
        }
        let metrics_listen = args
            .metrics_listen
            .or(file.metrics_listen)
            .map(|text| {
                text.parse()
                    .map_err(|e| format!("invalid metrics listen address {text:?}: {e}"))
            })
            .transpose()?;
        let max_connections = args.max_connections.or(file.max_connections);
        if max_connections == Some(0) {
            return Err("max_connections must be at least 1".into());
        }
        let header_read_timeout_secs = args
            .header_read_timeout_secs
            .or(file.header_read_timeout_secs)
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_SECS)
            .max(1);
        let shutdown_grace_secs = args
            .shutdown_grace_secs
            .or(file.shutdown_grace_secs)
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
        let database = match args.database_url.or(file.database_url) {
            None => Database::Sqlite(data_dir.join(SQLITE_FILE)),
            Some(url) if is_postgres_url(&url) => {
                let ms = |v: Option<u64>, d: Duration| v.map(Duration::from_millis).unwrap_or(d);
                let mut pg = PgOptions::new(url);
                pg.pool_size = args
                    .db_pool_size
                    .or(file.db_pool_size)
                    .unwrap_or(PgOptions::DEFAULT_POOL_SIZE)
                    .max(2);
                pg.request_timeout = ms(
                    args.db_timeout_ms.or(file.db_timeout_ms),
                    PgOptions::DEFAULT_REQUEST_TIMEOUT,
                );
                pg.connect_timeout = ms(
                    args.db_connect_timeout_ms.or(file.db_connect_timeout_ms),
                    PgOptions::DEFAULT_CONNECT_TIMEOUT,
                );
                let coherence = ms(args.coherence_ms.or(file.coherence_ms), DEFAULT_COHERENCE);
                if pg.request_timeout.is_zero()
                    || pg.connect_timeout.is_zero()
                    || coherence.is_zero()
                {
                    return Err("database timeouts and the coherence bound must be above 0".into());
                }
                Database::Postgres {
                    options: pg,
                    coherence,
                }
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) if !path.is_empty() => Database::Sqlite(PathBuf::from(path)),
                _ => {
                    return Err(format!(
                    "invalid database URL {:?}: use postgres://…, postgresql://… or sqlite://PATH",
                    redact(&url)
                ))
                }
            },
        };
        let dev_credential = file.credentials.is_empty();
        let credentials = if dev_credential {
            vec![CredentialConfig::root(
                DEV_ACCESS_KEY,
                DEV_SECRET_KEY,
                DEV_ACCOUNT,
            )]
        } else {
            file.credentials
        };
        let config_dir = args
            .config
            .as_deref()
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .unwrap_or_default();
        let mut credentials = credentials;
        for c in &mut credentials {
            if let Some(file) = c.policy_file.take() {
                if c.policy.is_some() {
                    return Err(format!(
                        "credential {}: give policy or policy_file, not both",
                        c.access_key_id
                    ));
                }
                let path = config_dir.join(file);
                c.policy = Some(std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "credential {}: cannot read policy_file {}: {e}",
                        c.access_key_id,
                        path.display()
                    )
                })?);
            }
        }
        for c in &credentials {
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                return Err(
                    "every credential needs a non-empty access_key_id and secret_access_key".into(),
                );
            }
            if AccountId::parse(&c.account_id).is_none() {
                return Err(format!(
                    "credential {}: account_id must be 12 digits (an AWS account, usable by both APIs) or 16 (an Alibaba Cloud uid, usable by the Alibaba API only)",
                    c.access_key_id
                ));
            }
            c.identity()?;
        }
        Ok(Config {
            listen,
            data_dir,
            sweep_interval_secs,
            aliyun_region,
            metrics_listen,
            seed: args.seed.or(file.seed),
            database,
            credentials,
            max_connections,
            header_read_timeout_secs,
            shutdown_grace_secs,
            dev_credential,
            test_clock: args.test_clock,
            audit: !args.no_audit && file.audit.unwrap_or(true),
            audit_log: args.audit_log.or(file.audit_log),
            audit_retention_days: args
                .audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(crate::audit::DEFAULT_RETENTION_DAYS)
                .max(1),
            audit_lookup_scan: file
                .audit_lookup_scan
                .unwrap_or(trent_core::audit::DEFAULT_LOOKUP_SCAN)
                .max(1),
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_the_development_credential() {
        let c = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(c.dev_credential);
        assert_eq!(c.credentials[0].account_id, DEV_ACCOUNT);
    }

    #[test]
    fn file_credentials_replace_the_development_one_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\n[[credentials]]\naccess_key_id = \"AKIAEXAMPLE\"\nsecret_access_key = \"s\"\naccount_id = \"111122223333\"\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:2");
        assert!(!c.dev_credential);
        assert_eq!(c.credentials.len(), 1);
        assert_eq!(c.credentials[0].access_key_id, "AKIAEXAMPLE");
    }

    #[test]
    fn a_configuration_printed_shows_no_secret() {
        let c = Config::resolve(ServeArgs {
            database_url: Some("postgres://db/kms?user=trent&password=s3cret".into()),
            ..Default::default()
        })
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains(DEV_ACCOUNT), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("secret_access_key: \"test\""), "{shown}");
    }

    #[test]
    fn database_urls_select_the_backend() {
        let with = |url: &str| {
            Config::resolve(ServeArgs {
                database_url: Some(url.into()),
                data_dir: Some("/d".into()),
                db_pool_size: Some(4),
                coherence_ms: Some(250),
                ..Default::default()
            })
        };
        assert_eq!(
            Config::resolve(ServeArgs {
                data_dir: Some("/d".into()),
                ..Default::default()
            })
            .unwrap()
            .database,
            Database::Sqlite("/d/trent.db".into())
        );
        assert_eq!(
            with("sqlite:///var/lib/t.db").unwrap().database,
            Database::Sqlite("/var/lib/t.db".into())
        );
        for url in ["postgres://u@h/db", "postgresql://u:p@h:5433/db"] {
            match with(url).unwrap().database {
                Database::Postgres { options, coherence } => {
                    assert_eq!(options.url, url);
                    assert_eq!(options.pool_size, 4);
                    assert_eq!(options.request_timeout, PgOptions::DEFAULT_REQUEST_TIMEOUT);
                    assert_eq!(coherence, Duration::from_millis(250));
                }
                other => panic!("{other:?}"),
            }
        }
        let err = with("mysql://u:secret@h/db").unwrap_err();
        assert!(err.contains("mysql://u:***@h/db"), "{err}");
        assert!(with("sqlite://").is_err());
    }

    #[test]
    fn tls_needs_both_files_and_file_paths_are_relative_to_the_config() {
        assert!(Config::resolve(ServeArgs {
            tls_cert: Some("cert.pem".into()),
            ..Default::default()
        })
        .is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(
            &path,
            "tls_cert = \"certs/cert.pem\"\ntls_key = \"/abs/key.pem\"\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, dir.path().join("certs/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/abs/key.pem"));
    }

    #[test]
    fn bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(&path, "[[credentials]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\naccount_id = \"12\"\n").unwrap();
        assert!(Config::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .is_err());
        // 16 digits is an Alibaba uid and is accepted; 13 is neither vendor's.
        std::fs::write(&path, "[[credentials]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\naccount_id = \"1234567890123456\"\n").unwrap();
        assert!(Config::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .is_ok());
        std::fs::write(&path, "[[credentials]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\naccount_id = \"1234567890123\"\n").unwrap();
        assert!(Config::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .is_err());
        std::fs::write(&path, "nonsense = 1\n").unwrap();
        assert!(Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn principals_and_policy_files_are_resolved_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/alice.json"),
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}",
        )
        .unwrap();
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::resolve(ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            })
        };
        let c = resolve("[[credentials]]\naccess_key_id = \"AKIDALICE\"\nsecret_access_key = \"s\"\naccount_id = \"111122223333\"\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\npolicy_file = \"policies/alice.json\"\n").unwrap();
        assert!(c.credentials[0]
            .policy
            .as_deref()
            .unwrap()
            .contains("2012-10-17"));
        assert_eq!(
            c.credentials[0].identity().unwrap().principal.arn(),
            "arn:aws:iam::111122223333:user/alice"
        );
        // Another account's principal, a missing policy file, a principal on an Alibaba uid.
        for bad in [
            "principal = \"arn:aws:iam::999999999999:user/alice\"\naccount_id = \"111122223333\"",
            "policy_file = \"policies/none.json\"\naccount_id = \"111122223333\"",
            "policy = \"{}\"\naccount_id = \"111122223333\"",
            "principal = \"arn:aws:iam::1234567890123456:user/a\"\naccount_id = \"1234567890123456\"",
        ] {
            let e = resolve(&format!("[[credentials]]\naccess_key_id = \"AKIDBAD\"\nsecret_access_key = \"s\"\n{bad}\n")).unwrap_err();
            assert!(e.contains("credential AKIDBAD"), "{e}");
        }
    }
}
