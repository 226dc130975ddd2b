use sqlx::{PgConnection, Postgres, Transaction};

use crate::append;
use crate::checkpoint::save_checkpoint_on;
use crate::error::Error;
use crate::event::NewEvent;
use crate::input;
use crate::personal::Learned;
use crate::position::Position;
use crate::store::{AppendResult, EventStore, ExpectedRevision};

/// A transaction over several streams, uniqueness claims and checkpoints: all of it
/// commits, or none of it. Dropping it without [`commit`](Self::commit) rolls back.
///
/// After any error the transaction must be dropped: the caller reloads and decides again.
pub struct StoreTransaction {
    store: EventStore,
    tx: Transaction<'static, Postgres>,
    appended: bool,
    /// Keys to cache once this commits.
    learned: Learned,
    /// Whether this erases anyone: every cached key is forgotten again once it commits.
    erases: bool,
}

impl StoreTransaction {
    pub(crate) fn new(store: EventStore, tx: Transaction<'static, Postgres>) -> Self {
        StoreTransaction {
            store,
            tx,
            appended: false,
            learned: Learned::default(),
            erases: false,
        }
    }

    /// Appends events to one stream. A transaction that started later and already wrote
    /// this stream, or a concurrent append of the same revision, makes this one fail with
    /// [`Error::Conflict`] (or [`Error::WrongExpectedVersion`]): retry the whole transaction.
    pub async fn append(
        &mut self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[NewEvent],
    ) -> Result<AppendResult, Error> {
        let (result, learned) = append::sealed_append(
            &mut self.tx,
            self.store.keyring(),
            stream,
            expected,
            events,
            append::Mode::InTransaction,
        )
        .await?;
        self.appended |= result.written;
        self.learned.absorb(learned);
        Ok(result)
    }

    /// Erases people: their data keys are deleted with this transaction, so every event
    /// about them reads `"[erased]"` in its personal fields from then on.
    pub async fn erase_personal(&mut self, subjects: &[String]) -> Result<u64, Error> {
        self.forget_keys();
        crate::personal::erase_subjects(&mut self.tx, subjects).await
    }

    /// Erases everyone of a group (an organization) with this transaction.
    pub async fn erase_personal_group(&mut self, group: &str) -> Result<u64, Error> {
        self.forget_keys();
        crate::personal::erase_group(&mut self.tx, group).await
    }

    /// Before an erasure and after it commits: no key learned in between is cached.
    fn forget_keys(&mut self) {
        self.erases = true;
        if let Some(keyring) = self.store.keyring() {
            keyring.cache().forget();
        }
    }

    /// Claims `(scope, key)` for `stream`. Claiming again for the same stream is a no-op;
    /// a claim held by another stream is [`Error::ClaimTaken`], naming the holder.
    pub async fn claim(&mut self, scope: &str, key: &str, stream: &str) -> Result<(), Error> {
        input::claim_part("scope", scope)?;
        input::claim_part("key", key)?;
        input::stream_name(stream)?;
        for _ in 0..3 {
            // ON CONFLICT waits for a concurrent claimer and then sees its outcome; the
            // lookup is a statement of its own so that its snapshot sees that claimer's row.
            let inserted = sqlx::query(
                "INSERT INTO claims (scope, key, stream_name) VALUES ($1, $2, $3)
                 ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(stream)
            .execute(&mut *self.tx)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            let holder: Option<String> =
                sqlx::query_scalar("SELECT stream_name FROM claims WHERE scope = $1 AND key = $2")
                    .bind(scope)
                    .bind(key)
                    .fetch_optional(&mut *self.tx)
                    .await?;
            match holder {
                Some(h) if h == stream => return Ok(()),
                Some(holder) => {
                    return Err(Error::ClaimTaken {
                        scope: scope.to_owned(),
                        key: key.to_owned(),
                        holder,
                    })
                }
                // Released between the insert and the lookup: try again.
                None => continue,
            }
        }
        Err(Error::Conflict {
            stream: stream.to_owned(),
        })
    }

    /// Releases `(scope, key)` if `stream` holds it; returns whether it did.
    pub async fn release(&mut self, scope: &str, key: &str, stream: &str) -> Result<bool, Error> {
        input::claim_part("scope", scope)?;
        input::claim_part("key", key)?;
        input::stream_name(stream)?;
        let done =
            sqlx::query("DELETE FROM claims WHERE scope = $1 AND key = $2 AND stream_name = $3")
                .bind(scope)
                .bind(key)
                .bind(stream)
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases every key of `scope` that `stream` holds: for a key that can no longer be
    /// named (its person was erased). Returns how many.
    pub async fn release_held(&mut self, scope: &str, stream: &str) -> Result<u64, Error> {
        input::claim_part("scope", scope)?;
        input::stream_name(stream)?;
        let done = sqlx::query("DELETE FROM claims WHERE scope = $1 AND stream_name = $2")
            .bind(scope)
            .bind(stream)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Releases every key of `scope` that starts with `prefix` (an organization's keys,
    /// `{organization_id}/…`). Returns how many.
    pub async fn release_prefixed(&mut self, scope: &str, prefix: &str) -> Result<u64, Error> {
        input::claim_part("scope", scope)?;
        input::claim_part("key", prefix)?;
        let done =
            sqlx::query("DELETE FROM claims WHERE scope = $1 AND left(key, length($2)) = $2")
                .bind(scope)
                .bind(prefix)
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected())
    }

    /// Stores a consumer's checkpoint in this transaction, so a projection's table writes
    /// and its checkpoint commit together.
    pub async fn save_checkpoint(
        &mut self,
        consumer: &str,
        position: Position,
    ) -> Result<(), Error> {
        save_checkpoint_on(&mut self.tx, consumer, position).await
    }

    /// The connection of this transaction, for the caller's own writes (projection tables).
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Commits everything, then wakes local subscribers if events were appended.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.tx.commit().await?;
        if let Some(keyring) = self.store.keyring() {
            if self.erases {
                keyring.cache().forget();
            }
            keyring.cache().remember(std::mem::take(&mut self.learned));
        }
        if self.appended {
            self.store.signal_appended();
        }
        Ok(())
    }
}
