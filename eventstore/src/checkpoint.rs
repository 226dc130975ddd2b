//! Consumers' checkpoints: where each subscriber got to in the log.

use sqlx::PgConnection;

use crate::error::Error;
use crate::input;
use crate::position::Position;
use crate::store::EventStore;
use crate::subscription::{Subscription, SubscriptionFilter};

impl EventStore {
    /// A subscription that starts at the stored checkpoint of `consumer` (or the start).
    pub async fn subscribe_from_checkpoint(
        &self,
        consumer: &str,
        filter: SubscriptionFilter,
    ) -> Result<Subscription, Error> {
        let after = self.checkpoint(consumer).await?.unwrap_or(Position::START);
        Ok(self.subscribe(filter, after))
    }

    /// The stored checkpoint of a consumer.
    pub async fn checkpoint(&self, consumer: &str) -> Result<Option<Position>, Error> {
        input::consumer(consumer)?;
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id, seq FROM checkpoints WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(tx_id, seq)| Position { tx_id, seq }))
    }

    /// Stores the checkpoint of a consumer outside any transaction.
    pub async fn save_checkpoint(&self, consumer: &str, position: Position) -> Result<(), Error> {
        let mut conn = self.pool().acquire().await?;
        save_checkpoint_on(&mut conn, consumer, position).await
    }
}

pub(crate) async fn save_checkpoint_on(
    conn: &mut PgConnection,
    consumer: &str,
    position: Position,
) -> Result<(), Error> {
    input::consumer(consumer)?;
    sqlx::query(
        "INSERT INTO checkpoints (consumer, tx_id, seq) VALUES ($1, $2, $3)
         ON CONFLICT (consumer) DO UPDATE SET tx_id = $2, seq = $3, updated_at = now()",
    )
    .bind(consumer)
    .bind(position.tx_id)
    .bind(position.seq)
    .execute(conn)
    .await?;
    Ok(())
}
