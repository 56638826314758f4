//! `trent`: the Trent key management server.

use std::sync::Arc;
use std::time::Duration;

/// jemalloc rather than glibc's allocator: the allocator is about 15 % of a cached request's
/// CPU, and jemalloc made Encrypt about 13 % faster with the trail off and 6 % with it on
/// (docs/BENCHMARK-ANALYSIS.md, measured with bench/ab.sh).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};
use trent_core::clock::{Clock, OffsetClock, SystemClock};
use trent_core::engine::Kms;
use trent_server::backend::Backend;
use trent_server::config::{Config, ServeArgs};
use trent_server::datadir::{self, DataDir};
use trent_server::logging::{self, LogFormat};
use trent_server::metrics::{self, MeteredStore, Metrics, StoreMetrics};
use trent_server::{
    admin, dialect_operations, listener, rootkey, seed, service, AppState, Credentials,
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
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Write a local CA and a server certificate for localhost/127.0.0.1/::1 (development only)
    DevCert {
        /// Directory for ca.pem, cert.pem and key.pem
        #[arg(long)]
        out: std::path::PathBuf,
    },
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
    /// Copy a whole SQLite store into an empty PostgreSQL database, then verify the copy.
    Migrate(MigrateArgs),
    /// Read the audit trail in the store.
    #[command(subcommand)]
    Audit(AuditCommand),
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

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk every account's hash chain and report the first record altered, removed or
    /// reordered, or that the trail is intact. Exits non-zero on a broken chain.
    Verify(StoreArgs),
    /// Write the records of a time range as CloudTrail's log file ({"Records":[...]}).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Start of the range (inclusive): 2026-01-31T00:00:00Z or epoch seconds
        #[arg(long)]
        since: String,
        /// End of the range (inclusive) [default: now]
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// Directory of the embedded store [default: ./trent-data]
    #[arg(long, env = "TRENT_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// The database instead: postgres://…, postgresql://… or sqlite://PATH
    #[arg(long, env = "TRENT_DATABASE_URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    fn open(&self) -> Result<Arc<dyn trent_core::store::Store>, String> {
        use trent_server::config::{Database, DEFAULT_COHERENCE, SQLITE_FILE};
        let database = match &self.database_url {
            Some(url) if trent_store::postgres::is_postgres_url(url) => Database::Postgres {
                options: trent_store::postgres::PgOptions::new(url.clone()),
                coherence: DEFAULT_COHERENCE,
            },
            Some(url) => Database::Sqlite(
                url.strip_prefix("sqlite://")
                    .ok_or_else(|| "use postgres://…, postgresql://… or sqlite://PATH".to_owned())?
                    .into(),
            ),
            None => Database::Sqlite(
                self.data_dir
                    .clone()
                    .unwrap_or_else(|| trent_server::config::DEFAULT_DATA_DIR.into())
                    .join(SQLITE_FILE),
            ),
        };
        if let Database::Sqlite(path) = &database {
            if !path.exists() {
                return Err(format!("no store at {}", path.display()));
            }
        }
        Ok(Backend::open(&database)?.store())
    }
}

fn audit(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Verify(args) => {
            let store = args.open()?;
            let reports = trent_core::audit::verify_store(&*store)
                .map_err(|e| format!("cannot read the trail: {e}"))?;
            let mut broken = false;
            for r in &reports {
                let account = if r.account.is_empty() {
                    "(unidentified callers)"
                } else {
                    &r.account
                };
                match &r.fault {
                    None => println!("account {account}: intact ({} records)", r.records),
                    Some(f) => {
                        broken = true;
                        println!(
                            "account {account}: BROKEN after {} good records: {f}",
                            r.records
                        );
                    }
                }
            }
            if broken {
                return Err("the audit trail is not intact".into());
            }
            println!("audit trail intact");
            Ok(())
        }
        AuditCommand::Export {
            store,
            since,
            until,
        } => {
            let store = store.open()?;
            let parse = |s: &str| {
                trent_server::audit::parse_time(s).ok_or_else(|| {
                    format!("invalid time {s:?}: use 2026-01-31T00:00:00Z or epoch seconds")
                })
            };
            let since = parse(&since)?;
            let until = until.as_deref().map(parse).transpose()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            use std::io::Write as _;
            let io = |e: std::io::Error| format!("cannot write: {e}");
            write!(out, "{{\"Records\":[").map_err(io)?;
            let mut first = true;
            for (account, head) in store.audit_heads().map_err(|e| e.to_string())? {
                let mut after = head.pruned_through;
                loop {
                    let page = store
                        .audit_chain(&account, after, 1000)
                        .map_err(|e| e.to_string())?;
                    for r in &page {
                        after = r.seq;
                        if r.time < since || until.is_some_and(|u| r.time > u) {
                            continue;
                        }
                        if !first {
                            write!(out, ",").map_err(io)?;
                        }
                        first = false;
                        write!(out, "{}", r.body).map_err(io)?;
                    }
                    if page.len() < 1000 {
                        break;
                    }
                }
            }
            writeln!(out, "]}}").map_err(io)?;
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The source: sqlite://PATH of the store file (e.g. sqlite://./trent-data/trent.db)
    #[arg(long)]
    from: String,
    /// The target: postgres://… or postgresql://… of an empty database
    #[arg(long)]
    to: String,
    /// The data directory whose root.key sealed the source (or set TRENT_ROOT_KEY)
    #[arg(long, env = "TRENT_DATA_DIR", default_value = trent_server::config::DEFAULT_DATA_DIR)]
    data_dir: std::path::PathBuf,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Seed(SeedCommand::Export(args)) => admin::seed_export(args),
        Command::Backup(args) => admin::backup(args),
        Command::Restore(args) => admin::restore(args),
        Command::RootKey(RootKeyCommand::Rotate(args)) => admin::rotate_root_key(args),
        Command::Audit(command) => audit(command),
        Command::Migrate(args) => migrate(args),
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

fn migrate(args: MigrateArgs) -> Result<(), String> {
    // The source's own root key: never a new one.
    if std::env::var_os(rootkey::ENV_VAR).is_none()
        && !args.data_dir.join(rootkey::FILE_NAME).is_file()
    {
        return Err(format!(
            "migrate needs the root key that sealed the source: set {} or pass --data-dir with its {}",
            rootkey::ENV_VAR,
            rootkey::FILE_NAME
        ));
    }
    // The source holds keys: never create a root key for it.
    let (root, _) = rootkey::load(&args.data_dir, true)?;
    let copied = trent_server::migrate::run(&args.from, &args.to, &root)?;
    println!(
        "migrated {} keys, {} material versions, {} aliases, {} audit records; counts match; {} sampled keys open under the root key; every audit chain verifies",
        copied.keys, copied.materials, copied.aliases, copied.audit_records, copied.verified_sample
    );
    Ok(())
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
    datadir::restrict_new_files();
    // Held until the process exits (it also holds root.key, whatever the store).
    let _data_dir = DataDir::open(&config.data_dir)?;
    let backend = Backend::open(&config.database)?;
    let store = backend.store();
    let (root, source, check) = rootkey::open(&config.data_dir, store.as_ref())?;
    tracing::info!(source = ?source, check = ?check, "root key loaded and checked against the store");
    let store_metrics = StoreMetrics::default();
    let metered: Arc<dyn trent_core::store::Store> =
        Arc::new(MeteredStore::new(store, store_metrics.clone()));
    let (clock, test_clock): (Arc<dyn Clock>, _) = if config.test_clock {
        tracing::warn!("TEST CLOCK ENABLED: POST /_trent/test/advance-clock moves time. Never use this in production.");
        let c = Arc::new(OffsetClock::default());
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock), None)
    };
    // The users and roles the credentials act as: the principals key policies may name.
    let principals = config
        .credentials
        .iter()
        .filter_map(|c| c.principal.clone());
    let kms = backend.engine(metered, root, clock, principals);
    let metrics = Arc::new(Metrics::new(
        &dialect_operations(),
        kms.clone(),
        backend.probe(),
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
        credentials: Credentials::new(&config.credentials)?,
        verifier: trent_aws::verifier(),
        aliyun_verifier: Default::default(),
        aliyun_region: config.aliyun_region.clone(),
        test_clock,
        metrics: metrics.clone(),
        audit_lookup_scan: config.audit_lookup_scan,
        audit: if config.audit {
            Some(trent_server::audit::AuditTrail::open(
                config.audit_log.as_deref(),
            )?)
        } else {
            tracing::warn!("the audit trail is off (--no-audit): requests are not recorded");
            None
        },
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
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(sweeper(
            kms.clone(),
            metrics.clone(),
            backend,
            Duration::from_secs(config.sweep_interval_secs),
            config.audit_retention_days,
        ));
        let ops_routes = metrics::router(metrics);
        let service = match config.metrics_listen {
            None => service(state, ops_routes),
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
                service(state, axum::Router::new())
            }
        };
        // Signal handlers before the listening line, so that a signal after it never meets
        // the default disposition (terminate).
        let shutdown = shutdown_signal()?;
        if let Some(tls) = &tls {
            tls.reload_on_sighup();
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(data_dir = %config.data_dir.display(), database = ?config.database, "trent listening on {scheme}://{addr}");
        // A machine-readable line for scripts and tests that start us on port 0 (last: a
        // `metrics on` line, if any, comes before it).
        println!("listening on {scheme}://{addr}");
        listener::serve(listener, service, limits, tls, shutdown).await;
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
/// material, rotates keys; access already behaves as if it were done), prunes audit records
/// past retention, and writes the key uses counted in memory since the last run
/// (GetKeyLastUsage's staleness bound is this interval).
///
/// On several nodes, one node at a time sweeps (the others find the lease taken); each key's
/// change is one atomic commit, so a node that dies mid-sweep leaves no half-done key. Audit
/// records past retention are pruned as a prefix of each chain (any node may; pruning locks
/// the chain heads).
async fn sweeper(
    kms: Arc<Kms>,
    metrics: Arc<Metrics>,
    backend: Backend,
    every: Duration,
    retention_days: u32,
) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let pruner = kms.clone();
        let before = trent_core::Timestamp(
            kms.now().0 - i64::from(retention_days) * trent_core::Timestamp::DAY_MS,
        );
        match tokio::task::spawn_blocking(move || pruner.prune_audit(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(records = n, "pruned audit records past retention"),
            Ok(Err(e)) => tracing::error!(cause = %e, "audit pruning failed"),
            Err(e) => tracing::error!(cause = %e, "audit pruning panicked"),
        }
        let sweeping = kms.clone();
        let leader = backend.clone();
        let run = move || leader.lead_background(|| sweeping.sweep(1000));
        let result = tokio::task::spawn_blocking(run).await;
        match result {
            Ok(Ok(None)) => tracing::trace!("another node is sweeping"),
            Ok(Ok(Some(Ok(n)))) => {
                metrics.record_sweep(true);
                if n > 0 {
                    tracing::info!(keys = n, "sweep: keys deleted, rotated or expired");
                }
            }
            Ok(Ok(Some(Err(e)))) => {
                metrics.record_sweep(false);
                tracing::error!(cause = %e, "sweep failed");
            }
            Ok(Err(e)) => {
                metrics.record_sweep(false);
                tracing::error!(cause = %e, "sweep lease unavailable");
            }
            Err(e) => {
                metrics.record_sweep(false);
                tracing::error!(cause = %e, "sweep panicked");
            }
        }
        let flushing = kms.clone();
        match tokio::task::spawn_blocking(move || flushing.flush_usage()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(cause = %e, "key usage flush failed"),
            Err(e) => tracing::error!(cause = %e, "key usage flush panicked"),
        }
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C), the signals that end the server gracefully. Both are
/// registered when this is called, not when the future is first polled, so the caller calls it
/// before the listening line: a signal sent right after that line must never meet the default
/// disposition, which ends the process without finishing in-flight requests.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    #[cfg(unix)]
    let signalled = {
        use tokio::signal::unix::{signal, SignalKind};
        let handle = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot handle {name}: {e}"))
        };
        let mut term = handle(SignalKind::terminate(), "SIGTERM")?;
        let mut int = handle(SignalKind::interrupt(), "SIGINT")?;
        async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let signalled = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        signalled.await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
    })
}
