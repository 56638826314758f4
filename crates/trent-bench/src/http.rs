//! A minimal HTTP/1.1 keep-alive client: enough to send a prepared request and read one answer
//! (status and `content-length` body). Small on purpose, so the generator's own cost stays low.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long one request may wait for its answer.
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub struct Conn {
    host: String,
    stream: BufReader<TcpStream>,
    line: String,
    /// The server said `Connection: close` (moto's server does after every answer): the next
    /// request opens a new connection, and that cost is part of its latency.
    closed: bool,
}

impl Conn {
    pub async fn open(host: &str) -> Result<Self, String> {
        Ok(Self {
            host: host.to_owned(),
            stream: Self::connect(host).await?,
            line: String::new(),
            closed: false,
        })
    }

    async fn connect(host: &str) -> Result<BufReader<TcpStream>, String> {
        let stream = TcpStream::connect(host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(BufReader::new(stream))
    }

    /// Sends `request` (a complete HTTP/1.1 request) and returns the status and body. A server
    /// that does not answer within [`ANSWER_TIMEOUT`] is an error, never a hang.
    pub async fn send(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
        match tokio::time::timeout(ANSWER_TIMEOUT, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {ANSWER_TIMEOUT:?}")),
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let io = |e: std::io::Error| e.to_string();
        if self.closed {
            self.stream = Self::connect(&self.host).await?;
            self.closed = false;
        }
        self.stream.get_mut().write_all(request).await.map_err(io)?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await.map_err(io)?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {:?}", self.line))?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await.map_err(io)? == 0 {
                return Err("connection closed".into());
            }
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value
                        .trim()
                        .parse()
                        .map_err(|_| "bad content-length".to_owned())?;
                } else if name.eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
                {
                    self.closed = true;
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        Ok((status, body))
    }
}
