use std::sync::Arc;
use std::time::Duration;

use eventstore::{EventStore, Position, SubscriptionFilter};
use sqlx::{Executor, PgConnection};

use crate::apply::apply_batch;
use crate::Projection;

/// Events folded per transaction.
const BATCH: usize = 500;
/// The schema a rebuild writes into before swapping its tables in.
const REBUILD_SCHEMA: &str = "projection_rebuild";

/// Why a projection could not fold an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] eventstore::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stream {0} has no id after its category")]
    BadStream(String),
    #[error("projection {0} did not reach the position within the time allowed")]
    Timeout(&'static str),
}

/// Locks (creating it at the start if needed) a consumer's checkpoint row and reads it.
async fn lock_checkpoint(
    conn: &mut PgConnection,
    consumer: &str,
) -> Result<Position, ProjectionError> {
    sqlx::query(
        "INSERT INTO checkpoints (consumer, tx_id, seq) VALUES ($1, 0, 0) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .execute(&mut *conn)
    .await?;
    let (tx_id, seq): (i64, i64) =
        sqlx::query_as("SELECT tx_id, seq FROM checkpoints WHERE consumer = $1 FOR UPDATE")
            .bind(consumer)
            .fetch_one(conn)
            .await?;
    Ok(Position { tx_id, seq })
}

/// Runs projections over the event store.
#[derive(Clone)]
pub struct Runner {
    store: EventStore,
    /// One catch-up per projection at a time in this process: a batch holds its checkpoint
    /// lock on one connection while it reads on another, so many concurrent catch-ups
    /// (every mutation waits for its read models) would take every connection of the pool
    /// and wait for one more. The rest wait here, holding none.
    folding: Arc<[tokio::sync::Mutex<()>; Projection::ALL.len()]>,
}

impl Runner {
    pub fn new(store: EventStore) -> Self {
        Runner {
            store,
            folding: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
        }
    }

    /// Folds every event available now into the projection's tables; returns how many.
    pub async fn catch_up(&self, projection: Projection) -> Result<usize, ProjectionError> {
        let index = Projection::ALL
            .iter()
            .position(|p| *p == projection)
            .unwrap_or(0);
        let _turn = self.folding[index].lock().await;
        self.catch_up_into(projection, &projection.consumer(), None)
            .await
    }

    /// Folds events batch by batch, each batch and the checkpoint in one transaction.
    /// `schema`: write into that schema's copies of the tables (rebuild).
    async fn catch_up_into(
        &self,
        projection: Projection,
        consumer: &str,
        schema: Option<&str>,
    ) -> Result<usize, ProjectionError> {
        let filter = SubscriptionFilter::categories(projection.categories().iter().copied());
        let mut total = 0;
        loop {
            let mut tx = self.store.begin().await?;
            // The checkpoint row is the projection's lock: a second runner (another process,
            // or a mutation catching up for read-your-writes) waits here and then continues
            // from where this one ended, so no event is folded twice.
            let after = lock_checkpoint(tx.connection(), consumer).await?;
            let batch = self.store.read_filtered(&filter, after, BATCH).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Ok(total);
            };
            if let Some(schema) = schema {
                // Unqualified table names resolve to the rebuild copies first.
                tx.connection()
                    .execute(format!("SET LOCAL search_path = {schema}, public").as_str())
                    .await?;
            }
            apply_batch(projection, tx.connection(), &batch).await?;
            tx.save_checkpoint(consumer, last).await?;
            tx.commit().await?;
            total += batch.len();
        }
    }

    /// Keeps the projection up to date until `stop` resolves: catch up, then wait for new
    /// events (woken by the store), and again. Errors are logged and retried.
    pub async fn run(&self, projection: Projection, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let filter = SubscriptionFilter::categories(projection.categories().iter().copied());
        loop {
            if let Err(e) = self.catch_up(projection).await {
                tracing::error!(projection = projection.name(), error = %e, "projection failed; retrying");
                // The database may be away: wait before the next try instead of spinning.
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            let after = self
                .store
                .checkpoint(&projection.consumer())
                .await
                .ok()
                .flatten()
                .unwrap_or(Position::START);
            let mut sub = self.store.subscribe(filter.clone(), after);
            tokio::select! {
                () = &mut stop => return,
                next = sub.next() => if next.is_err() {
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                },
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Waits until the projection has folded everything up to `position` (read-your-writes
    /// for a mutation's answer), at most `timeout`.
    pub async fn wait_for(
        &self,
        projection: Projection,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let at = self
                .store
                .checkpoint(&projection.consumer())
                .await?
                .unwrap_or(Position::START);
            if at >= position {
                return Ok(());
            }
            // Catching up here is safe: batches are transactions with their checkpoint.
            self.catch_up(projection).await?;
            if tokio::time::Instant::now() > deadline {
                return Err(ProjectionError::Timeout(projection.name()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (bounded) until the read models of the written streams have folded the write,
    /// so an answer to the writer reflects it; a lag is logged, not an error (the write
    /// stands).
    pub async fn settle(&self, written: &[(String, Position)]) {
        for (stream, position) in written {
            let category = eventstore::category_of(stream);
            for p in Projection::ALL {
                if p != Projection::AuditLog && p.categories().contains(&category) {
                    if let Err(e) = self.wait_for(p, *position, Duration::from_secs(5)).await {
                        tracing::warn!(error = %e, "read model lags behind a write");
                    }
                }
            }
        }
    }

    /// Waits until every read model has folded every event of its categories recorded so
    /// far (tests and one-shot tools that act on read models right after writing).
    pub async fn wait_for_all(&self, timeout: Duration) -> Result<(), ProjectionError> {
        for projection in Projection::ALL {
            let categories: Vec<String> = projection
                .categories()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let last: Option<(i64, i64)> = sqlx::query_as(
                // Per category from its index range (see `EventStore::read_filtered`).
                "SELECT e.tx_id, e.seq FROM unnest($1::text[]) AS c(category)
                 CROSS JOIN LATERAL (
                     SELECT tx_id, seq FROM events
                     WHERE (category, tx_id, seq) > (c.category, -1, -1)
                       AND (category, tx_id, seq) < (c.category, 9223372036854775807, 0)
                     ORDER BY category DESC, tx_id DESC, seq DESC LIMIT 1
                 ) e
                 ORDER BY e.tx_id DESC, e.seq DESC LIMIT 1",
            )
            .bind(&categories)
            .fetch_optional(self.store.pool())
            .await?;
            if let Some((tx_id, seq)) = last {
                self.wait_for(projection, Position { tx_id, seq }, timeout)
                    .await?;
            }
        }
        Ok(())
    }

    /// Rebuilds several projections side by side (each on its own connection); how many
    /// events each folded.
    pub async fn rebuild_all(&self, chosen: &[Projection]) -> Result<Vec<usize>, ProjectionError> {
        // Made once here: concurrent `CREATE SCHEMA IF NOT EXISTS` can collide.
        self.store
            .pool()
            .execute(format!("CREATE SCHEMA IF NOT EXISTS {REBUILD_SCHEMA}").as_str())
            .await?;
        futures_util::future::try_join_all(chosen.iter().map(|p| self.rebuild(*p))).await
    }

    /// Replays the projection from the start into fresh copies of its tables, then swaps
    /// them in with the new checkpoint in one transaction.
    pub async fn rebuild(&self, projection: Projection) -> Result<usize, ProjectionError> {
        let pool = self.store.pool();
        let rebuild_consumer = format!("rebuild:{}", projection.name());
        pool.execute(format!("CREATE SCHEMA IF NOT EXISTS {REBUILD_SCHEMA}").as_str())
            .await?;
        for table in projection.tables() {
            pool.execute(
                format!(
                    "DROP TABLE IF EXISTS {REBUILD_SCHEMA}.{table};
                     CREATE TABLE {REBUILD_SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)"
                )
                .as_str(),
            )
            .await?;
        }
        sqlx::query("DELETE FROM checkpoints WHERE consumer = $1")
            .bind(&rebuild_consumer)
            .execute(pool)
            .await?;
        let folded = self
            .catch_up_into(projection, &rebuild_consumer, Some(REBUILD_SCHEMA))
            .await?;

        let mut tx = self.store.begin().await?;
        let conn: &mut PgConnection = tx.connection();
        for table in projection.tables() {
            // Live writers of the old tables wait here, then see the new ones.
            conn.execute(format!("LOCK TABLE public.{table} IN ACCESS EXCLUSIVE MODE").as_str())
                .await?;
        }
        // Events that arrived during the replay go into the copies before the swap.
        let at: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id, seq FROM checkpoints WHERE consumer = $1")
                .bind(&rebuild_consumer)
                .fetch_optional(&mut *conn)
                .await?;
        let mut after = at
            .map(|(tx_id, seq)| Position { tx_id, seq })
            .unwrap_or(Position::START);
        let filter = SubscriptionFilter::categories(projection.categories().iter().copied());
        conn.execute(format!("SET LOCAL search_path = {REBUILD_SCHEMA}, public").as_str())
            .await?;
        loop {
            let batch = self.store.read_filtered(&filter, after, BATCH).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                break;
            };
            apply_batch(projection, conn, &batch).await?;
            after = last;
        }
        conn.execute("SET LOCAL search_path = public").await?;
        for table in projection.tables() {
            conn.execute(format!("DROP TABLE public.{table}; ALTER TABLE {REBUILD_SCHEMA}.{table} SET SCHEMA public").as_str())
                .await?;
        }
        tx.save_checkpoint(&projection.consumer(), after).await?;
        sqlx::query("DELETE FROM checkpoints WHERE consumer = $1")
            .bind(&rebuild_consumer)
            .execute(tx.connection())
            .await?;
        tx.commit().await?;
        Ok(folded)
    }
}
