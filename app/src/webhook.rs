//! Webhook endpoints and Standard Webhooks signing (standardwebhooks.com): secrets are
//! `whsec_<base64 of 32 random bytes>`, a delivery carries `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one entry per
//! valid secret (several during a rotation).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::secrets::{Purpose, SecretError, SecretStore};

mod deliveries;
mod target;

pub use target::{is_public, Targets};

pub use deliveries::*;

/// How long a rotated-out secret keeps signing, so receivers can switch over.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// Why a webhook secret is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a webhook secret (whsec_ followed by base64)")]
pub struct BadSecret;

/// A new secret.
pub fn new_secret() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|_| SecretError::BadKey)?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// The key bytes of a secret (with or without its `whsec_` prefix).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| BadSecret)?;
    if key.len() < 16 {
        return Err(BadSecret);
    }
    Ok(key)
}

/// The `webhook-signature` header: `v1,<signature>` for each key, space-separated.
pub fn sign(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .filter_map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where an endpoint's deliveries stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    /// Deliveries go out.
    Active,
    /// Stopped by an operator; events wait, nothing is skipped.
    Paused,
    /// Keeps failing; deliveries are still retried.
    Failing,
}

impl EndpointStatus {
    /// The label, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Active => "ACTIVE",
            EndpointStatus::Paused => "PAUSED",
            EndpointStatus::Failing => "FAILING",
        }
    }
}

impl TryFrom<String> for EndpointStatus {
    type Error = String;
    fn try_from(label: String) -> Result<Self, String> {
        [
            EndpointStatus::Active,
            EndpointStatus::Paused,
            EndpointStatus::Failing,
        ]
        .into_iter()
        .find(|s| s.as_str() == label)
        .ok_or_else(|| format!("unknown webhook status {label:?}"))
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Retried later.
    Failed,
    /// Failed for longer than the give-up period.
    GaveUp,
}

impl DeliveryOutcome {
    /// The label, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "DELIVERED",
            DeliveryOutcome::Failed => "FAILED",
            DeliveryOutcome::GaveUp => "GAVE_UP",
        }
    }
}

/// An endpoint as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub categories: Vec<String>,
    #[sqlx(try_from = "String")]
    pub status: EndpointStatus,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Endpoint {
    /// Its checkpoint's consumer name.
    pub fn consumer(id: Uuid) -> String {
        format!("webhook:{id}")
    }
}

/// Why an endpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error("no such webhook")]
    NotFound,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] eventstore::Error),
}

/// Checks a URL: http(s) with a host that `targets` allows, no credentials, at most 2000
/// characters.
pub fn check_url(url: &str, targets: Targets) -> Result<(), WebhookError> {
    let invalid = |message| WebhookError::Invalid {
        field: "url",
        message,
    };
    let hidden = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if url.len() > 2000
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || hidden(c))
    {
        return Err(invalid("must be at most 2000 characters, without spaces"));
    }
    let parsed = url::Url::parse(url)
        .map_err(|_| invalid("must be an http:// or https:// URL with a host"))?;
    // The URL parser forgives `https:///host`; a URL we store must say what it means.
    let written_host = url.split_once("://").map(|(_, rest)| rest);
    if !matches!(parsed.scheme(), "http" | "https")
        || written_host.is_none_or(|rest| rest.starts_with('/') || rest.starts_with('\\'))
    {
        return Err(invalid("must start with http:// or https://"));
    }
    let Some(host) = parsed.host() else {
        return Err(invalid("must name a host"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not carry a user name or password"));
    }
    if !targets.allows_host(&host) {
        return Err(invalid(
            "must point at a public address (loopback, private and link-local targets are refused)",
        ));
    }
    Ok(())
}

/// The endpoints, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Endpoint>, WebhookError> {
    Ok(
        sqlx::query_as("SELECT * FROM webhooks ORDER BY created_at DESC, id")
            .fetch_all(pool)
            .await?,
    )
}

/// One endpoint.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Endpoint, WebhookError> {
    sqlx::query_as("SELECT * FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(WebhookError::NotFound)
}

/// Registers an endpoint; answers it and its secret (shown this once).
pub async fn register(
    pool: &PgPool,
    secrets: &SecretStore,
    url: &str,
    categories: Vec<String>,
    created_by: &str,
    targets: Targets,
) -> Result<(Endpoint, String), WebhookError> {
    check_url(url, targets)?;
    let categories = crate::feed::filter(categories.clone())
        .map_err(|e| WebhookError::Invalid {
            field: "categories",
            message: e.message,
        })
        .map(|_| categories)?;
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO webhooks (id, url, categories, created_by) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(url)
        .bind(&categories)
        .bind(created_by)
        .execute(pool)
        .await?;
    let secret = add_secret(pool, secrets, id).await?;
    Ok((get(pool, id).await?, secret))
}

async fn add_secret(
    pool: &PgPool,
    secrets: &SecretStore,
    webhook: Uuid,
) -> Result<String, WebhookError> {
    let secret = new_secret()?;
    let secret_id = Uuid::now_v7();
    secrets
        .put(Purpose::WebhookSecret, secret_id, &secret)
        .await?;
    sqlx::query("INSERT INTO webhook_secrets (id, webhook_id) VALUES ($1, $2)")
        .bind(secret_id)
        .bind(webhook)
        .execute(pool)
        .await?;
    Ok(secret)
}

/// A new secret; the current one keeps signing for [`ROTATION_OVERLAP`].
pub async fn rotate(
    pool: &PgPool,
    secrets: &SecretStore,
    id: Uuid,
) -> Result<String, WebhookError> {
    get(pool, id).await?;
    sqlx::query("UPDATE webhook_secrets SET expires_at = now() + $2 WHERE webhook_id = $1 AND expires_at IS NULL")
        .bind(id)
        .bind(ROTATION_OVERLAP)
        .execute(pool)
        .await?;
    add_secret(pool, secrets, id).await
}

/// The keys that sign now, newest first.
pub async fn signing_keys(
    pool: &PgPool,
    secrets: &SecretStore,
    id: Uuid,
) -> Result<Vec<Vec<u8>>, WebhookError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM webhook_secrets WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > now())
         ORDER BY created_at DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let mut keys = Vec::new();
    for secret_id in ids {
        if let Some(secret) = secrets.get(Purpose::WebhookSecret, secret_id).await? {
            keys.push(decode_secret(&secret).map_err(|_| SecretError::Decrypt)?);
        }
    }
    Ok(keys)
}

/// A failing endpoint delivered again: ACTIVE.
pub async fn mark_recovered(pool: &PgPool, id: Uuid) -> Result<(), WebhookError> {
    sqlx::query(
        "UPDATE webhooks SET status = $2, failing_since = NULL WHERE id = $1 AND status = $3",
    )
    .bind(id)
    .bind(EndpointStatus::Active.as_str())
    .bind(EndpointStatus::Failing.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// An active endpoint keeps failing since `since`: FAILING.
pub async fn mark_failing(
    pool: &PgPool,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<(), WebhookError> {
    sqlx::query(
        "UPDATE webhooks SET status = $3, failing_since = coalesce(failing_since, $2)
         WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(since)
    .bind(EndpointStatus::Failing.as_str())
    .bind(EndpointStatus::Active.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// Pauses (`PAUSED`) or resumes (`ACTIVE`) deliveries.
pub async fn set_paused(pool: &PgPool, id: Uuid, paused: bool) -> Result<Endpoint, WebhookError> {
    let status = if paused {
        EndpointStatus::Paused
    } else {
        EndpointStatus::Active
    }
    .as_str();
    let changed =
        sqlx::query("UPDATE webhooks SET status = $2, failing_since = NULL WHERE id = $1")
            .bind(id)
            .bind(status)
            .execute(pool)
            .await?
            .rows_affected();
    if changed == 0 {
        return Err(WebhookError::NotFound);
    }
    get(pool, id).await
}

/// Removes an endpoint, its secrets, deliveries and checkpoint.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<Endpoint, WebhookError> {
    let endpoint = get(pool, id).await?;
    let secret_ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM webhook_secrets WHERE webhook_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM secrets WHERE purpose = 'webhook_secret' AND subject = ANY($1)")
        .bind(&secret_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM checkpoints WHERE consumer = $1")
        .bind(Endpoint::consumer(id))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(endpoint)
}

/// Delivers again from `after` (a feed cursor; the start when None).
pub async fn replay(
    pool: &PgPool,
    id: Uuid,
    after: eventstore::Position,
) -> Result<Endpoint, WebhookError> {
    get(pool, id).await?;
    let store = eventstore::EventStore::new(pool.clone());
    store
        .save_checkpoint(&Endpoint::consumer(id), after)
        .await?;
    get(pool, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_test_vector() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &[key],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn two_keys_sign_twice_and_bad_secrets_are_refused() {
        let a = decode_secret(&new_secret().unwrap()).unwrap();
        let b = decode_secret(&new_secret().unwrap()).unwrap();
        assert_eq!(a.len(), 32);
        let header = sign(&[a, b], "id", 1, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
        assert_eq!(decode_secret("whsec_not base64!"), Err(BadSecret));
        assert_eq!(decode_secret("whsec_c2hvcnQ="), Err(BadSecret));
    }

    #[test]
    fn urls_are_checked() {
        let public = Targets::PublicOnly;
        assert!(check_url("https://billing.example/hooks", public).is_ok());
        assert!(check_url("http://127.0.0.1:9000/x", Targets::AnyAddress).is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https:///path",
            "billing.example",
            "https://a b",
            "https://user:pw@billing.example/",
            "https://billing.example/\u{202e}x",
        ] {
            assert!(check_url(bad, Targets::AnyAddress).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_webhook_pointed_at_loopback_private_or_metadata_addresses_is_refused() {
        for target in [
            "http://127.0.0.1:9000/x",
            "http://localhost/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://[::ffff:127.0.0.1]/",
            "http://metadata.google.internal/",
        ] {
            assert!(
                matches!(
                    check_url(target, Targets::PublicOnly),
                    Err(WebhookError::Invalid { field: "url", .. })
                ),
                "{target}"
            );
        }
    }
}
