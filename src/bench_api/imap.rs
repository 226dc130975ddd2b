//! One IMAP LOGIN, to see a mailbox's password work on the data plane.

use std::net::SocketAddr;

use anyhow::bail;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Logs in as `user` and out again; an error unless the server said OK.
pub async fn login(server: SocketAddr, user: &str, password: &str) -> anyhow::Result<()> {
    let stream = TcpStream::connect(server).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let greeting = lines.next_line().await?.unwrap_or_default();
    if !greeting.starts_with("* OK") {
        bail!("greeting: {greeting}");
    }
    // The bench's addresses and passwords hold no quote or backslash.
    write
        .write_all(format!("a1 LOGIN \"{user}\" \"{password}\"\r\n").as_bytes())
        .await?;
    while let Some(line) = lines.next_line().await? {
        if let Some(answer) = line.strip_prefix("a1 ") {
            if !answer.starts_with("OK") {
                bail!("{user}: {answer}");
            }
            write.write_all(b"a2 LOGOUT\r\n").await?;
            return Ok(());
        }
    }
    bail!("{user}: the server closed the connection")
}
