//! `trent`: the Trent key management server.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use trent_core::clock::{Clock, OffsetClock, SystemClock};
use trent_core::engine::Kms;
use trent_server::config::{Config, ServeArgs};
use trent_server::datadir::{self, DataDir};
use trent_server::logging::{self, LogFormat};
use trent_server::metrics::{self, MeteredStore, Metrics, StoreMetrics};
use trent_server::{
    admin, app, dialect_operations, listener, rootkey, seed, AppState, Credentials,
};

#[derive(Debug, Parser)]
#[command(
    name = "trent",
    version,
    about = "A self-hosted, AWS KMS-compatible key management service"
)]
struct Cli {
    /// Log format
    #[arg(
        long,
        global = true,
        env = "TRENT_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server on the embedded store.
    Serve(ServeArgs),
    /// Seed files: keys with fixed ids, aliases and material.
    #[command(subcommand)]
    Seed(SeedCommand),
    /// Write a consistent snapshot of the store, also while the server runs.
    Backup(admin::BackupArgs),
    /// Restore a snapshot into a data directory without a database.
    Restore(admin::RestoreArgs),
    /// The root key that seals all key material.
    #[command(subcommand)]
    RootKey(RootKeyCommand),
}

#[derive(Debug, Subcommand)]
enum RootKeyCommand {
    /// Re-seal everything under a new root key (stop the server first).
    Rotate(admin::RotateRootKeyArgs),
}

#[derive(Debug, Subcommand)]
enum SeedCommand {
    /// Write the seed file of an account and region's keys (the store may be in use).
    Export(admin::SeedExportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Seed(SeedCommand::Export(args)) => admin::seed_export(args),
        Command::Backup(args) => admin::backup(args),
        Command::Restore(args) => admin::restore(args),
        Command::RootKey(RootKeyCommand::Rotate(args)) => admin::rotate_root_key(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = Config::resolve(args)?;
    datadir::restrict_new_files();
    // Held until the process exits.
    let _data_dir = DataDir::open(&config.data_dir)?;
    let db = config.data_dir.join("trent.db");
    let store = Arc::new(
        trent_store::sqlite::SqliteStore::open(&db)
            .map_err(|e| format!("cannot open store {}: {e}", db.display()))?,
    );
    let (root, source, check) = rootkey::open(&config.data_dir, store.as_ref())?;
    tracing::info!(source = ?source, check = ?check, "root key loaded and checked against the store");
    let store_metrics = StoreMetrics::default();
    let metered = Arc::new(MeteredStore::new(store.clone(), store_metrics.clone()));
    let (clock, test_clock): (Arc<dyn Clock>, _) = if config.test_clock {
        tracing::warn!("TEST CLOCK ENABLED: POST /_trent/test/advance-clock moves time. Never use this in production.");
        let c = Arc::new(OffsetClock::default());
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock), None)
    };
    let kms = Arc::new(Kms::new(metered, root, clock));
    let metrics = Arc::new(Metrics::new(
        &dialect_operations(),
        kms.clone(),
        store,
        store_metrics,
    ));
    if let Some(path) = &config.seed {
        let applied = seed::apply(&kms, path, config.seed_default_account())?;
        tracing::info!(
            seed = %path.display(),
            keys_created = applied.keys_created,
            aliases_created = applied.aliases_created,
            "seed applied"
        );
    }
    if config.dev_credential {
        tracing::warn!(
            "no credentials configured: the development credential is active (access key \"test\", secret \"test\", account 000000000000)"
        );
    }
    let state = Arc::new(AppState {
        kms: kms.clone(),
        credentials: Credentials::new(&config.credentials),
        verifier: trent_aws::verifier(),
        aliyun_verifier: Default::default(),
        aliyun_region: config.aliyun_region.clone(),
        test_clock,
        metrics: metrics.clone(),
    });
    let open_files = datadir::raise_open_files_limit();
    let limits = listener::Limits {
        max_connections: config
            .max_connections
            .unwrap_or_else(|| listener::max_connections_for(open_files)),
        header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
    };
    tracing::info!(
        open_files = ?open_files,
        max_connections = limits.max_connections,
        header_read_timeout_secs = config.header_read_timeout_secs,
        "connection limits"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(sweeper(
            kms.clone(),
            metrics.clone(),
            Duration::from_secs(config.sweep_interval_secs),
        ));
        let ops_routes = metrics::router(metrics);
        let router = match config.metrics_listen {
            None => app(state).merge(ops_routes),
            Some(metrics_addr) => {
                let listener = tokio::net::TcpListener::bind(metrics_addr)
                    .await
                    .map_err(|e| format!("cannot listen on {metrics_addr}: {e}"))?;
                let metrics_addr = listener.local_addr().map_err(|e| e.to_string())?;
                tracing::info!("metrics and health on http://{metrics_addr}");
                println!("metrics on http://{metrics_addr}");
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, ops_routes).await {
                        tracing::error!(cause = %e, "metrics server failed");
                    }
                });
                app(state)
            }
        };
        tracing::info!(data_dir = %config.data_dir.display(), "trent listening on http://{addr}");
        // A machine-readable line for scripts and tests that start us on port 0 (last: a
        // `metrics on` line, if any, comes before it).
        println!("listening on http://{addr}");
        listener::serve(listener, router, limits, shutdown_signal()).await;
        // Key uses since the last sweep are written before the process goes.
        match tokio::task::spawn_blocking(move || kms.flush_usage()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(cause = %e, "key usage flush failed"),
            Err(e) => tracing::error!(cause = %e, "key usage flush panicked"),
        }
        Ok::<(), String>(())
    });
    // A write still waiting on the blocking pool (an fsync) gets a moment; nothing waits longer.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result?;
    tracing::info!("shut down");
    Ok(())
}

/// Does the scheduled work (destroys keys past their deletion date, expires imported
/// material, rotates keys; access already behaves as if it were done) and writes the key uses
/// counted in memory since the last run (GetKeyLastUsage's staleness bound is this interval).
async fn sweeper(kms: Arc<Kms>, metrics: Arc<Metrics>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let sweeping = kms.clone();
        let result = tokio::task::spawn_blocking(move || sweeping.sweep(1000)).await;
        metrics.record_sweep(matches!(result, Ok(Ok(_))));
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(keys = n, "swept keys with scheduled work due"),
            Ok(Err(e)) => tracing::error!(cause = %e, "deletion sweep failed"),
            Err(e) => tracing::error!(cause = %e, "deletion sweep panicked"),
        }
        let flushing = kms.clone();
        match tokio::task::spawn_blocking(move || flushing.flush_usage()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(cause = %e, "key usage flush failed"),
            Err(e) => tracing::error!(cause = %e, "key usage flush panicked"),
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
