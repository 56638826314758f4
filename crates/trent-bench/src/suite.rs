//! The comparison run behind docs/BENCHMARKS.md: Trent, a trivial HTTP server and moto's server,
//! measured the same way on the same machine in one run, plus the durability ceiling (fsyncs per
//! second on the data disk), idle memory, and (optionally) behaviour with many keys.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{measure, runtime, Measurement, Target};

#[derive(Debug, clap::Args)]
pub struct SuiteArgs {
    /// The trent binary to measure.
    #[arg(long, default_value = "target/release/trent")]
    trent: PathBuf,
    /// moto's server command (e.g. a venv's `moto_server`); omitted = moto not measured.
    #[arg(long)]
    moto: Option<PathBuf>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Also create this many keys, then measure startup time and Encrypt throughput with them.
    #[arg(long, default_value_t = 0)]
    many_keys: usize,
    /// Before measuring LookupEvents, load Encrypt until the trail holds this many records.
    #[arg(long, default_value_t = 0)]
    many_events: u64,
    /// Where to write the report (stdout if omitted).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres) to also measure
    /// Trent on PostgreSQL, one node and two, on a database created for the run.
    #[arg(long)]
    postgres: Option<String>,
    /// The command line to print in the report.
    #[arg(long, default_value = "bash bench/run.sh")]
    command: String,
    /// Run every server pinned to these CPUs (`taskset -c`), e.g. `0`; pin the load generator
    /// to the others by starting the suite itself under `taskset`.
    #[arg(long)]
    pin_server: Option<String>,
    /// Measure the throughput table only (no PostgreSQL, moto, trail-off or many-keys figures),
    /// under this heading, without the report's preamble: the second table of a run.
    #[arg(long)]
    throughput_only: Option<String>,
}

/// The CPUs servers are pinned to, if any (set once, from [`SuiteArgs::pin_server`]).
static PIN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// How long the memory figure waits, idle, after a burst of connections closes.
const RETURN_WAIT_SECS: u64 = 30;

/// The command that starts a server `program`: under `taskset` when the run is pinned.
pub(crate) fn server_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    match PIN.get().and_then(Option::as_ref) {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Trent's operations, in the order measured: the access-control figures right after the
/// root's Encrypt they are compared with (see [`run_trent_ops`]).
const TRENT_OPS: &[&str] = &[
    "Encrypt",
    "EncryptAsUser",
    "EncryptConditional",
    "Decrypt",
    "GenerateDataKey",
    "DescribeKey",
    "CreateKey",
    "Sign",
];
/// Operations measured on PostgreSQL too.
const PG_OPS: &[&str] = &["Encrypt", "CreateKey", "DescribeKey"];

/// The IAM user the access-control figures sign as.
pub const BENCH_USER_KEY: &str = "BENCHUSER";
pub const BENCH_USER_SECRET: &str = "bench";

/// Trent's configuration for the suite: the development credential, and an IAM user whose
/// identity policy allows every KMS action.
pub const BENCH_CONFIG: &str = r#"[[credentials]]
access_key_id = "test"
secret_access_key = "test"
account_id = "000000000000"

[[credentials]]
access_key_id = "BENCHUSER"
secret_access_key = "bench"
account_id = "000000000000"
principal = "arn:aws:iam::000000000000:user/bench"
policy = '''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'''
"#;

/// A key policy of ten conditional statements naming the user (nine never match, the last
/// does) and one for the account's administration.
pub fn conditional_policy() -> String {
    let user = "arn:aws:iam::000000000000:user/bench";
    let mut statements = vec![serde_json::json!({
        "Sid": "Admin", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"
    })];
    for i in 0..9 {
        statements.push(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": user}, "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": format!("tenant-{i}")}}
        }));
    }
    statements.push(serde_json::json!({
        "Effect": "Allow", "Principal": {"AWS": user}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:CallerAccount": "000000000000", "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "Bool": {"aws:SecureTransport": "false"}
        }
    }));
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}
/// The share of its trail-off figure an operation must keep with the trail on.
fn audit_target(op: &str) -> Option<f64> {
    match op {
        "Encrypt" => Some(0.85),
        "CreateKey" => Some(0.90),
        _ => None,
    }
}

/// Operations held to the 0.65 × trivial target.
const FAST_OPS: &[&str] = &["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"];

pub(crate) struct Proc {
    child: Child,
    pub(crate) url: String,
    started_in: Duration,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server that prints `listening on <url>` as its first line.
pub(crate) fn announced(cmd: Command) -> Result<Proc, String> {
    Proc::announced(cmd)
}

impl Proc {
    fn announced(mut cmd: Command) -> Result<Self, String> {
        let start = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected: {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            url,
            started_in: start.elapsed(),
        })
    }

    /// Starts a server on a known port and waits until it accepts connections.
    fn on_port(mut cmd: Command, port: u16) -> Result<Self, String> {
        let start = Instant::now();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        let mut proc = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            started_in: Duration::ZERO,
        };
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!("{cmd:?} did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        proc.started_in = start.elapsed();
        Ok(proc)
    }

    fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn trent(binary: &Path, data_dir: &Path) -> Result<Proc, String> {
    trent_with(binary, data_dir, &[])
}

/// [`trent`] with more `serve` arguments.
fn trent_with(binary: &Path, data_dir: &Path, extra: &[&str]) -> Result<Proc, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
    let config = data_dir.join("trent.toml");
    std::fs::write(&config, BENCH_CONFIG).map_err(|e| e.to_string())?;
    let mut cmd = server_command(binary);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(&config)
        .args(extra)
        .env("TRENT_LOG", "error");
    Proc::announced(cmd)
}

/// fsyncs per second on the disk holding `dir`: the ceiling for one-fsync-per-request writes.
fn fsync_rate(dir: &Path) -> Result<f64, String> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        f.write_all(&[0u8; 512]).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        n += 1;
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    Ok(rate)
}

/// Measures each op; an op that cannot be prepared (e.g. a key spec the server lacks) is
/// reported with the reason instead of a figure.
async fn run_ops(
    url: &str,
    ops: &[&str],
    connections: usize,
    seconds: f64,
) -> Vec<(String, Result<Measurement, String>)> {
    let mut out = Vec::new();
    for op in ops {
        let result = async {
            let target = Target::for_op(url, op)?;
            let prepared = target.prepare(op).await?;
            measure(
                &target,
                &prepared,
                connections,
                Duration::from_secs_f64(seconds),
            )
            .await
        }
        .await;
        match &result {
            Ok(m) => eprintln!("  {}", m.summary()),
            Err(e) => eprintln!("  {op}: not measured: {e}"),
        }
        out.push((op.to_string(), result));
    }
    out
}

/// [`TRENT_OPS`] on `url`, with the root's Encrypt measured once more right after the
/// access-control operations that follow its first figure: the figures in `TRENT_OPS` order,
/// and that second Encrypt. The machine's speed drifts by several percent within a minute, so
/// the access-control ratios are taken against the mean of the two Encrypt figures around them
/// (as the × trivial ratios are against the trivial server's figures around Trent's).
async fn run_trent_ops(
    url: &str,
    connections: usize,
    seconds: f64,
) -> (
    Vec<(String, Result<Measurement, String>)>,
    Option<Measurement>,
) {
    let (with_users, rest) = TRENT_OPS.split_at(1 + crate::USER_OPS.len());
    debug_assert_eq!(&with_users[1..], crate::USER_OPS);
    let mut out = run_ops(url, with_users, connections, seconds).await;
    eprintln!("  (the root's Encrypt again, for the access-control ratios:)");
    let again = run_ops(url, &["Encrypt"], connections, seconds)
        .await
        .remove(0)
        .1
        .ok()
        .filter(|m| m.failures == 0);
    out.extend(run_ops(url, rest, connections, seconds).await);
    (out, again)
}

/// The root's Encrypt figure the access-control operations are compared with: the mean of the
/// figures before and after them, or the first alone if the second failed.
fn encrypt_reference(
    results: &[(String, Result<Measurement, String>)],
    again: Option<&Measurement>,
) -> Option<f64> {
    let first = results
        .iter()
        .find(|(op, _)| op == "Encrypt")
        .and_then(|(_, r)| r.as_ref().ok())
        .filter(|m| m.failures == 0)?;
    Some(match again {
        Some(second) => (first.rps() + second.rps()) / 2.0,
        None => first.rps(),
    })
}

/// The machine, for a report: cores, CPU model, memory.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    // The machine's, not this process's (a pinned run may be held to one of them).
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .ok()
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().map(|n| n.get()).ok())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM")
}

pub fn run(args: SuiteArgs) -> Result<(), String> {
    let _ = PIN.set(args.pin_server.clone());
    let rt = runtime()?;
    let work = std::env::temp_dir().join(format!("trent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let result = rt.block_on(run_in(&args, &work));
    let _ = std::fs::remove_dir_all(&work);
    let report = result?;
    match &args.out {
        Some(path) => std::fs::write(path, report).map_err(|e| e.to_string())?,
        None => print!("{report}"),
    }
    Ok(())
}

fn cell(r: &Result<Measurement, String>) -> (String, String, String, Option<f64>) {
    match r {
        Ok(m) if m.failures == 0 => (
            format!("{:.0}", m.rps()),
            format!("{:.2}", m.p50_ms),
            format!("{:.2}", m.p99_ms),
            Some(m.rps()),
        ),
        Ok(m) => (
            format!(
                "invalid: {} of {} failed ({})",
                m.failures,
                m.requests,
                m.first_failure.as_deref().unwrap_or("")
            ),
            "-".into(),
            "-".into(),
            None,
        ),
        Err(e) => (format!("n/a ({e})"), "-".into(), "-".into(), None),
    }
}

/// The trivial server's figure, on a server started for it.
async fn trivial_figure(c: usize, s: f64) -> Result<Measurement, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = server_command(&me);
    cmd.args(["trivial", "--listen", "127.0.0.1:0"]);
    let trivial = Proc::announced(cmd)?;
    match run_ops(&trivial.url, &["Trivial"], c, s).await.remove(0).1 {
        Ok(m) if m.failures == 0 => Ok(m),
        Ok(m) => Err(format!(
            "trivial server failed requests: {:?}",
            m.first_failure
        )),
        Err(e) => Err(format!("trivial server: {e}")),
    }
}

async fn run_in(args: &SuiteArgs, work: &Path) -> Result<String, String> {
    let (c, s) = (args.connections, args.seconds);
    let fsyncs = fsync_rate(work)?;
    eprintln!("fsync ceiling: {fsyncs:.0}/s");

    eprintln!("trivial server:");
    let trivial_rps = trivial_figure(c, s).await?;

    eprintln!("trent:");
    let trent_dir = work.join("trent");
    let server = trent(&args.trent, &trent_dir)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = server.rss_mb();
    let (trent_results, encrypt_again) = run_trent_ops(&server.url, c, s).await;
    let busy_rss = server.rss_mb();
    // Memory after a load of many connections, as they close and 30 s later: jemalloc returns
    // freed pages to the kernel after its decay times (10 s dirty, then muzzy), from its
    // background thread, so a server left idle gives the burst's memory back.
    let wide = if args.throughput_only.is_none() {
        let during = run_ops(&server.url, &["Encrypt"], 256, s).await.remove(0).1;
        let after_load = server.rss_mb();
        std::thread::sleep(Duration::from_secs(RETURN_WAIT_SECS));
        Some((during, after_load, server.rss_mb()))
    } else {
        None
    };
    let lookup = if args.throughput_only.is_none() {
        Some(lookup_figure(&server.url, args.many_events, c, s).await)
    } else {
        None
    };
    drop(server);

    if let Some(heading) = &args.throughput_only {
        return Ok(throughput_only(heading, &trivial_rps, &trent_results, args));
    }

    let pg = match &args.postgres {
        Some(server) => {
            eprintln!("trent on postgres:");
            Some(crate::pg::figures(&args.trent, work, server, PG_OPS, c, s).await)
        }
        None => None,
    };

    let moto_results = match &args.moto {
        Some(moto) => {
            eprintln!("moto:");
            let port = free_port()?;
            let mut cmd = server_command(moto);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            let server = Proc::on_port(cmd, port)?;
            Some(run_ops(&server.url, TRENT_OPS, c, s).await)
        }
        None => None,
    };

    // The audit trail costs: the same operations with the trail off, in the same run (the
    // figures above have it on, the default).
    eprintln!("trent with --no-audit:");
    let (untrailed, untrailed_encrypt_again) = {
        let server = trent_with(&args.trent, &work.join("no-audit"), &["--no-audit"])?;
        run_trent_ops(&server.url, c, s).await
    };
    // The machine's speed drifts over a run (by ±20 % within minutes on some): the trivial
    // server again, after the last figures it is compared with, and the ratios taken against
    // the mean of its two figures.
    eprintln!("trivial server, again:");
    // A failure here costs only the drift check, not the run: the first figure stands alone.
    let trivial_after = trivial_figure(c, s).await.unwrap_or_else(|e| {
        eprintln!("  {e}; the first figure stands alone");
        trivial_rps.clone()
    });
    let trivial_ref = (trivial_rps.rps() + trivial_after.rps()) / 2.0;

    let many = if args.many_keys > 0 {
        eprintln!("trent with {} keys:", args.many_keys);
        let dir = work.join("many");
        let server = trent(&args.trent, &dir)?;
        let start = Instant::now();
        seed_keys(&server.url, args.many_keys).await?;
        let seeded_in = start.elapsed();
        drop(server);
        // Let the kernel write back the freshly written database before measuring, so the
        // figure is not taken while gigabytes of dirty pages are being flushed.
        let _ = Command::new("sync").status();
        std::thread::sleep(Duration::from_secs(5));
        let server = trent(&args.trent, &dir)?;
        let startup = server.started_in;
        let encrypt = run_ops(&server.url, &["Encrypt"], c, s).await.remove(0).1;
        Some((seeded_in, startup, encrypt, server.rss_mb()))
    } else {
        None
    };

    // ----- the report -----
    let mut r = String::new();
    let w = &mut r;
    use std::fmt::Write as _;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Produced by `{}` (see [bench/run.sh](../bench/run.sh)); do not edit by hand.\n",
        args.command
    );
    let _ = writeln!(w, "- Machine: {}.", machine());
    let _ = writeln!(
        w,
        "- Load: `trent-bench`, {c} keep-alive connections, closed loop, {s} s per figure after a warm-up, on ONE thread of the same machine (like `wrk -t1`); every request SigV4-signed (signed once per connection and replayed, so the server verifies a signature on every request). Any non-2xx answer invalidates the figure."
    );
    if let Some(cpus) = &args.pin_server {
        let _ = writeln!(w, "- Pinned: every server runs on CPU {cpus} only (`taskset -c {cpus}`), the load generator on the other CPU, so the two do not trade cores during a figure (PostgreSQL, a system service, is not pinned).");
    }
    let _ = writeln!(w, "- Trent: release build, embedded SQLite store on a fresh data directory, SigV4 verification on, default settings.");
    let _ = writeln!(w, "- Trivial server: axum on tokio answering every POST with `{{}}` through axum's router (which Trent's KMS requests skip), the ceiling for any HTTP service here: **{:.0} req/s**, p50 {:.2} ms, p99 {:.2} ms, before Trent's figures; **{:.0} req/s** (p99 {:.2} ms) again after them. The × trivial ratios are against their mean, {trivial_ref:.0} req/s; the two figures' difference is the machine's drift over the run.", trivial_rps.rps(), trivial_rps.p50_ms, trivial_rps.p99_ms, trivial_after.rps(), trivial_after.p99_ms);
    let _ = writeln!(w, "- Durable-write ceiling: **{fsyncs:.0} fsyncs/s** on the data disk (one 512-byte write + fdatasync per iteration).\n");

    let _ = writeln!(w, "## Throughput and latency\n");
    let _ = writeln!(
        w,
        "| operation | Trent req/s | p50 ms | p99 ms | × trivial | moto req/s | Trent × moto |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    let mut verdicts = Vec::new();
    for (i, (op, res)) in trent_results.iter().enumerate() {
        let (rps, p50, p99, value) = cell(res);
        let vs_trivial = value
            .map(|v| format!("{:.2}", v / trivial_ref))
            .unwrap_or("-".into());
        let (moto_rps, moto_value) = match &moto_results {
            Some(m) => {
                let (t, _, _, v) = cell(&m[i].1);
                (t, v)
            }
            None => ("not run".into(), None),
        };
        let vs_moto = match (value, moto_value) {
            (Some(a), Some(b)) => format!("{:.1}", a / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            w,
            "| {op} | {rps} | {p50} | {p99} | {vs_trivial} | {moto_rps} | {vs_moto} |"
        );
        if FAST_OPS.contains(&op.as_str()) {
            if let Ok(m) = res {
                let ratio = m.rps() / trivial_ref;
                let off = untrailed
                    .iter()
                    .find(|(o, _)| o == op)
                    .and_then(|(_, r)| r.as_ref().ok())
                    .filter(|m| m.failures == 0);
                let off_text = off.map_or(String::new(), |o| {
                    format!(
                        "; with the trail off {:.2} × trivial (**{}**), p99 {:.2} ms (**{}**)",
                        o.rps() / trivial_ref,
                        if o.rps() / trivial_ref >= 0.65 {
                            "met"
                        } else {
                            "missed"
                        },
                        o.p99_ms,
                        if o.p99_ms < 2.0 { "met" } else { "missed" }
                    )
                });
                verdicts.push(format!(
                    "- {op}: {:.2} × trivial (target ≥ 0.65): **{}**; p99 {:.2} ms (target < 2 ms): **{}**{off_text}.",
                    ratio,
                    if ratio >= 0.65 && m.failures == 0 { "met" } else { "missed" },
                    m.p99_ms,
                    if m.p99_ms < 2.0 { "met" } else { "missed" }
                ));
            }
        }
        if op == "Sign" {
            if let Ok(m) = res {
                let ratio = m.rps() / trivial_ref;
                verdicts.push(format!(
                    "- Sign (ECC_NIST_P256): {:.2} × trivial (target ≥ 0.35): **{}**.",
                    ratio,
                    if ratio >= 0.35 && m.failures == 0 {
                        "met"
                    } else {
                        "missed"
                    }
                ));
            }
        }
        if op == "CreateKey" {
            if let Ok(m) = res {
                let ratio = m.rps() / fsyncs;
                verdicts.push(format!(
                    "- CreateKey (durable, fsync'd before the answer): {:.0} req/s = {:.1} × the one-fsync-per-request ceiling (target ≥ 2): **{}**.",
                    m.rps(),
                    ratio,
                    if ratio >= 2.0 && m.failures == 0 { "met" } else { "missed" }
                ));
            }
        }
    }
    let encrypt = encrypt_reference(&trent_results, encrypt_again.as_ref());
    let untrailed_encrypt = encrypt_reference(&untrailed, untrailed_encrypt_again.as_ref());
    let untrailed_of = |op: &str| {
        untrailed
            .iter()
            .find(|(o, _)| o == op)
            .and_then(|(_, r)| r.as_ref().ok())
            .filter(|m| m.failures == 0)
    };
    for (op, res) in &trent_results {
        if let (Some(base), Ok(m), true) = (encrypt, res, crate::USER_OPS.contains(&op.as_str())) {
            let ratio = m.rps() / base;
            // The same comparison with the trail off, where the gate's cost is not hidden
            // behind the trail's.
            let off = match (untrailed_of(op), untrailed_encrypt) {
                (Some(u), Some(b)) => {
                    let r = u.rps() / b;
                    format!(
                        "; with the trail off {r:.2} × (**{}**)",
                        if r >= 0.9 { "met" } else { "missed" }
                    )
                }
                _ => String::new(),
            };
            verdicts.push(format!(
                "- {op} (access control as an IAM user): {:.2} × the root's Encrypt, measured just before and after the access-control figures (target ≥ 0.9): **{}**{off}.",
                ratio,
                if ratio >= 0.9 && m.failures == 0 { "met" } else { "missed" }
            ));
        }
    }
    let _ = writeln!(w, "\n## Targets\n");
    let _ = writeln!(
        w,
        "Why a target is missed, with the profile that shows it: [BENCHMARK-ANALYSIS.md](BENCHMARK-ANALYSIS.md).\n"
    );
    for v in &verdicts {
        let _ = writeln!(w, "{v}");
    }
    match idle_rss {
        Some(mb) => {
            let _ = writeln!(
                w,
                "- Idle resident memory: {mb:.1} MB (target < 30 MB): **{}**; after the load above: {:.1} MB.",
                if mb < 30.0 { "met" } else { "missed" },
                busy_rss.unwrap_or(0.0)
            );
        }
        None => {
            let _ = writeln!(w, "- Idle resident memory: not measured (no /proc).");
        }
    }
    if let Some((during, Some(loaded), Some(closed))) = &wide {
        let (rps, _, p99, _) = cell(during);
        let _ = writeln!(
            w,
            "- After Encrypt with 256 connections ({rps} req/s, p99 {p99} ms), as they close: resident memory {loaded:.1} MB (target < 64 MB): **{}**.",
            if *loaded < 64.0 { "met" } else { "missed" }
        );
        // "Returns toward idle": at least half of what the burst added on top of the level
        // before it is given back while the server sits idle.
        let before = busy_rss.unwrap_or(*loaded);
        let returned = *closed <= before + (*loaded - before) / 2.0;
        let _ = writeln!(
            w,
            "- {RETURN_WAIT_SECS} s after those connections closed, idle: {closed:.1} MB, against {before:.1} MB before the burst and {loaded:.1} MB right after it (target: returns toward idle, at least half of the burst's growth given back): **{}**.",
            if returned { "met" } else { "missed" }
        );
    }
    let _ = writeln!(w, "\n## The audit trail\n");
    let _ = writeln!(
        w,
        "Every request is recorded (the figures above have the trail on, the default); the same operations with `--no-audit`, same run:\n"
    );
    let _ = writeln!(
        w,
        "| operation | trail on req/s | trail off req/s | on / off | target |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    for (op, off) in &untrailed {
        let on = trent_results.iter().find(|(o, _)| o == op).map(|(_, r)| r);
        let (on_rps, off_rps) = (
            on.and_then(|r| r.as_ref().ok()).map(Measurement::rps),
            off.as_ref().ok().map(Measurement::rps),
        );
        let ratio = match (on_rps, off_rps) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let verdict = match (audit_target(op), ratio) {
            (Some(t), Some(r)) => {
                format!("≥ {t:.2}: **{}**", if r >= t { "met" } else { "missed" })
            }
            (Some(t), None) => format!("≥ {t:.2}: not measured"),
            (None, _) => "-".into(),
        };
        let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            w,
            "| {op} | {} | {} | {} | {verdict} |",
            fmt(on_rps),
            fmt(off_rps),
            ratio.map_or("-".into(), |r| format!("{r:.2}"))
        );
    }
    match &lookup {
        Some(Ok((stored, m))) if m.failures == 0 => {
            let _ = writeln!(
                w,
                "\nLookupEvents by ResourceName (the newest 50 records of the key the Encrypt load used), one client, with **{stored:.0} records** stored: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms (target p99 < 50 ms with 1,000,000 records): **{}**.",
                m.rps(),
                m.p50_ms,
                m.p99_ms,
                if *stored >= 1_000_000.0 && m.p99_ms < 50.0 { "met" } else if m.p99_ms < 50.0 { "met at this size; 1,000,000 not reached (`--many-events`)" } else { "missed" }
            );
        }
        Some(Ok((_, m))) => {
            let _ = writeln!(
                w,
                "\nLookupEvents: invalid, {} of {} failed ({}).",
                m.failures,
                m.requests,
                m.first_failure.as_deref().unwrap_or("")
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(w, "\nLookupEvents: not measured: {e}");
        }
        None => {}
    }
    match &pg {
        Some(Ok(pg)) => {
            let _ = writeln!(w, "\n## PostgreSQL\n");
            let _ = writeln!(w, "Trent with `--database-url` on the machine's PostgreSQL (a database created for the run), one node, then two nodes of that database with the load generator's connections split between them. PostgreSQL's own commit ceiling, measured in the same run: **{:.0} single-row INSERT + COMMIT per second** on one connection with `synchronous_commit = on`.\n", pg.commit_ceiling);
            let _ = writeln!(w, "| operation | SQLite req/s | PostgreSQL, one node | p99 ms | PostgreSQL, two nodes | p99 ms |");
            let _ = writeln!(w, "|---|---|---|---|---|---|");
            let mut pg_verdicts = Vec::new();
            for (op, one, two) in &pg.rows {
                let sqlite = trent_results
                    .iter()
                    .find(|(o, _)| o == op)
                    .map(|(_, r)| cell(r));
                let (sq, sq_value) = sqlite
                    .map(|(rps, _, _, v)| (rps, v))
                    .unwrap_or(("-".into(), None));
                let (one_rps, _, one_p99, one_value) = cell(one);
                let (two_rps, _, two_p99, _) = cell(two);
                let _ = writeln!(
                    w,
                    "| {op} | {sq} | {one_rps} | {one_p99} | {two_rps} | {two_p99} |"
                );
                match (op.as_str(), one_value) {
                    ("Encrypt", Some(v)) => {
                        if let Some(base) = sq_value {
                            let ratio = v / base;
                            pg_verdicts.push(format!("- Encrypt on PostgreSQL: {:.0}% of the SQLite figure (target within 10%): **{}**.", 100.0 * ratio, if ratio >= 0.9 { "met" } else { "missed" }));
                        }
                    }
                    ("CreateKey", Some(v)) => {
                        let ratio = v / pg.commit_ceiling;
                        pg_verdicts.push(format!("- CreateKey on PostgreSQL: {v:.0} req/s = {ratio:.1} × PostgreSQL's commit ceiling (target ≥ 2, by group commit): **{}**.", if ratio >= 2.0 { "met" } else { "missed" }));
                    }
                    _ => {}
                }
            }
            let sqlite_untrailed = untrailed
                .iter()
                .find(|(o, _)| o == "Encrypt")
                .and_then(|(_, r)| r.as_ref().ok());
            if let (Ok(pg_off), Some(sq_off)) = (&pg.untrailed_encrypt, sqlite_untrailed) {
                let ratio = pg_off.rps() / sq_off.rps();
                pg_verdicts.push(format!("- Encrypt on PostgreSQL with the trail off (cached keys touch no database): {:.0} req/s, {:.0}% of SQLite's trail-off Encrypt, p99 {:.2} ms (target within 10%): **{}**. With the trail on, every request's record is a PostgreSQL commit (grouped), which is what the figure above measures.", pg_off.rps(), 100.0 * ratio, pg_off.p99_ms, if ratio >= 0.9 && pg_off.failures == 0 { "met" } else { "missed" }));
            }
            let _ = writeln!(w);
            for v in pg_verdicts {
                let _ = writeln!(w, "{v}");
            }
            let _ = writeln!(w, "- Two nodes share the one machine's cores with PostgreSQL and the load generator here, so the two-node figure shows that nodes add no coordination cost, not the scaling of separate machines.");
        }
        Some(Err(e)) => {
            let _ = writeln!(w, "\n## PostgreSQL\n\nNot measured: {e}");
        }
        None => {}
    }
    match many {
        Some((seeded_in, startup, encrypt, rss)) => {
            let one_key = trent_results
                .iter()
                .find(|(op, _)| op == "Encrypt")
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|m| m.rps());
            let (rps, _, p99, value) = cell(&encrypt);
            let _ = writeln!(
                w,
                "- With {} keys (created through the API in {:.0} s): startup {:.2} s (target < 2 s): **{}**; Encrypt {rps} req/s (p99 {p99} ms), {} of the 1-key figure (target within 10%); resident memory {:.1} MB.",
                args.many_keys,
                seeded_in.as_secs_f64(),
                startup.as_secs_f64(),
                if startup.as_secs_f64() < 2.0 { "met" } else { "missed" },
                match (value, one_key) {
                    (Some(a), Some(b)) => format!("{:.0}%", 100.0 * a / b),
                    _ => "-".into(),
                },
                rss.unwrap_or(0.0)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "- Many keys: not measured in this run (`--many-keys N`)."
            );
        }
    }
    Ok(r)
}

/// LookupEvents by ResourceName, one client, once the trail holds at least `events` records
/// (Encrypt is loaded on one key until it does): the records stored, and the figure.
async fn lookup_figure(
    url: &str,
    events: u64,
    connections: usize,
    seconds: f64,
) -> Result<(f64, Measurement), String> {
    let target = Target::new(url)?;
    let encrypt = target.prepare("Encrypt").await?;
    let key = encrypt.key_id().ok_or("no key")?;
    let give_up = Instant::now() + Duration::from_secs(1200);
    loop {
        let stored = target.metric("trent_audit_records_total").await?;
        if stored >= events as f64 {
            break;
        }
        if Instant::now() > give_up {
            return Err(format!(
                "only {stored:.0} records after 20 minutes of Encrypt"
            ));
        }
        eprintln!("  {stored:.0} of {events} records; loading Encrypt");
        measure(&target, &encrypt, connections, Duration::from_secs(20)).await?;
    }
    let stored = target.metric("trent_audit_records_total").await?;
    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key}");
    let m = measure(
        &target,
        &crate::Prepared::lookup_events(&arn),
        1,
        Duration::from_secs_f64(seconds),
    )
    .await?;
    eprintln!("  {} (with {stored:.0} records)", m.summary());
    Ok((stored, m))
}

/// The second table of a run: the throughput figures alone, under `heading`.
fn throughput_only(
    heading: &str,
    trivial: &Measurement,
    results: &[(String, Result<Measurement, String>)],
    args: &SuiteArgs,
) -> String {
    use std::fmt::Write as _;
    let mut w = String::new();
    let _ = writeln!(w, "\n## {heading}\n");
    let _ = writeln!(
        w,
        "Same load, {} pinning: server and load generator share both cores as the scheduler decides. Trivial server: **{:.0} req/s**, p99 {:.2} ms.\n",
        if args.pin_server.is_some() { "with" } else { "without" },
        trivial.rps(),
        trivial.p99_ms
    );
    let _ = writeln!(
        w,
        "| operation | Trent req/s | p50 ms | p99 ms | × trivial |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    for (op, res) in results {
        let (rps, p50, p99, value) = cell(res);
        let ratio = value.map_or("-".into(), |v| format!("{:.2}", v / trivial.rps()));
        let _ = writeln!(w, "| {op} | {rps} | {p50} | {p99} | {ratio} |");
    }
    w
}

/// Creates `n` keys through the API with the benchmark's connections.
async fn seed_keys(url: &str, n: usize) -> Result<(), String> {
    let target = Target::new(url)?;
    let per_conn = n.div_ceil(32);
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for c in 0..32 {
        let count = per_conn.min(n.saturating_sub(c * per_conn));
        let target = Target::new(&target.url)?;
        handles.push(local.spawn_local(async move {
            let prepared = target.prepare("CreateKey").await?;
            let mut request = Vec::new();
            let mut conn = crate::http::Conn::open(&target.host).await?;
            for i in 0..count {
                // Re-sign now and then: a signature is valid for five minutes.
                if i % 10_000 == 0 {
                    request = target.signed_request(&prepared);
                }
                let (status, body) = conn.send(&request).await?;
                if status != 200 {
                    return Err(format!(
                        "CreateKey {status}: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            Ok::<(), String>(())
        }));
    }
    local
        .run_until(async {
            for h in handles {
                h.await.map_err(|e| e.to_string())??;
            }
            Ok(())
        })
        .await
}
