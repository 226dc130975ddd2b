//! The workers `serve` runs beside the API (or alone with `mailplane workers`): SMS, the
//! mail data plane, mail migration, timers and process managers, each stopping when `stop` turns true.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use workers::dataplane::{
    DataPlane, DataPlaneWorker, Dovecot, DovecotLayout, DovecotServer, HttpDataPlane,
};
use workers::sms::{HttpProvider, LogProvider, SmsProvider, SmsWorker};

use crate::config::{Config, DataPlaneSetting, SmsSetting};

/// Mailboxes the data plane worker provisions at once.
const DATAPLANE_WIDTH: usize = 16;

/// Text messages sent at once (a gateway call waits on the network; each person's messages
/// stay in order).
const SMS_WIDTH: usize = 8;

/// How often due timers are looked for.
const TIMER_TICK: Duration = Duration::from_secs(1);

/// Running workers, and the private Dovecot they drive (stopped when this is dropped).
pub struct Running {
    pub tasks: Vec<JoinHandle<()>>,
    pub dovecot: Option<DovecotServer>,
}

/// Starts every worker.
pub async fn start(
    config: &Config,
    application: &app::App,
    runner: &projections::Runner,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let store = application.store();
    let mut tasks = Vec::new();

    let provider: Box<dyn SmsProvider> = match &config.sms {
        SmsSetting::Log => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let file = config.data_dir.join("sms.log");
            tracing::info!(file = %file.display(), "text messages go to a file (MAILPLANE_SMS=log)");
            Box::new(LogProvider::new(file))
        }
        SmsSetting::Http(url) => Box::new(HttpProvider::new(url.clone())),
    };
    let console = config
        .console_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let sms = SmsWorker::new(
        application.clone(),
        provider,
        config.app_name.clone(),
        console,
    );
    tasks.push(tokio::spawn(workers::consumer::run_concurrent(
        store.clone(),
        sms,
        stop.clone(),
        SMS_WIDTH,
    )));

    let manager = workers::managers::ProcessManager::new(application.clone(), runner.clone());
    tasks.push(tokio::spawn(workers::consumer::run(
        store.clone(),
        manager,
        stop.clone(),
    )));

    let timers = workers::timers::TimerWorker::new(application.clone());
    tasks.push(tokio::spawn(timers.run(TIMER_TICK, stop.clone())));

    let webhooks = workers::webhooks::WebhookWorker::new(
        store.clone(),
        application.secrets().clone(),
        workers::webhooks::WebhookSettings {
            targets: config.settings.webhook_targets,
            ..Default::default()
        },
    );
    tasks.push(tokio::spawn(webhooks.run(stop.clone())));

    let (plane, dovecot) = data_plane(config).await?;
    if let Some(plane) = plane {
        let migration = workers::migration::MigrationWorker::new(
            application.clone(),
            plane.clone(),
            config.migration,
        );
        tasks.push(tokio::spawn(migration.run(stop.clone())));
        let worker = DataPlaneWorker::new(application.clone(), plane, runner.clone());
        // Mailboxes are provisioned side by side (hashing, their users-file edits written
        // together); each mailbox's own events stay in order.
        tasks.push(tokio::spawn(workers::consumer::run_concurrent(
            store.clone(),
            worker,
            stop.clone(),
            DATAPLANE_WIDTH,
        )));
    }
    Ok(Running { tasks, dovecot })
}

async fn data_plane(
    config: &Config,
) -> anyhow::Result<(Option<Arc<dyn DataPlane>>, Option<DovecotServer>)> {
    match &config.dataplane {
        DataPlaneSetting::Dovecot => {
            let layout = DovecotLayout::new(config.servers_dir()?.join("dovecot"));
            let listen = config.imap_listen;
            let started = tokio::task::spawn_blocking(move || DovecotServer::start(layout, listen))
                .await
                .context("starting Dovecot")?;
            match started {
                Ok(server) => {
                    let plane: Arc<dyn DataPlane> = Arc::new(Dovecot::new(server.layout().clone()));
                    Ok((Some(plane), Some(server)))
                }
                Err(e) if e.is_not_installed() => {
                    tracing::warn!("{e}; until then mailboxes stay PROVISIONING");
                    Ok((None, None))
                }
                Err(e) => Err(e).context(
                    "the private Dovecot (MAILPLANE_DATAPLANE=dovecot, MAILPLANE_IMAP_LISTEN)",
                ),
            }
        }
        DataPlaneSetting::DovecotExternal(dir) => {
            let layout = DovecotLayout::new(dir.clone());
            if !layout.config_file().is_file() {
                anyhow::bail!(
                    "MAILPLANE_DATAPLANE=dovecot-external:{}: no dovecot.conf there; make one with `mailplane dataplane dovecot --dir {}`",
                    dir.display(),
                    dir.display()
                );
            }
            Ok((Some(Arc::new(Dovecot::new(layout))), None))
        }
        DataPlaneSetting::Http(url) => Ok((Some(Arc::new(HttpDataPlane::new(url.clone()))), None)),
        DataPlaneSetting::None => {
            tracing::warn!("MAILPLANE_DATAPLANE=none: mailboxes stay PROVISIONING");
            Ok((None, None))
        }
    }
}
