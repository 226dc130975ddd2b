//! Talking to the old server ourselves: is it there (the greeting), and does an account log
//! in (and how much mail it holds). doveadm aborts on a failed login without a usable exit
//! code, so each account is checked here first and the failure classified from the
//! protocol's own answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::migration::{MailProtocol, MailSource};
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::mutf7;
use crate::webhook::Targets;

/// How long a connection, a greeting or one command may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why the old server could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No connection, no greeting, TLS refused, timed out: worth trying again later.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server refused the account and password.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The host is a private or loopback address and the operator does not allow those.
    #[error("the host is a private or loopback address, which is not allowed here")]
    NotAllowed,
    /// The server answered something we do not understand.
    #[error("the server answered unexpectedly: {0}")]
    Protocol(String),
}

/// A folder of the old account: its name in UTF-8 with `/` between levels, and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldFolder {
    pub name: String,
    pub messages: u64,
}

/// Connects and reads the server's greeting.
pub async fn greet(source: &MailSource, targets: Targets) -> Result<(), ProbeError> {
    let tcp = connect(source, targets).await?;
    if source.tls {
        let tls = tls(source, tcp).await?;
        read_greeting(source.protocol, tls).await
    } else {
        read_greeting(source.protocol, tcp).await
    }
}

/// Logs in as `user` and lists the folders with their message counts.
pub async fn login(
    source: &MailSource,
    targets: Targets,
    user: &str,
    password: &str,
) -> Result<Vec<OldFolder>, ProbeError> {
    let tcp = connect(source, targets).await?;
    let work = async {
        match (source.protocol, source.tls) {
            (MailProtocol::Imap, false) => imap_folders(tcp, user, password).await,
            (MailProtocol::Imap, true) => {
                imap_folders(tls(source, tcp).await?, user, password).await
            }
            (MailProtocol::Pop3, false) => pop3_count(tcp, user, password).await,
            (MailProtocol::Pop3, true) => pop3_count(tls(source, tcp).await?, user, password).await,
        }
    };
    tokio::time::timeout(TIMEOUT * 3, work)
        .await
        .map_err(|_| ProbeError::Unreachable("the server stopped answering".into()))?
}

/// The first address of the host the operator allows.
async fn connect(source: &MailSource, targets: Targets) -> Result<TcpStream, ProbeError> {
    let lookup = tokio::net::lookup_host((source.host.as_str(), source.port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(TIMEOUT, lookup)
        .await
        .map_err(|_| ProbeError::Unreachable("the host name did not resolve in time".into()))?
        .map_err(|e| ProbeError::Unreachable(format!("{}: {e}", source.host)))?
        .collect();
    if addrs.is_empty() {
        return Err(ProbeError::Unreachable(format!(
            "{} has no address",
            source.host
        )));
    }
    let Some(addr) = addrs.into_iter().find(|a| targets.allows(a.ip())) else {
        return Err(ProbeError::NotAllowed);
    };
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| ProbeError::Unreachable(format!("{addr}: timed out")))?
        .map_err(|e| ProbeError::Unreachable(format!("{addr}: {e}")))
}

async fn tls(
    source: &MailSource,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ProbeError> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(source.host.clone())
        .map_err(|e| ProbeError::Unreachable(format!("{}: {e}", source.host)))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ProbeError::Unreachable("TLS handshake timed out".into()))?
        .map_err(|e| ProbeError::Unreachable(format!("TLS: {e}")))
}

async fn read_greeting(
    protocol: MailProtocol,
    stream: impl AsyncRead + Unpin,
) -> Result<(), ProbeError> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream).take(4096);
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| ProbeError::Unreachable("no greeting in time".into()))?
        .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
    let expected = match protocol {
        MailProtocol::Imap => "* OK",
        MailProtocol::Pop3 => "+OK",
    };
    if line.starts_with(expected)
        || (protocol == MailProtocol::Imap && line.starts_with("* PREAUTH"))
    {
        Ok(())
    } else {
        Err(ProbeError::Protocol(format!(
            "expected a {} greeting, got {:?}",
            match protocol {
                MailProtocol::Imap => "IMAP",
                MailProtocol::Pop3 => "POP3",
            },
            line.chars().take(80).collect::<String>()
        )))
    }
}

async fn imap_folders<S>(
    stream: S,
    user: &str,
    password: &str,
) -> Result<Vec<OldFolder>, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let unreachable = |e: async_imap::error::Error| ProbeError::Unreachable(e.to_string());
    let mut client = async_imap::Client::new(stream);
    match client.read_response().await {
        Some(Ok(_)) => {}
        Some(Err(e)) => return Err(ProbeError::Unreachable(e.to_string())),
        None => return Err(ProbeError::Unreachable("no greeting".into())),
    }
    let mut session = match client.login(user, password).await {
        Ok(session) => session,
        Err((async_imap::error::Error::No(_), _)) => return Err(ProbeError::AuthenticationFailed),
        Err((e, _)) => return Err(unreachable(e)),
    };
    let names: Vec<async_imap::types::Name> = session
        .list(Some(""), Some("*"))
        .await
        .map_err(unreachable)?
        .try_collect()
        .await
        .map_err(unreachable)?;
    let mut folders = Vec::new();
    for name in names {
        // \Noselect or \NonExistent (a level `a` of `a/b`), however the server spells it.
        let unselectable = name.attributes().iter().any(|a| {
            let text = format!("{a:?}").to_ascii_lowercase();
            text.contains("noselect") || text.contains("nonexistent")
        });
        if unselectable {
            continue;
        }
        let status = match session.status(name.name(), "(MESSAGES)").await {
            Ok(status) => status,
            // A level that exists only through its children holds no mail.
            Err(async_imap::error::Error::No(_)) => continue,
            Err(e) => return Err(unreachable(e)),
        };
        let delimiter = name.delimiter().unwrap_or("/");
        let utf8 = mutf7::decode(name.name()).unwrap_or_else(|| name.name().to_owned());
        folders.push(OldFolder {
            name: if delimiter == "/" {
                utf8
            } else {
                utf8.replace(delimiter, "/")
            },
            messages: u64::from(status.exists),
        });
    }
    let _ = session.logout().await;
    Ok(folders)
}

async fn pop3_count<S>(stream: S, user: &str, password: &str) -> Result<Vec<OldFolder>, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    // One command, one line: `+OK …` or `-ERR …`.
    async fn say<S: AsyncRead + AsyncWrite + Unpin>(
        stream: &mut BufReader<S>,
        command: Option<&str>,
    ) -> Result<String, ProbeError> {
        if let Some(command) = command {
            if command.contains(['\r', '\n']) {
                return Err(ProbeError::AuthenticationFailed);
            }
            stream
                .get_mut()
                .write_all(format!("{command}\r\n").as_bytes())
                .await
                .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
        }
        let mut line = String::new();
        let n = (&mut *stream)
            .take(4096)
            .read_line(&mut line)
            .await
            .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
        if n == 0 {
            return Err(ProbeError::Unreachable(
                "the server closed the connection".into(),
            ));
        }
        Ok(line)
    }
    let greeting = say(&mut stream, None).await?;
    if !greeting.starts_with("+OK") {
        return Err(ProbeError::Protocol("no POP3 greeting".into()));
    }
    if !say(&mut stream, Some(&format!("USER {user}")))
        .await?
        .starts_with("+OK")
        || !say(&mut stream, Some(&format!("PASS {password}")))
            .await?
            .starts_with("+OK")
    {
        return Err(ProbeError::AuthenticationFailed);
    }
    let stat = say(&mut stream, Some("STAT")).await?;
    let messages = stat
        .strip_prefix("+OK ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ProbeError::Protocol(format!("STAT answered {}", stat.trim_end())))?;
    let _ = say(&mut stream, Some("QUIT")).await;
    Ok(vec![OldFolder {
        name: "INBOX".into(),
        messages,
    }])
}
