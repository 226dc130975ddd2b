//! Appending to a stream: one SQL statement on the hot path.
//!
//! The statement reads the stream's last event, checks the expectation and that no younger
//! transaction wrote that event, and inserts the new events after it. The unique
//! `(stream_name, stream_revision)` index settles races between concurrent appends, the
//! unique `event_id` index catches repeated appends. Refusals are worked out afterwards,
//! off the hot path.

use std::collections::HashMap;

use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Error;
use crate::event::{Metadata, NewEvent};
use crate::input;
use crate::personal::{self, Keyring, Learned, NewKeys};
use crate::position::Position;
use crate::store::{AppendResult, ExpectedRevision};

/// Whether the append runs as its own statement-transaction or inside the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The statement is its own transaction: after a refusal we can still read.
    Autocommit,
    /// Inside a transaction: a constraint violation aborts it, so repeated event ids are
    /// looked for before inserting.
    InTransaction,
}

/// The keys of the people an append introduces, inserted by the append's own statement;
/// the events are inserted only if every one of those keys was new (`$9` subjects).
macro_rules! with_new_keys {
    () => {
        "WITH made AS (
    INSERT INTO personal_keys (subject, grp, wrapped_key)
    SELECT * FROM unnest($9::text[], $10::text[], $11::bytea[])
    ON CONFLICT (subject) DO NOTHING
    RETURNING 1
)"
    };
}

macro_rules! keys_were_new {
    () => {
        "\n  AND (SELECT count(*) FROM made) = cardinality($9::text[])"
    };
}

/// Inserts the events after the stream's last one if the expectation holds and the last
/// event's transaction is not younger than ours (were it younger, our events would sort
/// before it in `$all` while coming after it in the stream).
macro_rules! append_sql {
    ($with:expr, $and:expr) => {
        concat!(
            $with,
            "
INSERT INTO events (tx_id, event_id, stream_name, category, stream_revision, event_type, data, metadata)
SELECT pg_current_xact_id()::text::bigint, e.event_id, $1, $2,
       coalesce(last.stream_revision, -1) + e.ord, e.event_type, e.data, e.metadata
FROM unnest($5::uuid[], $6::text[], $7::jsonb[], $8::jsonb[]) WITH ORDINALITY
         AS e(event_id, event_type, data, metadata, ord)
LEFT JOIN (
    SELECT l.stream_revision, l.tx_id FROM events l
    WHERE l.stream_name = $1 ORDER BY l.stream_revision DESC LIMIT 1
) last ON true
WHERE CASE $3
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN last.stream_revision IS NULL
        WHEN 'stream_exists' THEN last.stream_revision IS NOT NULL
        ELSE last.stream_revision = $4
      END
  AND (last.tx_id IS NULL OR last.tx_id <= pg_current_xact_id()::text::bigint)",
            $and,
            "
ORDER BY e.ord
RETURNING stream_revision, tx_id, seq"
        )
    };
}

/// [`append_sql`] for the most common case, one event, without the arrays: a smaller plan
/// is measurably cheaper per append.
macro_rules! append_one_sql {
    ($with:expr, $and:expr) => {
        concat!(
            $with,
            "
INSERT INTO events (tx_id, event_id, stream_name, category, stream_revision, event_type, data, metadata)
SELECT pg_current_xact_id()::text::bigint, $5, $1, $2,
       coalesce(last.stream_revision, -1) + 1, $6, $7, $8
FROM (SELECT 1) one
LEFT JOIN (
    SELECT l.stream_revision, l.tx_id FROM events l
    WHERE l.stream_name = $1 ORDER BY l.stream_revision DESC LIMIT 1
) last ON true
WHERE CASE $3
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN last.stream_revision IS NULL
        WHEN 'stream_exists' THEN last.stream_revision IS NOT NULL
        ELSE last.stream_revision = $4
      END
  AND (last.tx_id IS NULL OR last.tx_id <= pg_current_xact_id()::text::bigint)",
            $and,
            "
RETURNING stream_revision, tx_id, seq"
        )
    };
}

const APPEND: &str = append_sql!("", "");
const APPEND_ONE: &str = append_one_sql!("", "");
const APPEND_WITH_KEYS: &str = append_sql!(with_new_keys!(), keys_were_new!());
const APPEND_ONE_WITH_KEYS: &str = append_one_sql!(with_new_keys!(), keys_were_new!());

/// What an append came to.
pub(crate) enum Appended {
    /// Written, or found written already (an idempotent repeat).
    Done(AppendResult),
    /// A person it took for new has a key already: nothing was written; seal again with it.
    KeysExist,
}

/// Seals the events' personal fields and appends them; when a person the append took for
/// new turns out to have a key already, seals again with that key and appends once more.
/// Answers the keys it used too, for the cache once they are committed.
pub(crate) async fn sealed_append(
    conn: &mut PgConnection,
    keyring: Option<&Keyring>,
    stream: &str,
    expected: ExpectedRevision,
    events: &[NewEvent],
    mode: Mode,
) -> Result<(AppendResult, Learned), Error> {
    let autocommit = mode == Mode::Autocommit;
    let introduced = (expected == ExpectedRevision::NoStream).then_some(stream);
    let sealed = personal::seal(conn, keyring, events, autocommit, introduced).await?;
    if let Appended::Done(result) = append(
        conn,
        stream,
        expected,
        &sealed.events,
        mode,
        &sealed.new_keys,
    )
    .await?
    {
        return Ok((result, sealed.learned));
    }
    let sealed = personal::seal(conn, keyring, events, autocommit, None).await?;
    match append(
        conn,
        stream,
        expected,
        &sealed.events,
        mode,
        &sealed.new_keys,
    )
    .await?
    {
        Appended::Done(result) => Ok((result, sealed.learned)),
        Appended::KeysExist => Err(Error::Personal(format!(
            "the keys of the people on {stream} could not be settled"
        ))),
    }
}

/// Appends `events` to `stream` on `conn`.
pub(crate) async fn append(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedRevision,
    events: &[NewEvent],
    mode: Mode,
    new_keys: &NewKeys,
) -> Result<Appended, Error> {
    input::stream_name(stream)?;
    input::events(events)?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    if mode == Mode::InTransaction {
        if let Some(outcome) = repeated_events(conn, stream, &ids).await? {
            return outcome.map(Appended::Done);
        }
    }
    let (kind, revision) = expected.to_sql();
    let query = sqlx::query_as(match (events.len() == 1, new_keys.is_empty()) {
        (true, true) => APPEND_ONE,
        (true, false) => APPEND_ONE_WITH_KEYS,
        (false, true) => APPEND,
        (false, false) => APPEND_WITH_KEYS,
    })
    .bind(stream)
    .bind(crate::category_of(stream))
    .bind(kind)
    .bind(revision);
    let query = match events {
        [one] => query
            .bind(one.event_id)
            .bind(one.event_type.as_str())
            .bind(Json(&one.data))
            .bind(Json(&one.metadata)),
        many => {
            let types: Vec<&str> = many.iter().map(|e| e.event_type.as_str()).collect();
            let data: Vec<Json<&serde_json::Value>> = many.iter().map(|e| Json(&e.data)).collect();
            let metadata: Vec<Json<&Metadata>> = many.iter().map(|e| Json(&e.metadata)).collect();
            query
                .bind(ids.clone())
                .bind(types)
                .bind(data)
                .bind(metadata)
        }
    };
    let query = if new_keys.is_empty() {
        query
    } else {
        query
            .bind(&new_keys.subjects)
            .bind(&new_keys.groups)
            .bind(&new_keys.wrapped)
    };
    let inserted: Result<Vec<(i64, i64, i64)>, sqlx::Error> = query.fetch_all(&mut *conn).await;
    if !new_keys.is_empty() && matches!(&inserted, Ok(rows) if rows.is_empty()) {
        return Ok(Appended::KeysExist);
    }
    let conflict = || Error::Conflict {
        stream: stream.to_owned(),
    };
    let outcome = match inserted {
        Ok(rows) if rows.len() == events.len() => {
            let (revision, tx_id, seq) =
                rows.into_iter().max_by_key(|r| r.0).ok_or_else(conflict)?;
            Ok(AppendResult {
                next_expected: revision as u64,
                position: Position { tx_id, seq },
                written: true,
            })
        }

        // Nothing inserted: a retry of an append that succeeded (its stale expectation
        // fails now), a wrong expectation, or a younger transaction wrote last.
        Ok(_) => match repeated_events(conn, stream, &ids).await? {
            Some(outcome) => outcome,
            None => refusal(conn, stream, expected).await,
        },
        Err(sqlx::Error::Database(db)) => match (db.constraint(), mode) {
            (Some("events_event_id_key"), Mode::Autocommit) => repeated_events(conn, stream, &ids)
                .await?
                .unwrap_or_else(|| Err(conflict())),
            // A concurrent append took the same revision first.
            (Some("events_stream_revision_key"), Mode::Autocommit) => {
                refusal(conn, stream, expected).await
            }
            // Inside a transaction the violation aborted it: the caller retries it whole.
            (Some("events_event_id_key" | "events_stream_revision_key"), Mode::InTransaction) => {
                Err(conflict())
            }
            _ => Err(sqlx::Error::Database(db).into()),
        },
        Err(e) => Err(e.into()),
    };
    outcome.map(Appended::Done)
}

/// Why an append inserted nothing: a wrong expectation (with the actual revision), or,
/// when the expectation holds, a race the caller should retry.
async fn refusal(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedRevision,
) -> Result<AppendResult, Error> {
    let actual = last_revision(conn, stream).await?;
    let holds = match expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => actual.is_none(),
        ExpectedRevision::StreamExists => actual.is_some(),
        ExpectedRevision::Exact(r) => actual == Some(r),
    };
    if holds {
        Err(Error::Conflict {
            stream: stream.to_owned(),
        })
    } else {
        Err(Error::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected,
            actual,
        })
    }
}

/// The last revision of a stream, `None` when it has no events.
pub(crate) async fn last_revision(
    conn: &mut PgConnection,
    stream: &str,
) -> Result<Option<u64>, Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT max(stream_revision) FROM events WHERE stream_name = $1")
            .bind(stream)
            .fetch_one(conn)
            .await?;
    Ok(last.map(|r| r as u64))
}

/// If some of `ids` are recorded already: the outcome of the append (an idempotent success
/// when all of them are in this stream, an error otherwise). `None` when none is.
async fn repeated_events(
    conn: &mut PgConnection,
    stream: &str,
    ids: &[Uuid],
) -> Result<Option<Result<AppendResult, Error>>, Error> {
    let found: Vec<(Uuid, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT event_id, stream_name, stream_revision, tx_id, seq FROM events
         WHERE event_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    if found.is_empty() {
        return Ok(None);
    }
    if let Some((_, other, ..)) = found.iter().find(|f| f.1 != stream) {
        return Ok(Some(Err(Error::EventIdInOtherStream {
            stream: stream.to_owned(),
            other_stream: other.clone(),
        })));
    }
    let by_id: HashMap<Uuid, (i64, i64, i64)> = found
        .into_iter()
        .map(|(id, _, rev, tx_id, seq)| (id, (rev, tx_id, seq)))
        .collect();
    if by_id.len() < ids.len() {
        return Ok(Some(Err(Error::PartialDuplicate {
            stream: stream.to_owned(),
        })));
    }
    let (revision, tx_id, seq) = by_id
        .values()
        .copied()
        .max_by_key(|r| r.0)
        .unwrap_or_default();
    Ok(Some(Ok(AppendResult {
        next_expected: revision as u64,
        position: Position { tx_id, seq },
        written: false,
    })))
}
