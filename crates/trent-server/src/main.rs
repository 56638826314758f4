//! `trent`: the Trent key management server.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use trent_core::clock::{Clock, OffsetClock, SystemClock};
use trent_core::engine::Kms;
use trent_server::config::{Config, ServeArgs};
use trent_server::{app, rootkey, AppState, Credentials};

#[derive(Debug, Parser)]
#[command(
    name = "trent",
    version,
    about = "A self-hosted, AWS KMS-compatible key management service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server on the embedded store.
    Serve(ServeArgs),
    /// Write a local CA and a server certificate for localhost/127.0.0.1/::1 (development only)
    DevCert {
        /// Directory for ca.pem, cert.pem and key.pem
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::DevCert { out } => dev_cert(&out),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dev_cert(out: &std::path::Path) -> Result<(), String> {
    let files = trent_server::tls::dev_cert(out)?;
    println!(
        "wrote {} (trust this CA), {} and {} (serve with --tls-cert/--tls-key)",
        files.ca.display(),
        files.cert.display(),
        files.key.display()
    );
    println!(
        "  trent serve --tls-cert {} --tls-key {}",
        files.cert.display(),
        files.key.display()
    );
    println!(
        "  aws --endpoint-url https://localhost:4599 --ca-bundle {} kms list-keys",
        files.ca.display()
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = Config::resolve(args)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let (root, source) = rootkey::load(&config.data_dir)?;
    tracing::info!(source = ?source, "root key loaded");
    let db = config.data_dir.join("trent.db");
    let store = trent_store::sqlite::SqliteStore::open(&db)
        .map_err(|e| format!("cannot open store {}: {e}", db.display()))?;
    let (clock, test_clock): (Arc<dyn Clock>, _) = if config.test_clock {
        tracing::warn!("TEST CLOCK ENABLED: POST /_trent/test/advance-clock moves time. Never use this in production.");
        let c = Arc::new(OffsetClock::default());
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock), None)
    };
    let kms = Arc::new(Kms::new(Arc::new(store), root, clock));
    if config.dev_credential {
        tracing::warn!(
            "no credentials configured: the development credential is active (access key \"test\", secret \"test\", account 000000000000)"
        );
    }
    let state = Arc::new(AppState {
        kms: kms.clone(),
        credentials: Credentials::new(&config.credentials),
        verifier: Default::default(),
        aliyun_verifier: Default::default(),
        aliyun_region: config.aliyun_region.clone(),
        test_clock,
    });
    let tls = config
        .tls
        .as_ref()
        .map(|f| trent_server::tls::Tls::load(&f.cert, &f.key))
        .transpose()?;
    if tls.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.listen,
            "LISTENING WITHOUT TLS ON A NON-LOOPBACK ADDRESS: requests and answers, which carry plaintext and data keys, cross the network unencrypted; serve with --tls-cert/--tls-key"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(sweeper(
            kms,
            Duration::from_secs(config.sweep_interval_secs),
        ));
        if let Some(tls) = &tls {
            // Before the listening line, so that a SIGHUP after it never meets the default
            // disposition (terminate).
            tls.reload_on_sighup();
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(data_dir = %config.data_dir.display(), "trent listening on {scheme}://{addr}");
        // A machine-readable line for scripts and tests that start us on port 0.
        println!("listening on {scheme}://{addr}");
        match tls {
            Some(tls) => {
                axum::serve(trent_server::tls::TlsListener::new(listener, tls), app(state))
                    .with_graceful_shutdown(shutdown_signal())
                    .await
            }
            None => {
                axum::serve(listener, app(state))
                    .with_graceful_shutdown(shutdown_signal())
                    .await
            }
        }
        .map_err(|e| format!("server error: {e}"))?;
        tracing::info!("shut down cleanly");
        Ok(())
    })
}

/// Destroys keys whose deletion date has passed. Access already treats them as gone; this
/// removes their material from the store.
async fn sweeper(kms: Arc<Kms>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let kms = kms.clone();
        match tokio::task::spawn_blocking(move || kms.sweep(1000)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(keys = n, "destroyed keys past their deletion date"),
            Ok(Err(e)) => tracing::error!(cause = %e, "deletion sweep failed"),
            Err(e) => tracing::error!(cause = %e, "deletion sweep panicked"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
