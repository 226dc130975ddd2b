//! Text messages: the credentials message when a member is authorized, the invitation
//! message when an admin is invited, the new password after a reset. The secret comes from
//! the secret table and is deleted once the message is sent; the outcome is an event in
//! `sms-{source event id}`, which also makes a second send of the same message visible.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use domain::notification;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use app::retry::backoff;

mod worker;

pub use worker::SmsWorker;

/// One message to send.
#[derive(Debug, Clone, Serialize)]
pub struct Sms {
    /// The phone number.
    pub to: String,
    /// The text, secrets included.
    pub text: String,
    /// The event that asked for it: the provider's idempotency key.
    pub id: Uuid,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later.
    #[error("{0}")]
    Transient(String),
    /// The provider refused the message.
    #[error("{0}")]
    Refused(String),
}

/// A future a provider returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Something that delivers text messages.
pub trait SmsProvider: Send + Sync {
    /// Its name, recorded in SmsSent.
    fn name(&self) -> &'static str;
    /// Sends one message; sending the same `id` twice must deliver it once.
    fn send<'a>(&'a self, sms: &'a Sms) -> Sending<'a>;
}

/// Local mode: appends each message, unmasked, to a file in the data folder, and logs that
/// it did so with the phone masked and no text.
#[derive(Debug, Clone)]
pub struct LogProvider {
    file: PathBuf,
}

impl LogProvider {
    /// Messages go to `file` (JSON lines: id, to, text).
    pub fn new(file: PathBuf) -> Self {
        LogProvider { file }
    }
}

impl SmsProvider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> Sending<'a> {
        Box::pin(async move {
            let mut line =
                serde_json::to_string(sms).map_err(|e| SendError::Refused(e.to_string()))?;
            line.push('\n');
            // Idempotent by message id, as a gateway is by Idempotency-Key: a crash between
            // writing and recording the outcome must not text the person twice.
            let marker = format!("\"id\":\"{}\"", sms.id);
            if tokio::fs::read_to_string(&self.file)
                .await
                .is_ok_and(|text| text.contains(&marker))
            {
                return Ok(());
            }
            // The log holds passwords and invitation tokens in clear: its owner only, also
            // when an earlier version (or a person) left it readable.
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.file)
                .await
                .map_err(|e| SendError::Transient(format!("{}: {e}", self.file.display())))?;
            file.set_permissions(
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
            )
            .await
            .map_err(|e| SendError::Transient(format!("{}: {e}", self.file.display())))?;
            file.write_all(line.as_bytes())
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?;
            // tokio hands writes to a blocking thread: without this the line may not be in
            // the file yet when the outcome is recorded (or the next message looks for it).
            file.flush()
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?;
            tracing::info!(to = %notification::mask_phone(&sms.to), id = %sms.id, file = %self.file.display(), "text message written (log provider; text withheld from the log)");
            Ok(())
        })
    }
}

/// An SMS gateway over HTTP: `POST url` with JSON `{to, text, id}` and the `id` as
/// `Idempotency-Key`. 2xx sent; 429 and 5xx (and no answer) retried with backoff; any other
/// answer is a refusal.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    client: reqwest::Client,
    url: String,
    attempts: u32,
    base_wait: Duration,
}

impl HttpProvider {
    /// A gateway at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        HttpProvider {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            url: url.into(),
            attempts: 6,
            base_wait: Duration::from_millis(200),
        }
    }

    /// Tries per message before the worker's own (slower) retry takes over, and the first wait.
    pub fn with_retries(mut self, attempts: u32, base_wait: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.base_wait = base_wait;
        self
    }
}

impl SmsProvider for HttpProvider {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> Sending<'a> {
        Box::pin(async move {
            let mut last = String::new();
            for attempt in 0..self.attempts {
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt, self.base_wait, Duration::from_secs(10)))
                        .await;
                }
                let answer = self
                    .client
                    .post(&self.url)
                    .header("Idempotency-Key", sms.id.to_string())
                    .json(sms)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => return Ok(()),
                    Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                        last = format!("the SMS gateway answered {}", r.status());
                    }
                    Ok(r) => {
                        return Err(SendError::Refused(format!(
                            "the SMS gateway refused the message: {}",
                            r.status()
                        )))
                    }
                    Err(e) => last = format!("the SMS gateway did not answer: {e}"),
                }
            }
            Err(SendError::Transient(last))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_message_written_before_a_crash_is_not_written_again() {
        let file = std::env::temp_dir().join(format!("mailplane-smsonce-{}", Uuid::now_v7()));
        let sms = Sms {
            to: "13800138000".into(),
            text: "x".into(),
            id: Uuid::now_v7(),
        };
        let provider = LogProvider::new(file.clone());
        provider.send(&sms).await.unwrap();
        provider.send(&sms).await.unwrap();
        let other = Sms {
            id: Uuid::now_v7(),
            ..sms.clone()
        };
        provider.send(&other).await.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 2);
        std::fs::remove_file(&file).unwrap();
    }

    #[tokio::test]
    async fn the_sms_log_with_passwords_is_readable_by_its_owner_only() {
        let file = std::env::temp_dir().join(format!("mailplane-smslog-{}", Uuid::now_v7()));
        // A log an earlier version left readable by everyone.
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sms = Sms {
            to: "13800138000".into(),
            text: "密码：Zw-Passw0rd!9".into(),
            id: Uuid::now_v7(),
        };
        LogProvider::new(file.clone()).send(&sms).await.unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(&file).unwrap();
        LogProvider::new(file.clone()).send(&sms).await.unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "created private");
        std::fs::remove_file(&file).unwrap();
    }
}
