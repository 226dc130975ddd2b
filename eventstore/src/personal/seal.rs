//! Writing: an event's personal fields sealed under its person's data key. A person's
//! first event (on the stream named after them, expected not to exist yet) brings a key
//! made here, which the append's own statement inserts: adding a member costs no extra
//! round trip. Every other event finds its person's key in `personal_keys`, or makes it
//! there.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::{
    cipher_of, seal_bytes, unwrap_all, DataKey, Keyring, Learned, Personal, ERASED, SEALED,
};
use crate::error::Error;
use crate::event::NewEvent;

/// Keys made for the people an append introduces, for its statement to insert.
#[derive(Debug, Default)]
pub(crate) struct NewKeys {
    pub subjects: Vec<String>,
    pub groups: Vec<Option<String>>,
    pub wrapped: Vec<Vec<u8>>,
}

impl NewKeys {
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }
}

/// Events ready to be stored, the keys their append must insert with them, and the keys
/// to cache once it commits.
pub(crate) struct Sealed<'a> {
    pub events: Cow<'a, [NewEvent]>,
    pub new_keys: NewKeys,
    pub learned: Learned,
}

fn new_data_key() -> Result<[u8; 32], Error> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| Error::Personal(e.to_string()))?;
    Ok(key)
}

/// The events as they are stored: personal fields sealed (or placeholders when the person
/// is erased already). Borrows when no event holds personal data. `autocommit`: each
/// statement on `conn` commits by itself.
pub(crate) async fn seal<'a>(
    conn: &mut PgConnection,
    keyring: Option<&Keyring>,
    events: &'a [NewEvent],
    autocommit: bool,
    introduced: Option<&str>,
) -> Result<Sealed<'a>, Error> {
    if events.iter().all(|e| e.metadata.personal.is_none()) {
        return Ok(Sealed {
            events: Cow::Borrowed(events),
            new_keys: NewKeys::default(),
            learned: Learned::default(),
        });
    }
    let keyring = keyring.ok_or_else(|| {
        Error::Personal("an event holds personal data but the store has no keyring".into())
    })?;
    let mut new_keys = NewKeys::default();
    let mut learned = keyring.cache().start();
    let keys = keys_for_writing(
        conn,
        keyring,
        events,
        autocommit,
        introduced,
        &mut new_keys,
        &mut learned,
    )
    .await?;
    let mut sealed = events.to_vec();
    for event in &mut sealed {
        let Some(personal) = event.metadata.personal.take() else {
            continue;
        };
        let Some(data) = event.data.as_object_mut() else {
            continue;
        };
        let mut fields = Map::new();
        for field in &personal.fields {
            if let Some(Value::String(_)) = data.get(field) {
                if let Some(v) = data.remove(field) {
                    fields.insert(field.clone(), v);
                }
            }
        }
        if fields.is_empty() {
            continue;
        }
        let names: Vec<String> = fields.keys().cloned().collect();
        match keys.get(&personal.subject) {
            Some(Some(key)) => {
                let plain =
                    serde_json::to_vec(&fields).map_err(|e| Error::Personal(e.to_string()))?;
                let boxed = seal_bytes(&cipher_of(key), &personal.subject, &plain)?;
                data.insert(
                    SEALED.into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(boxed)),
                );
            }
            // Erased already: what would have been sealed is never written.
            _ => {
                for name in &names {
                    data.insert(name.clone(), Value::String(ERASED.into()));
                }
            }
        }
        // The group is kept with the key; every event need not repeat it.
        event.metadata.personal = Some(Personal {
            fields: names,
            group: None,
            ..personal
        });
    }
    Ok(Sealed {
        events: Cow::Owned(sealed),
        new_keys,
        learned,
    })
}

/// The data key of each subject the events name, made at its first event; `None` for an
/// erased subject. The key of the `introduced` subject is made here and left in `new_keys`
/// for the append to insert; keys found or made are left in `learned` for the cache.
async fn keys_for_writing(
    conn: &mut PgConnection,
    keyring: &Keyring,
    events: &[NewEvent],
    autocommit: bool,
    introduced: Option<&str>,
    new_keys: &mut NewKeys,
    learned: &mut Learned,
) -> Result<HashMap<String, Option<DataKey>>, Error> {
    let mut groups: HashMap<&str, Option<&str>> = HashMap::new();
    for p in events.iter().filter_map(|e| e.metadata.personal.as_ref()) {
        let group = groups.entry(p.subject.as_str()).or_default();
        if group.is_none() {
            *group = p.group.as_deref();
        }
    }
    let mut keys = HashMap::with_capacity(groups.len());
    groups.retain(|subject, _| match keyring.cache().get(subject) {
        Some(key) => {
            keys.insert((*subject).to_owned(), Some(key));
            false
        }
        None => true,
    });
    if let Some((subject, group)) = introduced.and_then(|s| groups.remove_entry(s)) {
        let key = new_data_key()?;
        new_keys.subjects.push(subject.to_owned());
        new_keys.groups.push(group.map(str::to_owned));
        new_keys.wrapped.push(keyring.wrap(subject, &key)?);
        learned.push(subject, key);
        keys.insert(subject.to_owned(), Some(key));
    }
    if groups.is_empty() {
        return Ok(keys);
    }
    let mut rows = if autocommit {
        // Outside a transaction an insert is a commit of its own, to flush: most events are
        // about people the log knows already, and a read finds their keys without one.
        let named: Vec<&str> = groups.keys().copied().collect();
        let known: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)",
        )
        .bind(&named)
        .fetch_all(&mut *conn)
        .await?;
        for (subject, _) in &known {
            groups.remove(subject.as_str());
        }
        known
    } else {
        Vec::new()
    };
    if !groups.is_empty() {
        rows.extend(make_keys(conn, keyring, &groups).await?);
    }
    for (subject, key) in unwrap_all(keyring, rows)? {
        if let Some(key) = key {
            learned.push(&subject, key);
        }
        keys.insert(subject, key);
    }
    Ok(keys)
}

/// Makes a key for each of `groups`' subjects that has none; answers every one's stored key
/// (or tombstone).
async fn make_keys(
    conn: &mut PgConnection,
    keyring: &Keyring,
    groups: &HashMap<&str, Option<&str>>,
) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
    let mut subjects = Vec::with_capacity(groups.len());
    let mut group_of = Vec::with_capacity(groups.len());
    let mut candidates = Vec::with_capacity(groups.len());
    for (subject, group) in groups {
        let key = new_data_key()?;
        subjects.push(*subject);
        group_of.push(*group);
        candidates.push(keyring.wrap(subject, &key)?);
    }
    // One round trip: the keys made now, and any a concurrent writer made (the inserted rows
    // are not visible to the outer SELECT of the same statement).
    let rows: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
        "WITH made AS (
             INSERT INTO personal_keys (subject, grp, wrapped_key)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
             ON CONFLICT (subject) DO NOTHING
             RETURNING subject, wrapped_key
         )
         SELECT subject, wrapped_key FROM made
         UNION ALL
         SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)",
    )
    .bind(&subjects)
    .bind(&group_of)
    .bind(&candidates)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() >= subjects.len() {
        return Ok(rows);
    }
    // A concurrent writer made a key after this statement's snapshot: read it now.
    Ok(
        sqlx::query_as("SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)")
            .bind(&subjects)
            .fetch_all(&mut *conn)
            .await?,
    )
}
