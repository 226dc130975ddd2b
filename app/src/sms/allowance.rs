//! How many text messages the use cases may ask for: per organization and per phone, in
//! the last hour. Invitations and password resets send text chosen by whoever calls them to
//! any number; without a limit the product is an SMS cannon at our expense.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;
use crate::App;

/// A message counted against the limits; [`give_back`](Self::give_back) when the command
/// that wanted it was refused.
#[must_use]
pub struct Allowance {
    id: Uuid,
}

/// The phone as the table keeps it: a hash, never the number.
fn phone_hash(phone: &str) -> String {
    let digest = Sha256::digest(phone.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Takes one message of the organization's and the phone's hourly allowance, or refuses
/// with RATE_LIMITED. Serialized per organization and per phone so concurrent requests
/// (of one organization, or of many to one phone) cannot both slip under a limit.
pub async fn take(app: &App, organization_id: Uuid, phone: &str) -> Result<Allowance, AppError> {
    let settings = app.settings();
    let now: DateTime<Utc> = app.now();
    let since = now - Duration::hours(1);
    let hash = phone_hash(phone);
    let mut tx = app.pool().begin().await?;
    // Both counts are exact under concurrency: one lock per organization, then one per
    // phone (every caller takes them in this order, so two never wait on each other in a
    // cycle). The phone's lock lives in the two-key space, apart from the organizations'.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
        .bind(organization_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock(8, hashtext($1))")
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    let (by_organization, by_phone): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE organization_id = $1),
                count(*) FILTER (WHERE phone_hash = $2)
           FROM sms_allowances
          WHERE requested_at > $3 AND (organization_id = $1 OR phone_hash = $2)",
    )
    .bind(organization_id)
    .bind(&hash)
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    if by_organization >= i64::from(settings.sms_per_organization_per_hour) {
        return Err(AppError::RateLimited(format!(
            "this organization sent {by_organization} text messages in the last hour (at most {}); try again later",
            settings.sms_per_organization_per_hour
        )));
    }
    if by_phone >= i64::from(settings.sms_per_phone_per_hour) {
        return Err(AppError::RateLimited(format!(
            "this phone got {by_phone} text messages in the last hour (at most {}); try again later",
            settings.sms_per_phone_per_hour
        )));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sms_allowances (id, organization_id, phone_hash, requested_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(&hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Allowance { id })
}

impl Allowance {
    /// Returns the message to the allowance: the command was refused and sends nothing.
    pub async fn give_back(self, app: &App) {
        if let Err(e) = sqlx::query("DELETE FROM sms_allowances WHERE id = $1")
            .bind(self.id)
            .execute(app.pool())
            .await
        {
            tracing::warn!(error = %e, "could not give back an SMS allowance");
        }
    }
}
