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
             VALUES ($1, $2, $3, $4, $5, 'TRIAL', $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(order_id)
        .bind(buyer_account_id)
        .bind(edition)
        .bind(*seats as i32)
        .bind(trial_ends_at)
        .bind(event.recorded_at),
        E::SubscriptionPurchased { order_id, buyer_account_id, edition, seats, amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "INSERT INTO subscriptions (id, order_id, buyer_account_id, edition, seats, status, activated_at, expires_at, paid, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
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
        .bind(event.recorded_at),
        E::TrialConverted { amount, currency, activated_at, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = 'ACTIVE', activated_at = $2, expires_at = $3, paid = paid + $4, currency = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(activated_at)
        .bind(expires_at)
        .bind(amount)
        .bind(currency),
        E::SeatsExpanded { new_total, amount, .. } => {
            sqlx::query("UPDATE subscriptions SET seats = $2, paid = paid + $3 WHERE id = $1").bind(id).bind(*new_total as i32).bind(amount)
        }
        E::SubscriptionRenewed { amount, expires_at, .. } => sqlx::query(
            "UPDATE subscriptions SET status = 'ACTIVE', expires_at = $2, paid = paid + $3, data_delete_due = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(expires_at)
        .bind(amount),
        E::Unsubscribed { .. } => sqlx::query("UPDATE subscriptions SET status = 'UNSUBSCRIBED' WHERE id = $1").bind(id),
        E::TrialExpired { data_delete_due } | E::SubscriptionExpired { data_delete_due } => {
            sqlx::query("UPDATE subscriptions SET status = 'EXPIRED', data_delete_due = $2 WHERE id = $1").bind(id).bind(data_delete_due)
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
