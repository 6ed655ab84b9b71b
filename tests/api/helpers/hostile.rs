//! A loopback HTTP server that answers as a hostile target would: endless bodies,
//! bodies that claim one length and send another, huge error texts.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server answers to one request path.
#[derive(Clone)]
pub enum Answer {
    /// 200 with this JSON.
    Json(String),
    /// 200 with a chunked body that goes on for `bytes` (10 GB, say).
    Endless { bytes: u64 },
    /// This status with this body.
    Status(u16, String),
    /// A whole answer as written (status line, headers, body).
    Raw(String),
}

/// Serves `answer(path)` to every request until dropped; the port.
pub async fn serve(
    answer: impl Fn(&str) -> Answer + Send + Sync + 'static,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let written = match answer(&path) {
                        Answer::Json(json) => {
                            s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}", json.len()).as_bytes()).await
                        }
                        Answer::Status(code, text) => {
                            s.write_all(format!("HTTP/1.1 {code} Hostile\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}", text.len()).as_bytes()).await
                        }
                        Answer::Raw(text) => s.write_all(text.as_bytes()).await,
                        Answer::Endless { bytes } => {
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
                            let chunk = vec![b'['; 64 * 1024];
                            let mut sent = 0u64;
                            while sent < bytes {
                                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                                if s.write_all(&framed).await.is_err() {
                                    return;
                                }
                                sent += chunk.len() as u64;
                            }
                            let _ = s.write_all(b"0\r\n\r\n").await;
                            return;
                        }
                    };
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

/// This process's peak resident memory so far (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}
