//! The one LISTEN connection of a store: every NOTIFY (and every reconnect, after which
//! notifications may have been missed) bumps a counter that all waiting subscriptions and
//! long-polls of the process watch. It ends when the store does.

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

use crate::store::NOTIFY_CHANNEL;

/// Starts listening on one connection of `pool` for as long as `notified` lives.
pub(crate) fn spawn(pool: PgPool, notified: Weak<watch::Sender<u64>>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let bump = |n: &watch::Sender<u64>| n.send_modify(|c| *c = c.wrapping_add(1));
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(error = %e, "LISTEN unavailable; subscriptions poll");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if notified.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            };
            if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                tracing::debug!(error = %e, "LISTEN failed; subscriptions poll");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                // Wakes now and then to end with the store.
                let got = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
                let Some(n) = notified.upgrade() else {
                    return;
                };
                match got {
                    Err(_) => {}
                    Ok(Ok(_)) => bump(&n),
                    Ok(Err(_)) => {
                        bump(&n);
                        break;
                    }
                }
            }
        }
    });
}
