//! `mailplane serve`: the HTTP API until Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use eventstore::EventStore;

use crate::config::Config;
use crate::database::Database;

/// What this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP API.
    pub api: bool,
    /// SMS, data plane, timers, process managers.
    pub workers: bool,
}

/// Opens the database, migrates it, serves until told to stop, then shuts down cleanly.
pub async fn run(config: Config, roles: Roles) -> anyhow::Result<()> {
    let jwt = config.jwt_keys()?;
    let db = Database::open(&config).await?;
    let served = serve(&config, &db, jwt, roles).await;
    let closed = db.close().await;
    served?;
    closed
}

async fn serve(
    config: &Config,
    db: &Database,
    jwt: api::JwtKeys,
    roles: Roles,
) -> anyhow::Result<()> {
    db.migrate().await?;
    let secrets = app::secrets::SecretStore::new(db.pool.clone(), &config.secret_key()?)
        .context("MAILPLANE_SECRET_KEY")?;
    // Every reader of the log (read models, workers, requests) opens sealed personal data.
    let store = EventStore::new(db.pool.clone()).with_keyring(secrets.personal_keyring());
    let background = store.on_pool(db.background.clone());
    // Read models follow the log in the background until shutdown.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = projections::Runner::new(background.clone());
    let mut folding = Vec::new();
    for p in projections::Projection::ALL {
        let runner = runner.clone();
        let mut stop = stop_rx.clone();
        folding.push(tokio::spawn(async move {
            runner
                .run(p, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    let dns = Arc::new(app::dns::DnsLookup::new(config.dns).context("MAILPLANE_DNS")?);
    let clock: Arc<dyn app::Clock> = Arc::new(app::SystemClock);
    let background_secrets =
        app::secrets::SecretStore::new(db.background.clone(), &config.secret_key()?)
            .context("MAILPLANE_SECRET_KEY")?;
    // Workers hash mail passwords (when mailboxes open) on every core: no request waits.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let worker_app = app::App::new(background, background_secrets, dns.clone(), clock.clone())
        .with_settings(config.settings.clone())
        .with_hashing_threads(cores);
    let application =
        app::App::new(store.clone(), secrets, dns, clock).with_settings(config.settings.clone());
    let working = if roles.workers {
        Some(crate::work::start(config, &worker_app, &runner, &stop_rx).await?)
    } else {
        None
    };
    let served = if roles.api {
        serve_http(config, &application, &runner, jwt).await
    } else {
        tracing::info!("workers running (no HTTP API in this process)");
        shutdown_signal().await;
        Ok(())
    };
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for task in folding {
        let _ = task.await;
    }
    if let Some(working) = working {
        for task in working.tasks {
            let _ = task.await;
        }
        drop(working.dovecot);
    }
    served
}

async fn serve_http(
    config: &Config,
    application: &app::App,
    runner: &projections::Runner,
    jwt: api::JwtKeys,
) -> anyhow::Result<()> {
    let services = api::graphql::Services {
        app: application.clone(),
        runner: runner.clone(),
    };
    let jwt = Arc::new(jwt);
    let console = console::Console::new(
        application.clone(),
        runner.clone(),
        jwt.clone(),
        config.console.clone(),
    );
    let mut state = api::AppState::new(services, jwt, config.http.clone());
    state.sockets = config.sockets.clone();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %config.listen, "mailplane is serving");
    println!(
        "console: {}/console (sign in with the link `mailplane console-link --sub ACCOUNT` prints)",
        config.console_base()
    );
    api::server::serve(
        listener,
        api::router(state).merge(console::router(console)),
        config.server.clone(),
        shutdown_signal(),
    )
    .await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
