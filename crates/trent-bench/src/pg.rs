//! The PostgreSQL rows of the suite: Trent on PostgreSQL against PostgreSQL's own commit
//! ceiling, measured in the same run on a database created for it (and dropped after), with
//! one node and with two nodes sharing the load.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use crate::suite::{announced, Proc};
use crate::{measure_split, Measurement, Target};

/// A fixed root key: the nodes of one database must share one.
const ROOT_KEY: &str = "5f0e3b1a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

/// One operation: its name, on one node, on two nodes splitting the connections.
pub type PgRow = (
    String,
    Result<Measurement, String>,
    Result<Measurement, String>,
);

#[derive(Debug)]
pub struct PgFigures {
    /// Single-row INSERT + COMMIT per second on one connection, synchronous_commit on.
    pub commit_ceiling: f64,
    pub rows: Vec<PgRow>,
    /// Encrypt on one node with the trail off (cached keys touch no database then).
    pub untrailed_encrypt: Result<Measurement, String>,
}

/// PostgreSQL's own message where there is one ("db error" alone says nothing).
fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

async fn admin(server: &str, sql: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(server, NoTls)
        .await
        .map_err(|e| format!("PostgreSQL at {server}: {}", describe(e)))?;
    let task = tokio::spawn(conn);
    let r = client.batch_execute(sql).await.map_err(describe);
    drop(client);
    let _ = task.await;
    r
}

/// The URL of database `name` on the server of `server`.
fn database_url(server: &str, name: &str) -> Result<String, String> {
    let scheme_end = server.find("://").ok_or("not a URL")? + 3;
    // The query (if any) ends the URL; the database name is the path before it.
    let (rest, query) = match server.find('?') {
        Some(q) => (&server[..q], &server[q..]),
        None => (server, ""),
    };
    let base = match rest[scheme_end..].find('/') {
        Some(i) => &rest[..scheme_end + i],
        None => rest,
    };
    Ok(format!("{base}/{name}{query}"))
}

async fn commit_ceiling(url: &str) -> Result<f64, String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(describe)?;
    let task = tokio::spawn(conn);
    client
        .batch_execute(
            "SET synchronous_commit = on;
             CREATE TABLE commit_probe (id bigserial PRIMARY KEY, v integer NOT NULL)",
        )
        .await
        .map_err(describe)?;
    let insert = client
        .prepare("INSERT INTO commit_probe (v) VALUES (1)")
        .await
        .map_err(describe)?;
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        client.execute(&insert, &[]).await.map_err(describe)?;
        n += 1;
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    drop(client);
    let _ = task.await;
    Ok(rate)
}

fn node(binary: &Path, dir: &Path, url: &str, extra: &[&str]) -> Result<Proc, String> {
    let mut cmd = crate::suite::server_command(binary);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .args(["--database-url", url])
        .env("TRENT_ROOT_KEY", ROOT_KEY)
        .env("TRENT_LOG", "error");
    announced(cmd)
}

/// Measures `ops` on one node, then on two nodes of the same fresh database.
pub async fn figures(
    binary: &Path,
    work: &Path,
    server: &str,
    ops: &[&str],
    connections: usize,
    seconds: f64,
) -> Result<PgFigures, String> {
    let name = format!("trent_bench_{}", std::process::id());
    // Two statements: CREATE DATABASE refuses to run in the implicit transaction of a batch.
    admin(
        server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await?;
    admin(server, &format!("CREATE DATABASE {name}")).await?;
    let url = database_url(server, &name)?;
    let result = async {
        let commit_ceiling = commit_ceiling(&url).await?;
        eprintln!("postgres commit ceiling: {commit_ceiling:.0}/s");
        let a = node(binary, &work.join("pg-a"), &url, &[])?;
        let b = node(binary, &work.join("pg-b"), &url, &[])?;
        let (ta, tb) = (Target::new(&a.url)?, Target::new(&b.url)?);
        let duration = Duration::from_secs_f64(seconds);
        let mut rows = Vec::new();
        for op in ops {
            let prepared = ta.prepare(op).await;
            let (one, two) = match prepared {
                Ok(p) => (
                    measure_split(&[&ta], &p, connections, duration).await,
                    measure_split(&[&ta, &tb], &p, connections, duration).await,
                ),
                Err(e) => (Err(e.clone()), Err(e)),
            };
            for (nodes, m) in [("one node", &one), ("two nodes", &two)] {
                match m {
                    Ok(m) => eprintln!("  postgres, {nodes}: {}", m.summary()),
                    Err(e) => eprintln!("  postgres, {nodes}: {op}: not measured: {e}"),
                }
            }
            rows.push((op.to_string(), one, two));
        }
        drop((a, b));
        // The figures above left PostgreSQL with dirty buffers to write back; written now, so
        // that the writing does not share the machine's cores with a figure that touches no
        // database (without the privilege to, the figure is taken as it is).
        let _ = admin(server, "CHECKPOINT").await;
        let c = node(binary, &work.join("pg-c"), &url, &["--no-audit"])?;
        let tc = Target::new(&c.url)?;
        let untrailed_encrypt = match tc.prepare("Encrypt").await {
            Ok(p) => measure_split(&[&tc], &p, connections, duration).await,
            Err(e) => Err(e),
        };
        if let Ok(m) = &untrailed_encrypt {
            eprintln!("  postgres, one node, --no-audit: {}", m.summary());
        }
        Ok(PgFigures {
            commit_ceiling,
            rows,
            untrailed_encrypt,
        })
    }
    .await;
    admin(
        server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await?;
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls() {
        assert_eq!(
            super::database_url("postgres://u@h:5432/postgres", "x").unwrap(),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::database_url("postgres://u@h?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
