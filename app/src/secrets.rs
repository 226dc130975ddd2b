//! Secrets (initial passwords, invitation tokens) encrypted at rest with AES-256-GCM, in a
//! short-lived table that the workers read and delete after use. They never enter events,
//! projections, logs or GraphQL answers.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::Digest;
use sqlx::PgPool;
use uuid::Uuid;

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A member's initial password, for the credentials SMS.
    InitialPassword,
    /// A member's new password after a reset.
    ResetPassword,
    /// An admin invitation's one-time token, for the invitation message.
    InvitationToken,
    /// The member's mail password as a Dovecot-style `{ARGON2ID}` hash, for the data plane;
    /// kept while the member exists (a mailbox may be opened any time later).
    MailboxPasswordHash,
    /// The member's mail password waiting to be hashed: hashing (~36 ms of CPU) happens
    /// when a mailbox needs it, not in the request that set the password; the hash then
    /// replaces this.
    MailboxPassword,
    /// A webhook endpoint's signing secret (`whsec_…`), by webhook secret id.
    WebhookSecret,
    /// An old account's password for a mail migration, by migration account id; deleted
    /// when the task is cancelled or expires.
    MigrationPassword,
    /// The SMS copy of a dissolution code, by organization id (deleted once sent).
    DissolutionCode,
    /// A dissolution code as checked: the admin, the code, its expiry, wrong attempts; by
    /// organization id.
    DissolutionCheck,
    /// The creator's phone given at creation (`{account, phone}`), by organization id.
    CreatorPhone,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::InitialPassword => "initial_password",
            Purpose::ResetPassword => "reset_password",
            Purpose::InvitationToken => "invitation_token",
            Purpose::MailboxPasswordHash => "mailbox_password_hash",
            Purpose::MailboxPassword => "mailbox_password",
            Purpose::WebhookSecret => "webhook_secret",
            Purpose::MigrationPassword => "migration_password",
            Purpose::DissolutionCode => "dissolution_code",
            Purpose::DissolutionCheck => "dissolution_check",
            Purpose::CreatorPhone => "creator_phone",
        }
    }
}

/// Why a secret could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("a secret could not be decrypted: wrong key or tampered data")]
    Decrypt,
    #[error("the password could not be hashed")]
    Hash,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The encrypted secret table.
#[derive(Clone)]
pub struct SecretStore {
    pool: PgPool,
    cipher: Aes256Gcm,
    /// Seals the personal data keys of the log (a key of its own, derived from this one).
    personal_key: [u8; 32],
}

impl SecretStore {
    /// The keyring that seals personal data in the log (see `eventstore::personal`).
    pub fn personal_keyring(&self) -> eventstore::Keyring {
        eventstore::Keyring::new(self.personal_key)
    }

    /// A store with a 32-byte key given as 64 hex characters.
    pub fn new(pool: PgPool, hex_key: &str) -> Result<Self, SecretError> {
        let bytes = decode_hex(hex_key.trim()).ok_or(SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let key = Key::<Aes256Gcm>::from_slice(&bytes);
        // One secret key, two uses: never the same AES key for both.
        let personal_key = sha2::Sha256::new()
            .chain_update(b"mailplane personal data keys v1")
            .chain_update(&bytes)
            .finalize()
            .into();
        Ok(SecretStore {
            pool,
            cipher: Aes256Gcm::new(key),
            personal_key,
        })
    }

    /// A fresh nonce and the secret encrypted under it, bound to its purpose and subject.
    fn seal(
        &self,
        purpose: Purpose,
        subject: Uuid,
        secret: &str,
    ) -> Result<([u8; 12], Vec<u8>), SecretError> {
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|_| SecretError::BadKey)?;
        // The subject and purpose are bound in as associated data: a row moved to another
        // subject no longer decrypts.
        let aad = format!("{}/{subject}", purpose.name());
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                aes_gcm::aead::Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt)?;
        Ok((nonce, ciphertext))
    }

    /// Keeps a secret for `subject` (a member or invitation id), replacing an older one.
    pub async fn put(
        &self,
        purpose: Purpose,
        subject: Uuid,
        secret: &str,
    ) -> Result<(), SecretError> {
        let (nonce, ciphertext) = self.seal(purpose, subject, secret)?;
        sqlx::query(
            "INSERT INTO secrets (purpose, subject, nonce, ciphertext) VALUES ($1, $2, $3, $4)
             ON CONFLICT (purpose, subject) DO UPDATE SET nonce = $3, ciphertext = $4, created_at = now()",
        )
        .bind(purpose.name())
        .bind(subject)
        .bind(&nonce[..])
        .bind(ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reads a secret, if it is still kept.
    pub async fn get(
        &self,
        purpose: Purpose,
        subject: Uuid,
    ) -> Result<Option<String>, SecretError> {
        Ok(self.get_versioned(purpose, subject).await?.map(|(s, _)| s))
    }

    /// Replaces the secret `from` (as read with `get_versioned`, still unchanged) by
    /// `secret` under `to`, in one transaction; false (and nothing changed) if `from` was
    /// replaced or deleted meanwhile.
    pub async fn replace_unchanged(
        &self,
        from: Purpose,
        subject: Uuid,
        version: &[u8],
        to: Purpose,
        secret: &str,
    ) -> Result<bool, SecretError> {
        let (nonce, ciphertext) = self.seal(to, subject, secret)?;
        let mut tx = self.pool.begin().await?;
        let taken =
            sqlx::query("DELETE FROM secrets WHERE purpose = $1 AND subject = $2 AND nonce = $3")
                .bind(from.name())
                .bind(subject)
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if taken == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO secrets (purpose, subject, nonce, ciphertext) VALUES ($1, $2, $3, $4)
             ON CONFLICT (purpose, subject) DO UPDATE SET nonce = $3, ciphertext = $4, created_at = now()",
        )
        .bind(to.name())
        .bind(subject)
        .bind(&nonce[..])
        .bind(ciphertext)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Reads a secret with its version (its nonce: new on every `put`).
    pub async fn get_versioned(
        &self,
        purpose: Purpose,
        subject: Uuid,
    ) -> Result<Option<(String, Vec<u8>)>, SecretError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM secrets WHERE purpose = $1 AND subject = $2",
        )
        .bind(purpose.name())
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let aad = format!("{}/{subject}", purpose.name());
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                aes_gcm::aead::Payload {
                    msg: &ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain)
            .map(|plain| Some((plain, nonce)))
            .map_err(|_| SecretError::Decrypt)
    }

    /// Keeps one secret of `purpose` for each subject, in one statement.
    pub async fn put_many(
        &self,
        purpose: Purpose,
        secrets: &[(Uuid, &str)],
    ) -> Result<(), SecretError> {
        let mut subjects = Vec::with_capacity(secrets.len());
        let mut nonces = Vec::with_capacity(secrets.len());
        let mut ciphertexts = Vec::with_capacity(secrets.len());
        for (subject, secret) in secrets {
            let (nonce, ciphertext) = self.seal(purpose, *subject, secret)?;
            subjects.push(*subject);
            nonces.push(nonce.to_vec());
            ciphertexts.push(ciphertext);
        }
        sqlx::query(
            "INSERT INTO secrets (purpose, subject, nonce, ciphertext)
             SELECT $1, * FROM unnest($2::uuid[], $3::bytea[], $4::bytea[])
             ON CONFLICT (purpose, subject) DO UPDATE
               SET nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, created_at = now()",
        )
        .bind(purpose.name())
        .bind(&subjects)
        .bind(&nonces)
        .bind(&ciphertexts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the secrets of `purpose` of these subjects.
    pub async fn delete_many(
        &self,
        purpose: Purpose,
        subjects: &[Uuid],
    ) -> Result<(), SecretError> {
        sqlx::query("DELETE FROM secrets WHERE purpose = $1 AND subject = ANY($2)")
            .bind(purpose.name())
            .bind(subjects)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a secret (after the message carrying it was sent).
    pub async fn delete(&self, purpose: Purpose, subject: Uuid) -> Result<(), SecretError> {
        sqlx::query("DELETE FROM secrets WHERE purpose = $1 AND subject = $2")
            .bind(purpose.name())
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Argon2id cost: 19 MiB and two passes (OWASP's minimum), about 36 ms here. Dovecot's
/// defaults cost four times that, which a batch of a thousand mailboxes cannot afford.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;

/// A password hashed for the mail data plane: `{ARGON2ID}$argon2id$v=19$…`, a scheme
/// Dovecot verifies. CPU-heavy: call it from a blocking thread.
pub fn mail_password_hash(password: &str) -> Result<String, SecretError> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None)
        .map_err(|_| SecretError::Hash)?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| SecretError::Hash)?;
    Ok(format!("{{ARGON2ID}}{hash}"))
}

/// A fresh random key as 64 hex characters.
pub fn generate_key() -> Result<String, SecretError> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|_| SecretError::BadKey)?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
