//! Snapshots of long streams, and reading many streams (each from its own revision) at once.

use sqlx::types::Json;
use sqlx::Row;

use crate::{input, Error, EventStore, RecordedEvent};

/// A stream's folded state as of `revision` (its last event folded in).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub stream: String,
    pub revision: u64,
    /// The decider's snapshot version; a reader expecting another ignores it.
    pub version: u32,
    pub state: serde_json::Value,
}

impl EventStore {
    /// The snapshots kept of any of `streams`.
    pub async fn read_snapshots(&self, streams: &[String]) -> Result<Vec<Snapshot>, Error> {
        for s in streams {
            input::stream_name(s)?;
        }
        let rows = sqlx::query(
            "SELECT stream_name, revision, version, state FROM snapshots
             WHERE stream_name = ANY($1)",
        )
        .bind(streams)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let revision: i64 = row.try_get("revision")?;
                let version: i32 = row.try_get("version")?;
                let Json(state): Json<serde_json::Value> = row.try_get("state")?;
                Ok(Snapshot {
                    stream: row.try_get("stream_name")?,
                    revision: u64::try_from(revision).unwrap_or_default(),
                    version: u32::try_from(version).unwrap_or_default(),
                    state,
                })
            })
            .collect()
    }

    /// Keeps a snapshot unless one as recent (of the same version) is kept already.
    pub async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), Error> {
        input::stream_name(&snapshot.stream)?;
        sqlx::query(
            "INSERT INTO snapshots (stream_name, revision, version, state)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (stream_name) DO UPDATE
               SET revision = EXCLUDED.revision, version = EXCLUDED.version,
                   state = EXCLUDED.state, saved_at = now()
             WHERE snapshots.revision < EXCLUDED.revision
                OR snapshots.version <> EXCLUDED.version",
        )
        .bind(&snapshot.stream)
        .bind(i64::try_from(snapshot.revision).unwrap_or(i64::MAX))
        .bind(i32::try_from(snapshot.version).unwrap_or(i32::MAX))
        .bind(Json(&snapshot.state))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every event of each stream from its given revision on, in one query: stream by
    /// stream (in the order asked), each in revision order.
    pub async fn read_streams_from(
        &self,
        streams: &[(String, u64)],
    ) -> Result<Vec<RecordedEvent>, Error> {
        let mut names = Vec::with_capacity(streams.len());
        let mut froms = Vec::with_capacity(streams.len());
        for (name, from) in streams {
            input::stream_name(name)?;
            names.push(name.as_str());
            froms.push(i64::try_from(*from).unwrap_or(i64::MAX));
        }
        let rows = sqlx::query(
            "SELECT e.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS s(name, from_revision, nth)
             JOIN events e ON e.stream_name = s.name AND e.stream_revision >= s.from_revision
             ORDER BY s.nth, e.stream_revision",
        )
        .bind(&names)
        .bind(&froms)
        .fetch_all(self.pool())
        .await?;
        self.events_of(&rows).await
    }
}
