//! The migration worker: copies old mail for the accounts of running migration tasks, at
//! most `concurrency` accounts at once. Work on an account is a lease renewed by a
//! heartbeat: a worker that dies stops renewing, and after `lease` the account is resumed
//! by whichever worker claims it next (dsync resumes without duplicates), instead of
//! showing "running" forever. Each step's outcome is an event through `app::migration`.

use std::sync::Arc;
use std::time::Duration;

use app::{App, Request};
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::consumer::stopped_within;
use crate::dataplane::DataPlane;

mod account;
mod lease;

pub use account::{copy_with_progress, counts};

/// How the worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationSettings {
    /// Accounts copied at once by this worker.
    pub concurrency: usize,
    /// How long a claimed account stays this worker's without a heartbeat.
    pub lease: Duration,
    /// The wait before the first retry of an unreachable server; doubled each attempt.
    pub backoff: Duration,
    /// How often waiting accounts are looked for and progress is written.
    pub tick: Duration,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        MigrationSettings {
            concurrency: 4,
            lease: Duration::from_secs(60),
            backoff: Duration::from_secs(30),
            tick: Duration::from_secs(1),
        }
    }
}

/// Copies old mail into the data plane for running migration tasks.
pub struct MigrationWorker {
    app: App,
    plane: Arc<dyn DataPlane>,
    settings: MigrationSettings,
    /// This worker's name on the leases it holds.
    holder: Uuid,
}

impl MigrationWorker {
    /// A worker copying into `plane`.
    pub fn new(app: App, plane: Arc<dyn DataPlane>, settings: MigrationSettings) -> Self {
        MigrationWorker {
            app,
            plane,
            settings,
            holder: Uuid::now_v7(),
        }
    }

    /// Claims and works accounts until `stop` turns true (the copies running then are
    /// stopped; their leases lapse and another run resumes them).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let free = this.settings.concurrency.saturating_sub(running.len());
            if free > 0 {
                match lease::claim(&this.app, this.holder, free, this.settings.lease).await {
                    Ok(claimed) => {
                        for (migration_id, account_id) in claimed {
                            let worker = this.clone();
                            running.spawn(async move {
                                worker.work(migration_id, account_id).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming migration accounts failed"),
                }
            }
            if stopped_within(&mut stop, this.settings.tick).await {
                running.shutdown().await;
                return;
            }
        }
    }

    /// One account under its lease: the copy runs beside a heartbeat that renews the lease
    /// and stops the copy when the lease is lost or the task ended.
    async fn work(&self, migration_id: Uuid, account_id: Uuid) {
        let request = Request::system("worker:migration");
        let copy = account::migrate(self, &request, migration_id, account_id);
        let heartbeat = async {
            loop {
                tokio::time::sleep(self.settings.lease / 3).await;
                match lease::renew(
                    self.app.pool(),
                    account_id,
                    self.holder,
                    self.settings.lease,
                )
                .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(account = %account_id, "migration lease lost; stopping");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing a migration lease failed"),
                }
                if lease::task_ended(self.app.pool(), migration_id)
                    .await
                    .unwrap_or(false)
                {
                    tracing::info!(migration = %migration_id, "migration ended; stopping its copy");
                    return;
                }
            }
        };
        tokio::select! {
            outcome = copy => {
                if let Err(e) = outcome {
                    tracing::warn!(account = %account_id, error = %e, "migrating an account stopped");
                }
            }
            () = heartbeat => {}
        }
        if let Err(e) = lease::release(self.app.pool(), account_id, self.holder).await {
            tracing::warn!(error = %e, "releasing a migration lease failed");
        }
    }
}
