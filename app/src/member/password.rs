//! A member's mail password: kept encrypted when it is set, hashed for the data plane when a
//! mailbox needs it, so no request waits on Argon2.

use super::*;

/// Keeps a member's password for its message (`purpose`) and, waiting to be hashed, for
/// the mailbox (replacing an older hash: the data plane asks for the new one).
pub(super) async fn keep_password(
    app: &App,
    purpose: Purpose,
    member_id: Uuid,
    password: &str,
) -> Result<(), AppError> {
    app.secrets().put(purpose, member_id, password).await?;
    app.secrets()
        .put(Purpose::MailboxPassword, member_id, password)
        .await?;
    Ok(())
}

/// The member's mail password as the data plane takes it (`{ARGON2ID}…`): hashed now, on a
/// blocking thread, if a new password waits for it; `None` when none is kept.
pub async fn mailbox_password_hash(app: &App, member_id: Uuid) -> Result<Option<String>, AppError> {
    // A new password arriving while one is hashed replaces it: hash again, a few times.
    for _ in 0..5 {
        let Some((plain, version)) = app
            .secrets()
            .get_versioned(Purpose::MailboxPassword, member_id)
            .await?
        else {
            return Ok(app
                .secrets()
                .get(Purpose::MailboxPasswordHash, member_id)
                .await?);
        };
        let hash = {
            let _turn = app.hashing_turn().await?;
            tokio::task::spawn_blocking(move || secrets::mail_password_hash(&plain))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??
        };
        let replaced = app
            .secrets()
            .replace_unchanged(
                Purpose::MailboxPassword,
                member_id,
                &version,
                Purpose::MailboxPasswordHash,
                &hash,
            )
            .await?;
        if replaced {
            return Ok(Some(hash));
        }
    }
    Err(AppError::Conflict(
        "the member's password keeps changing; try again".into(),
    ))
}
