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
        E::AppUnbound { .. } => sqlx::query("UPDATE subscriptions SET organization_id = NULL WHERE id = $1").bind(id),
        E::SeatAssigned { .. } | E::SeatReleased { .. } => return count_seats(conn, std::slice::from_ref(event)).await,
    };
    q.execute(conn).await?;
    Ok(())
}

/// Folds a batch: a run of seat events (bulk authorizations) as one update of each
/// subscription's count, anything else one by one, in log order.
pub(crate) async fn subscriptions_batch(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let seats = rest
            .iter()
            .take_while(|e| matches!(e.event_type.as_str(), "SeatAssigned" | "SeatReleased"))
            .count();
        if seats > 1 {
            count_seats(conn, &rest[..seats]).await?;
            rest = &rest[seats..];
        } else {
            subscriptions(conn, first).await?;
            rest = &rest[1..];
        }
    }
    Ok(())
}

/// Seat events as one update per subscription: the net change of its count.
async fn count_seats(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut delta: std::collections::HashMap<Uuid, i32> = std::collections::HashMap::new();
    for event in events {
        let step = if event.event_type == "SeatAssigned" {
            1
        } else {
            -1
        };
        *delta.entry(stream_id(event)?).or_default() += step;
    }
    let (ids, deltas): (Vec<Uuid>, Vec<i32>) = delta.into_iter().unzip();
    sqlx::query(
        "UPDATE subscriptions s SET authorized = s.authorized + v.delta
         FROM UNNEST($1::uuid[], $2::int[]) AS v(id, delta) WHERE s.id = v.id",
    )
    .bind(&ids)
    .bind(&deltas)
    .execute(conn)
    .await?;
    Ok(())
}
