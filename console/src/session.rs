//! Console sessions: a random cookie value, kept server-side only as its SHA-256, so
//! signing out or an idle or absolute timeout ends it. The CSRF token of a session's forms
//! is derived from the cookie value, so it is never stored and never outlives the session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The session cookie's name.
pub const COOKIE: &str = "mailplane_console";

/// How long a session lives.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Ends a session nobody used for this long.
    pub idle: Duration,
    /// Ends a session this long after sign-in, used or not.
    pub absolute: Duration,
    /// Send the cookie only over HTTPS (the console is served behind TLS).
    pub secure_cookie: bool,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: crate::IDLE_TIMEOUT,
            absolute: Duration::from_secs(12 * 3600),
            secure_cookie: false,
        }
    }
}

/// Why a session could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the sign-in link was already used")]
    LinkUsed,
    #[error("no random numbers: {0}")]
    Random(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A signed-in account and the cookie value that proves it.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: String,
    token: String,
}

impl Session {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_of(&self.token)
    }

    /// Whether a posted CSRF token is this session's.
    pub fn accepts(&self, posted: Option<&str>) -> bool {
        // Both sides are hex digests of the same length; a timing difference reveals
        // nothing an attacker without the cookie could use.
        posted == Some(self.csrf().as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn csrf_of(token: &str) -> String {
    digest(&format!("csrf\0{token}"))
}

/// Exchanges a verified sign-in link (its id `link_id`, valid until `link_expires`) for a
/// new session of `account`; a link is taken once, by its id (so no spelling of the same
/// token opens a second session).
pub async fn open(
    pool: &PgPool,
    limits: &SessionLimits,
    account: &str,
    link_id: &str,
    link_expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Session, SessionError> {
    let mut random = [0u8; 32];
    getrandom::getrandom(&mut random).map_err(|e| SessionError::Random(e.to_string()))?;
    let token = hex(&random);
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO console_used_tokens (token_hash, expires_at) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(digest(link_id))
    .bind(link_expires)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if fresh == 0 {
        return Err(SessionError::LinkUsed);
    }
    let absolute =
        chrono::Duration::from_std(limits.absolute).unwrap_or(chrono::Duration::hours(12));
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, account, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(digest(&token))
    .bind(account)
    .bind(now)
    .bind(now + absolute)
    .execute(&mut *tx)
    .await?;
    // Leftovers of ended sessions and links go with every sign-in: cheap, by index.
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM console_used_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Session {
        account: account.to_owned(),
        token,
    })
}

/// The live session of a cookie value, touched (idle timer restarted); `None` when it
/// never existed, was ended, or timed out.
pub async fn find(
    pool: &PgPool,
    limits: &SessionLimits,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, SessionError> {
    let idle = chrono::Duration::from_std(limits.idle).unwrap_or(chrono::Duration::minutes(30));
    let account: Option<String> = sqlx::query_scalar(
        "UPDATE console_sessions SET last_seen_at = $2
         WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3
         RETURNING account",
    )
    .bind(digest(token))
    .bind(now)
    .bind(now - idle)
    .fetch_optional(pool)
    .await?;
    Ok(account.map(|account| Session {
        account,
        token: token.to_owned(),
    }))
}

/// Ends the session of a cookie value.
pub async fn close(pool: &PgPool, token: &str) -> Result<(), SessionError> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(digest(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// The cookie that carries `session`.
pub fn set_cookie(session: &Session, limits: &SessionLimits) -> String {
    format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.token,
        limits.absolute.as_secs(),
        if limits.secure_cookie { "; Secure" } else { "" }
    )
}

/// The cookie that removes the session cookie.
pub fn clear_cookie(limits: &SessionLimits) -> String {
    format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if limits.secure_cookie { "; Secure" } else { "" }
    )
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_and_a_prefix_is_not_it() {
        let header = Some("a=1; mailplane_console_x=2; mailplane_console=abc");
        assert_eq!(cookie(header, COOKIE), Some("abc"));
        assert_eq!(cookie(Some("mailplane_console_x=2"), COOKIE), None);
        assert_eq!(cookie(None, COOKIE), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session_only() {
        let a = Session {
            account: "a".into(),
            token: "t1".into(),
        };
        let b = Session {
            account: "a".into(),
            token: "t2".into(),
        };
        assert!(a.accepts(Some(&a.csrf())));
        assert!(!a.accepts(Some(&b.csrf())));
        assert!(!a.accepts(None));
        assert!(!a.accepts(Some("")));
        assert_ne!(a.csrf(), "t1");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_tls() {
        let s = Session {
            account: "a".into(),
            token: "t".into(),
        };
        let mut limits = SessionLimits::default();
        let plain = set_cookie(&s, &limits);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        limits.secure_cookie = true;
        assert!(set_cookie(&s, &limits).ends_with("; Secure"));
    }
}
