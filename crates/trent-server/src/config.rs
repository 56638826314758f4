//! Configuration: command-line flags, then `TRENT_*` environment variables, then the TOML file
//! named by `--config`/`TRENT_CONFIG`, then defaults, in that order of precedence. With no
//! credentials configured, exactly one development credential is active, and startup says so.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use trent_core::AccountId;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "./trent-data";
pub const DEV_ACCESS_KEY: &str = "test";
pub const DEV_SECRET_KEY: &str = "test";
pub const DEV_ACCOUNT: &str = "000000000000";

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
    /// FOR TESTS ONLY: serve `POST /_trent/test/advance-clock?seconds=N`, which moves this
    /// server's clock forward. Never enable in production.
    #[arg(long, env = "TRENT_TEST_CLOCK", hide = true)]
    pub test_clock: bool,
    /// PEM certificate chain to serve HTTPS with (needs --tls-key; re-read on SIGHUP)
    #[arg(long, env = "TRENT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, env = "TRENT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// One access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

/// The TOML file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub sweep_interval_secs: Option<u64>,
    pub aliyun_region: Option<String>,
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
    pub credentials: Vec<CredentialConfig>,
    /// True when no credentials were configured and the development credential is in use.
    pub dev_credential: bool,
    pub test_clock: bool,
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
        let dev_credential = file.credentials.is_empty();
        let credentials = if dev_credential {
            vec![CredentialConfig {
                access_key_id: DEV_ACCESS_KEY.into(),
                secret_access_key: DEV_SECRET_KEY.into(),
                account_id: DEV_ACCOUNT.into(),
            }]
        } else {
            file.credentials
        };
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
        }
        Ok(Config {
            listen,
            data_dir,
            sweep_interval_secs,
            aliyun_region,
            credentials,
            dev_credential,
            test_clock: args.test_clock,
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
}
