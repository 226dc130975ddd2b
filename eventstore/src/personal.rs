//! Crypto-shredding: an event's personal fields are stored sealed with a key of the person
//! they are about, kept in `personal_keys` outside the log. Erasing the person deletes the
//! key; the log stays append-only and replayable, and every reader then gets `"[erased]"`
//! in those fields instead of the data.
//!
//! An event says whose data it holds in [`Metadata::personal`](crate::Metadata): the
//! subject and the fields. On append those fields (strings only; `null` says nothing about
//! anyone) move out of `data` into one AES-256-GCM box under `_sealed`; reads put them back.

use std::borrow::Cow;
use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::error::Error;
use crate::event::{NewEvent, RecordedEvent};

/// What a reader sees in a personal field once its person is erased.
pub const ERASED: &str = "[erased]";

/// The key of the sealed box in a stored event's `data`.
const SEALED: &str = "_sealed";

const NONCE_LEN: usize = 12;

/// Whose personal data an event holds, and in which of its `data` fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personal {
    /// The person: `member-{id}`, `invitation-{id}`.
    pub subject: String,
    /// The unit that is erased as a whole (the organization), when known at the person's
    /// first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Top-level fields of `data` that identify the person.
    pub fields: Vec<String>,
}

/// The key that seals every person's data key (derived from the service's secret key).
pub struct Keyring {
    master: Aes256Gcm,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    /// A keyring sealing data keys with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Keyring {
            master: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    fn wrap(&self, subject: &str, data_key: &[u8; 32]) -> Result<Vec<u8>, Error> {
        seal_bytes(&self.master, subject, data_key)
    }

    fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<Aes256Gcm, Error> {
        let key = open_bytes(&self.master, subject, wrapped)?;
        if key.len() != 32 {
            return Err(Error::Personal(format!(
                "the key of {subject} is malformed"
            )));
        }
        Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)))
    }
}

/// `nonce ‖ ciphertext`, bound to the subject (a box moved to another person's event does
/// not open).
fn seal_bytes(cipher: &Aes256Gcm, subject: &str, plain: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce).map_err(|e| Error::Personal(e.to_string()))?;
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: subject.as_bytes(),
            },
        )
        .map_err(|_| Error::Personal("cannot seal".into()))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(out)
}

fn open_bytes(cipher: &Aes256Gcm, subject: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    if sealed.len() < NONCE_LEN {
        return Err(Error::Personal(format!("a box of {subject} is too short")));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: subject.as_bytes(),
            },
        )
        .map_err(|_| Error::Personal(format!("the data of {subject} does not open: wrong key")))
}

/// The events as they are stored: personal fields sealed (or placeholders when the person
/// is erased already). Borrows when no event holds personal data. `autocommit`: each
/// statement on `conn` commits by itself.
pub(crate) async fn seal<'a>(
    conn: &mut PgConnection,
    keyring: Option<&Keyring>,
    events: &'a [NewEvent],
    autocommit: bool,
) -> Result<Cow<'a, [NewEvent]>, Error> {
    if events.iter().all(|e| e.metadata.personal.is_none()) {
        return Ok(Cow::Borrowed(events));
    }
    let keyring = keyring.ok_or_else(|| {
        Error::Personal("an event holds personal data but the store has no keyring".into())
    })?;
    let keys = keys_for_writing(conn, keyring, events, autocommit).await?;
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
            Some(Some(cipher)) => {
                let plain =
                    serde_json::to_vec(&fields).map_err(|e| Error::Personal(e.to_string()))?;
                let boxed = seal_bytes(cipher, &personal.subject, &plain)?;
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
    Ok(Cow::Owned(sealed))
}

/// The data key of each subject the events name, made at its first event; `None` for an
/// erased subject.
async fn keys_for_writing(
    conn: &mut PgConnection,
    keyring: &Keyring,
    events: &[NewEvent],
    autocommit: bool,
) -> Result<HashMap<String, Option<Aes256Gcm>>, Error> {
    let mut groups: HashMap<&str, Option<&str>> = HashMap::new();
    for p in events.iter().filter_map(|e| e.metadata.personal.as_ref()) {
        let group = groups.entry(p.subject.as_str()).or_default();
        if group.is_none() {
            *group = p.group.as_deref();
        }
    }
    // Outside a transaction the insert below is a commit of its own, to flush: most events
    // are about people the log knows already, and a read finds their keys without one.
    let mut known: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    if autocommit {
        let named: Vec<&str> = groups.keys().copied().collect();
        known = sqlx::query_as(
            "SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)",
        )
        .bind(&named)
        .fetch_all(&mut *conn)
        .await?;
        if known.len() == named.len() {
            return unwrap_all(keyring, known);
        }
        for (subject, _) in &known {
            groups.remove(subject.as_str());
        }
    }
    let mut subjects = Vec::with_capacity(groups.len());
    let mut group_of = Vec::with_capacity(groups.len());
    let mut candidates = Vec::with_capacity(groups.len());
    for (subject, group) in &groups {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| Error::Personal(e.to_string()))?;
        subjects.push(*subject);
        group_of.push(*group);
        candidates.push(keyring.wrap(subject, &key)?);
    }
    // One round trip: the keys made now, and any a concurrent writer made (the inserted rows are not
    // visible to the outer SELECT of the same statement).
    let mut rows: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
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
    if rows.len() < subjects.len() {
        // A concurrent writer made a key after this statement's snapshot: read it now.
        rows = sqlx::query_as(
            "SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)",
        )
        .bind(&subjects)
        .fetch_all(&mut *conn)
        .await?;
    }
    known.extend(rows);
    unwrap_all(keyring, known)
}

fn unwrap_all(
    keyring: &Keyring,
    rows: Vec<(String, Option<Vec<u8>>)>,
) -> Result<HashMap<String, Option<Aes256Gcm>>, Error> {
    let mut keys = HashMap::with_capacity(rows.len());
    for (subject, wrapped) in rows {
        let key = match wrapped {
            Some(w) => Some(keyring.unwrap(&subject, &w)?),
            None => None,
        };
        keys.insert(subject, key);
    }
    Ok(keys)
}

/// Puts every sealed field back, or `"[erased]"` where its person's key is gone.
pub(crate) async fn open(
    pool: &sqlx::PgPool,
    keyring: Option<&Keyring>,
    events: &mut [RecordedEvent],
) -> Result<(), Error> {
    let mut subjects: Vec<&str> = events
        .iter()
        .filter(|e| e.data.get(SEALED).is_some())
        .filter_map(|e| e.metadata.personal.as_ref().map(|p| p.subject.as_str()))
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    let keyring = keyring.ok_or_else(|| {
        Error::Personal("the log holds sealed personal data but the store has no keyring".into())
    })?;
    subjects.sort_unstable();
    subjects.dedup();
    let rows: Vec<(String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT subject, wrapped_key FROM personal_keys WHERE subject = ANY($1)")
            .bind(&subjects)
            .fetch_all(pool)
            .await?;
    let keys = unwrap_all(keyring, rows)?;
    for event in events {
        let Some(personal) = &event.metadata.personal else {
            continue;
        };
        let Some(data) = event.data.as_object_mut() else {
            continue;
        };
        let Some(Value::String(boxed)) = data.remove(SEALED) else {
            continue;
        };
        match keys.get(&personal.subject) {
            Some(Some(cipher)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(boxed)
                    .map_err(|e| Error::Personal(e.to_string()))?;
                let plain = open_bytes(cipher, &personal.subject, &bytes)?;
                let fields: Map<String, Value> =
                    serde_json::from_slice(&plain).map_err(|e| Error::Personal(e.to_string()))?;
                data.extend(fields);
            }
            _ => {
                for field in &personal.fields {
                    data.insert(field.clone(), Value::String(ERASED.into()));
                }
            }
        }
    }
    Ok(())
}

/// Erases people: their keys are deleted (tombstones stay, so nothing about them is sealed
/// under a new key later). Answers how many had a key.
pub(crate) async fn erase_subjects(
    conn: &mut PgConnection,
    subjects: &[String],
) -> Result<u64, Error> {
    let erased = sqlx::query(
        "INSERT INTO personal_keys (subject, wrapped_key, erased_at)
         SELECT s, NULL, now() FROM unnest($1::text[]) AS s
         ON CONFLICT (subject) DO UPDATE
         SET wrapped_key = NULL, erased_at = coalesce(personal_keys.erased_at, now())",
    )
    .bind(subjects)
    .execute(conn)
    .await?;
    Ok(erased.rows_affected())
}

/// Erases everyone of a group (an organization). Answers how many keys were deleted.
pub(crate) async fn erase_group(conn: &mut PgConnection, group: &str) -> Result<u64, Error> {
    let erased = sqlx::query(
        "UPDATE personal_keys SET wrapped_key = NULL, erased_at = now()
         WHERE grp = $1 AND wrapped_key IS NOT NULL",
    )
    .bind(group)
    .execute(conn)
    .await?;
    Ok(erased.rows_affected())
}
