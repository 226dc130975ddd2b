//! Idempotency keys (API.md): the same key from the same principal with the same arguments
//! answers the first answer and writes nothing; with other arguments it is a CONFLICT. The
//! fingerprint is a hash of the operation and its serialized arguments, so every argument
//! counts (a retry with another role is not the first request).

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::AppError;
use crate::request::Request;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// How long a running request's claim on its key lasts unless renewed (every third of it).
const LEASE_SECONDS: i64 = 30;

/// Renews the lease while the request runs; on drop (done, failed, or the request future
/// dropped by a timeout or a client that went away) stops renewing, and unless the answer
/// was stored, frees the key for a retry.
struct Running {
    renewing: tokio::task::JoinHandle<()>,
    pool: PgPool,
    who: String,
    key: String,
    answered: bool,
}

impl Running {
    fn start(pool: &PgPool, who: &str, key: &str) -> Running {
        let (p, w, k) = (pool.clone(), who.to_owned(), key.to_owned());
        let renewing = tokio::spawn(async move {
            let every = std::time::Duration::from_secs((LEASE_SECONDS / 3) as u64);
            loop {
                tokio::time::sleep(every).await;
                let _ = sqlx::query(
                    "UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => $3)
                      WHERE principal = $1 AND key = $2 AND answer IS NULL",
                )
                .bind(&w)
                .bind(&k)
                .bind(LEASE_SECONDS as f64)
                .execute(&p)
                .await;
            }
        });
        Running {
            renewing,
            pool: pool.clone(),
            who: who.to_owned(),
            key: key.to_owned(),
            answered: false,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.renewing.abort();
        if self.answered {
            return;
        }
        let (pool, who, key) = (self.pool.clone(), self.who.clone(), self.key.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = sqlx::query(
                    "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND answer IS NULL",
                )
                .bind(&who)
                .bind(&key)
                .execute(&pool)
                .await;
            });
        }
    }
}

/// The fingerprint of one request: operation and arguments.
pub fn fingerprint<A: Serialize>(operation: &str, arguments: &A) -> Result<String, AppError> {
    let json = serde_json::to_string(arguments).map_err(|e| AppError::Internal(e.to_string()))?;
    let digest = Sha256::digest(format!("{operation}\u{0}{json}").as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// 1 to 200 bytes, no control character (PostgreSQL text refuses NUL; the others have no
/// business in a key).
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control)
}

/// Runs `run` once per idempotency key.
pub async fn once<T, A, F>(
    pool: &PgPool,
    request: &Request,
    key: Option<String>,
    operation: &str,
    arguments: &A,
    run: F,
) -> Result<T, AppError>
where
    T: Serialize + DeserializeOwned,
    A: Serialize,
    F: Future<Output = Result<T, AppError>>,
{
    let Some(key) = key else { return run.await };
    if !valid_key(&key) {
        return Err(AppError::invalid(
            "idempotencyKey",
            "must be 1 to 200 printable characters",
        ));
    }
    let who = request.actor_name();
    let hash = fingerprint(operation, arguments)?;
    // Inserted, or taken over from a request whose process died (its lease ran out).
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, operation, request_hash, lease_until)
              VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
         ON CONFLICT (principal, key) DO UPDATE SET lease_until = EXCLUDED.lease_until
          WHERE idempotency_keys.answer IS NULL
            AND idempotency_keys.lease_until < now()
            AND idempotency_keys.request_hash = EXCLUDED.request_hash",
    )
    .bind(&who)
    .bind(&key)
    .bind(operation)
    .bind(&hash)
    .bind(LEASE_SECONDS as f64)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        let (stored_hash, answer): (String, Option<serde_json::Value>) = sqlx::query_as(
            "SELECT request_hash, answer FROM idempotency_keys WHERE principal = $1 AND key = $2",
        )
        .bind(&who)
        .bind(&key)
        .fetch_one(pool)
        .await?;
        if stored_hash != hash {
            return Err(AppError::Conflict(
                "the idempotency key was used with other arguments".into(),
            ));
        }
        return match answer {
            Some(a) => serde_json::from_value(a).map_err(|e| AppError::Internal(e.to_string())),
            None => Err(AppError::Conflict(format!(
                "a request with this idempotency key is still running; try again in {LEASE_SECONDS} s"
            ))),
        };
    }
    let mut running = Running::start(pool, &who, &key);
    let answer = match run.await {
        Ok(answer) => answer,
        Err(e) => {
            // A refused request may be sent again with the same key.
            let _ = sqlx::query(
                "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND answer IS NULL",
            )
            .bind(&who)
            .bind(&key)
            .execute(pool)
            .await;
            running.answered = true;
            return Err(e);
        }
    };
    let stored = serde_json::to_value(&answer).map_err(|e| AppError::Internal(e.to_string()))?;
    sqlx::query("UPDATE idempotency_keys SET answer = $3 WHERE principal = $1 AND key = $2")
        .bind(&who)
        .bind(&key)
        .bind(stored)
        .execute(pool)
        .await?;
    running.answered = true;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_1_to_200_printable_characters() {
        assert!(valid_key("order-42"));
        assert!(valid_key(&"k".repeat(200)));
        for bad in ["", "a\0b", "line\nbreak", "\u{7f}", &"k".repeat(201)] {
            assert!(!valid_key(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_argument_counts() {
        #[derive(Serialize)]
        struct Args<'a> {
            account: &'a str,
            role: Option<&'a str>,
        }
        let member = fingerprint(
            "addMember",
            &Args {
                account: "zw",
                role: Some("MEMBER"),
            },
        );
        let admin = fingerprint(
            "addMember",
            &Args {
                account: "zw",
                role: Some("ADMIN"),
            },
        );
        let again = fingerprint(
            "addMember",
            &Args {
                account: "zw",
                role: Some("MEMBER"),
            },
        );
        assert_ne!(member.as_ref().unwrap(), admin.as_ref().unwrap());
        assert_eq!(member.unwrap(), again.unwrap());
        assert_ne!(fingerprint("a", &1).unwrap(), fingerprint("b", &1).unwrap());
    }
}
