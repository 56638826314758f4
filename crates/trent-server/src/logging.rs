//! Log output: human-readable text (default) or one JSON object per line (`--log-format json`,
//! `TRENT_LOG_FORMAT`), filtered by `TRENT_LOG` (default `info`).
//!
//! Every KMS request ends in one event of target `trent::request` whose span carries the request
//! id, dialect, operation, principal (access key id), account and key ARN, with the outcome and
//! latency on the event. Nothing logs request or response bodies, headers or key material, so
//! neither format can carry plaintext, data keys or secrets.

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber, writing to stderr.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Whether text lines are coloured: only on a terminal, and not with `NO_COLOR` set to anything
/// but the empty string (no-color.org). A log redirected to a file or a collector gets plain
/// text; colouring it cost a pinned server about a quarter of its per-request logging time, for
/// escape codes nobody reads (docs/BENCHMARK-ANALYSIS.md).
fn colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
