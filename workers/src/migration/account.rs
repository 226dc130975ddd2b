//! One account's migration: log in on the old server ourselves (to classify a failure and
//! learn the totals), choose the copy mode from what the target holds, copy with the data
//! plane while writing live progress, record the outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use app::migration::probe::{self, OldFolder, ProbeError};
use app::{AppError, Request};
use domain::migration::{FolderCount, MigrationFailure};
use uuid::Uuid;

use super::MigrationWorker;
use crate::dataplane::{DataPlane, FolderStat, ImportError, MailImport};

/// The longest wait between two attempts at an unreachable server.
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

pub(super) async fn migrate(
    worker: &MigrationWorker,
    request: &Request,
    migration_id: Uuid,
    account_id: Uuid,
) -> Result<(), AppError> {
    let app = &worker.app;
    let state = match app::migration::begin_check(app, request, migration_id, account_id).await {
        Ok(done) => done.answer,
        // Finished, cancelled or not due yet (the read model was behind): nothing to do.
        Err(AppError::Refused(reason)) => {
            tracing::debug!(account = %account_id, %reason, "migration account not runnable");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let (Some(source), Some(account)) = (state.source.clone(), state.accounts.get(&account_id))
    else {
        return Ok(());
    };
    let failed = |failure: MigrationFailure, reason: String, retry: bool| {
        let retry_in = retry.then(|| backoff(worker.settings.backoff, account.attempts));
        async move {
            app::migration::record_failure(
                app,
                request,
                migration_id,
                account_id,
                failure,
                &reason,
                retry_in.and_then(|d| chrono::Duration::from_std(d).ok()),
            )
            .await
            .map(|_| ())
        }
    };
    let Some(password) = app::migration::old_password(app, request, account_id).await? else {
        let reason = "the old password is no longer kept; add the account again".to_owned();
        return failed(MigrationFailure::PasswordNotKept, reason, false).await;
    };
    let targets = app.settings().migration_sources;
    let old = match probe::login(&source, targets, &account.old_account, &password).await {
        Ok(folders) => folders,
        Err(e) => {
            let (failure, retry) = match e {
                ProbeError::Unreachable(_) => (MigrationFailure::ServerUnreachable, true),
                ProbeError::AuthenticationFailed => (MigrationFailure::AuthenticationFailed, false),
                ProbeError::NotAllowed | ProbeError::Protocol(_) => {
                    (MigrationFailure::CopyFailed, false)
                }
            };
            return failed(failure, e.to_string(), retry).await;
        }
    };
    let before = match worker.plane.folders(account.mailbox_id).await {
        Ok(Some(folders)) => folders,
        Ok(None) => {
            let reason = "the target mailbox does not exist on the data plane".to_owned();
            return failed(MigrationFailure::TargetUnavailable, reason, false).await;
        }
        Err(e) => return failed(MigrationFailure::TargetUnavailable, e.to_string(), true).await,
    };
    let total: u64 = old.iter().map(|f| f.messages).sum();
    let has_mail = before.iter().any(|f| f.messages > 0);
    let copying =
        app::migration::begin_copy(app, request, migration_id, account_id, total, has_mail).await?;
    let Some(mode) = copying
        .answer
        .accounts
        .get(&account_id)
        .and_then(|a| a.mode)
    else {
        return Ok(());
    };
    let import = MailImport {
        import_id: account_id,
        mailbox_id: account.mailbox_id,
        source,
        user: account.old_account.clone(),
        password,
        mode,
        state: account.sync_state.clone(),
    };
    tracing::info!(account = %account_id, mode = mode.as_str(), messages = total, "copying old mail");
    let outcome = copy_with_progress(
        worker.plane.as_ref(),
        &import,
        &old,
        worker.settings.tick,
        |folders| async move { write_progress(worker, account_id, &folders).await },
    )
    .await;
    match outcome {
        Ok(sync_state) => {
            let after = worker
                .plane
                .folders(account.mailbox_id)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let folders = counts(&old, &after);
            write_progress(worker, account_id, &folders).await;
            app::migration::record_success(
                app,
                request,
                migration_id,
                account_id,
                folders,
                sync_state,
            )
            .await
            .map(|_| ())
        }
        Err(ImportError {
            failure,
            reason,
            retryable,
        }) => failed(failure, reason, retryable).await,
    }
}

/// Copies with the data plane while polling the target's folders every `tick` and handing
/// the counts to `progress`; answers the copy's state to continue from.
pub async fn copy_with_progress<F, Fut>(
    plane: &dyn DataPlane,
    import: &MailImport,
    old: &[OldFolder],
    tick: Duration,
    progress: F,
) -> Result<Option<String>, ImportError>
where
    F: Fn(Vec<FolderCount>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let copy = plane.import_mail(import);
    tokio::pin!(copy);
    loop {
        tokio::select! {
            outcome = &mut copy => return outcome,
            () = tokio::time::sleep(tick) => {
                if let Ok(Some(now)) = plane.folders(import.mailbox_id).await {
                    progress(counts(old, &now)).await;
                }
            }
        }
    }
}

/// Per old folder: its messages, how many of them the target folder now holds, the rest,
/// and the target folder's bytes.
pub fn counts(old: &[OldFolder], target: &[FolderStat]) -> Vec<FolderCount> {
    let target: BTreeMap<&str, &FolderStat> = target.iter().map(|f| (f.name.as_str(), f)).collect();
    old.iter()
        .map(|f| {
            let there = target.get(f.name.as_str());
            let copied = there.map_or(0, |t| t.messages.min(f.messages));
            FolderCount {
                name: f.name.clone(),
                total: f.messages,
                copied,
                skipped: f.messages - copied,
                bytes: there.map_or(0, |t| t.bytes),
            }
        })
        .collect()
}

async fn write_progress(worker: &MigrationWorker, account_id: Uuid, folders: &[FolderCount]) {
    for f in folders {
        let written = sqlx::query(
            "INSERT INTO migration_progress (account_id, folder, total, copied, bytes, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (account_id, folder) DO UPDATE SET total = $3, copied = $4, bytes = $5, updated_at = now()",
        )
        .bind(account_id)
        .bind(&f.name)
        .bind(i64::try_from(f.total).unwrap_or(i64::MAX))
        .bind(i64::try_from(f.copied).unwrap_or(i64::MAX))
        .bind(i64::try_from(f.bytes).unwrap_or(i64::MAX))
        .execute(worker.app.pool())
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "writing migration progress failed");
            return;
        }
    }
}

/// `base` doubled per attempt already made, at most MAX_BACKOFF.
fn backoff(base: Duration, attempts: u32) -> Duration {
    base.saturating_mul(1u32 << attempts.min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_how_much_of_each_old_folder_is_there() {
        let old = vec![
            OldFolder {
                name: "INBOX".into(),
                messages: 10,
            },
            OldFolder {
                name: "Café".into(),
                messages: 3,
            },
        ];
        let target = vec![FolderStat {
            name: "INBOX".into(),
            messages: 12,
            bytes: 900,
        }];
        let c = counts(&old, &target);
        assert_eq!((c[0].copied, c[0].skipped, c[0].bytes), (10, 0, 900));
        assert_eq!((c[1].copied, c[1].skipped, c[1].bytes), (0, 3, 0));
    }

    #[test]
    fn backoff_doubles_and_stops_at_half_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 2), Duration::from_secs(120));
        assert_eq!(backoff(base, 20), MAX_BACKOFF);
    }
}
