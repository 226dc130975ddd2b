//! Crypto-shredding: an event's personal fields are stored sealed with a key of the person
//! they are about, kept in `personal_keys` outside the log. Erasing the person deletes the
//! key; the log stays append-only and replayable, and every reader then gets `"[erased]"`
//! in those fields instead of the data.
//!
//! An event says whose data it holds in [`Metadata::personal`](crate::Metadata): the
//! subject and the fields. On append those fields (strings only; `null` says nothing about
//! anyone) move out of `data` into one AES-256-GCM box under `_sealed`; reads put them back.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::error::Error;
use crate::event::RecordedEvent;

mod cache;
mod seal;

pub(crate) use cache::Learned;
use cache::{DataKey, KeyCache};
pub(crate) use seal::{seal, NewKeys};

fn cipher_of(key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

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
    cache: KeyCache,
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
            cache: KeyCache::default(),
        }
    }

    /// Keys this process wrote with lately.
    pub(crate) fn cache(&self) -> &KeyCache {
        &self.cache
    }

    fn wrap(&self, subject: &str, data_key: &[u8; 32]) -> Result<Vec<u8>, Error> {
        seal_bytes(&self.master, subject, data_key)
    }

    fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<DataKey, Error> {
        let key = open_bytes(&self.master, subject, wrapped)?;
        key.try_into()
            .map_err(|_| Error::Personal(format!("the key of {subject} is malformed")))
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

fn unwrap_all(
    keyring: &Keyring,
    rows: Vec<(String, Option<Vec<u8>>)>,
) -> Result<HashMap<String, Option<DataKey>>, Error> {
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
    let keys: HashMap<String, Option<Aes256Gcm>> = unwrap_all(keyring, rows)?
        .into_iter()
        .map(|(subject, key)| (subject, key.as_ref().map(cipher_of)))
        .collect();
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
