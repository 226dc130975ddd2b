//! The subscriptions read model.

use super::*;

pub(crate) async fn subscriptions(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use SubscriptionEvent as E;
    let id = stream_id(event)?;
    let e: SubscriptionEvent = decode_serde(event)?;
    let q = match &e {
        E::TrialStarted { order_id, buyer_account_id, edition, seats, trial_ends_at, .. } => sqlx::query(
            "INSERT INTO subscriptions (id, order_id, buyer_account_id, edition, seats, status, trial_ends_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $8, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(order_id)
        .bind(buyer_account_id)
        .bind(edition)
        .bind(*seats as i32)
        .bind(trial_ends_at)
        .bind(event.recorded_at).bind(SubscriptionStatus::Trial.as_str()),
        E::SubscriptionPurchased { order_id, buyer_account_id, edition, seats, amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "INSERT INTO subscriptions (id, order_id, buyer_account_id, edition, seats, status, activated_at, expires_at, paid, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(order_id)
        .bind(buyer_account_id)
        .bind(edition)
        .bind(*seats as i32)
        .bind(activated_at)
        .bind(expires_at)
        .bind(amount)
        .bind(currency)
        .bind(event.recorded_at).bind(SubscriptionStatus::Active.as_str()),
        E::TrialConverted { amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = $6, activated_at = $2, expires_at = $3, paid = paid + $4, currency = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(activated_at)
        .bind(expires_at)
        .bind(amount)
        .bind(currency).bind(SubscriptionStatus::Active.as_str()),
        E::SeatsExpanded { new_total, amount, .. } => {
            sqlx::query("UPDATE subscriptions SET seats = $2, paid = paid + $3 WHERE id = $1").bind(id).bind(*new_total as i32).bind(amount)
        }
        E::SubscriptionRenewed { amount, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = $4, expires_at = $2, paid = paid + $3, data_delete_due = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(expires_at)
        .bind(amount).bind(SubscriptionStatus::Active.as_str()),
        E::Unsubscribed { .. } => sqlx::query("UPDATE subscriptions SET status = $2 WHERE id = $1").bind(id).bind(SubscriptionStatus::Unsubscribed.as_str()),
        E::TrialExpired { data_delete_due } | E::SubscriptionExpired { data_delete_due } => {
            sqlx::query("UPDATE subscriptions SET status = $3, data_delete_due = $2 WHERE id = $1").bind(id).bind(data_delete_due).bind(SubscriptionStatus::Expired.as_str())
        }
        E::SubscriptionDataPurged {} => sqlx::query("UPDATE subscriptions SET data_delete_due = NULL WHERE id = $1").bind(id),
        E::AppBound { organization_id } => {
            sqlx::query("UPDATE subscriptions SET organization_id = $2 WHERE id = $1").bind(id).bind(organization_id)
        }
        E::SeatAssigned { .. } => sqlx::query("UPDATE subscriptions SET authorized = authorized + 1 WHERE id = $1").bind(id),
        E::SeatReleased { .. } => sqlx::query("UPDATE subscriptions SET authorized = authorized - 1 WHERE id = $1").bind(id),
    };
    q.execute(conn).await?;
    Ok(())
}
