//! IMAP as a member's mail client uses it: log in, open INBOX.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Logs in and opens INBOX: the number of messages, or why not.
pub async fn inbox(imap: SocketAddr, user: &str, password: &str) -> Result<u32, String> {
    let stream = tokio::net::TcpStream::connect(imap)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .ok_or("no greeting")?
        .map_err(|e| e.to_string())?;
    let mut session = client
        .login(user, password)
        .await
        .map_err(|(e, _)| e.to_string())?;
    let mailbox = session.select("INBOX").await.map_err(|e| e.to_string())?;
    let _ = session.logout().await;
    Ok(mailbox.exists)
}

/// Polls the login until `wanted` holds (a failed login takes Dovecot's ~2 s auth delay).
pub async fn login_until(
    imap: SocketAddr,
    user: &str,
    password: &str,
    wanted: impl Fn(&Result<u32, String>) -> bool,
) -> Result<u32, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = inbox(imap, user, password).await;
        if wanted(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
