//! `mailplane`: the control plane of a hosted enterprise e-mail service.

mod bench;
mod bench_api;
mod bench_migration;
mod bench_personal;
mod config;
mod database;
mod serve;
mod server_dir;
mod work;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use config::Config;

#[derive(Parser)]
#[command(
    name = "mailplane",
    version,
    about = "Control plane for hosted enterprise e-mail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API and run the workers (SMS, mail data plane, timers). Without
    /// DATABASE_URL it runs a private PostgreSQL in MAILPLANE_DATA_DIR.
    Serve {
        /// Only the API; run the workers elsewhere with `mailplane workers`.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run only the workers (several processes share the work safely).
    Workers,
    /// Run a mail data plane for local mode and tests.
    Dataplane {
        #[command(subcommand)]
        kind: DataPlaneKind,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a signed token for development and tests.
    Token {
        /// The principal id.
        #[arg(long)]
        sub: String,
        /// account, service or operator.
        #[arg(long)]
        kind: String,
        /// For services: marketplace or billing.
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime: 90s, 15m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Print a one-time console sign-in link for a cloud account (local use and tests).
    ConsoleLink {
        /// The cloud account.
        #[arg(long)]
        sub: String,
        /// How long the link may wait before it is opened: 90s, 15m (the most).
        #[arg(long, default_value = "15m")]
        ttl: String,
    },
    /// Print the GraphQL SDL (or write it to a file: schema/graphql/schema.graphql).
    Schema {
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Write the event catalog (JSON Schemas + README) into this folder instead:
        /// schema/events.
        #[arg(long, conflicts_with = "out")]
        events: Option<std::path::PathBuf>,
    },
    /// Manage the read models.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Measure performance; prints figures, the last line machine-readable.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Subcommand)]
enum ProjectionsAction {
    /// Replay a projection (or all, side by side) from the first event into fresh tables and
    /// swap them in.
    Rebuild {
        /// subscriptions, organizations, members, mail_domains, mailboxes or audit_log.
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum DataPlaneKind {
    /// A private Dovecot on loopback, in the foreground until Ctrl-C; point
    /// MAILPLANE_DATAPLANE=dovecot-external:<dir> at it.
    Dovecot {
        /// Its files: configuration, passwd-file, mail.
        #[arg(long, default_value = ".mailplane/dovecot")]
        dir: std::path::PathBuf,
        /// Its IMAP address (default MAILPLANE_IMAP_LISTEN, else 127.0.0.1:10143).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Event store appends (1 and 8 writers, against a raw INSERT) and $all catch-up.
    Eventstore,
    /// Old mail copied for a 2,000-message account, beside a raw `doveadm backup` of it.
    Migration,
    /// Commands in a 10- and a 50,000-member organization, bulk imports and mailbox
    /// openings, the members page under 64 clients, a projection rebuild.
    Api {
        /// Members of the large organization.
        #[arg(long, default_value_t = 50_000)]
        members: usize,
        /// Samples per command and organization.
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailplane: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailplane: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve { no_workers } => {
            let roles = serve::Roles {
                api: true,
                workers: !no_workers,
            };
            serve::run(config, roles).await
        }
        Command::Workers => {
            let roles = serve::Roles {
                api: false,
                workers: true,
            };
            serve::run(config, roles).await
        }
        Command::Dataplane {
            kind: DataPlaneKind::Dovecot { dir, listen },
        } => {
            let listen = listen.unwrap_or(config.imap_listen);
            let layout = workers::dataplane::DovecotLayout::new(dir.clone());
            let server = tokio::task::spawn_blocking(move || {
                workers::dataplane::DovecotServer::start(layout, listen)
            })
            .await??;
            println!(
                "Dovecot answers IMAP on {listen}; run mailplane with MAILPLANE_DATAPLANE=dovecot-external:{}",
                dir.display()
            );
            serve::shutdown_signal().await;
            drop(server);
            Ok(())
        }
        Command::Migrate => {
            let db = database::Database::open(&config).await?;
            db.migrate().await?;
            println!("migrations applied");
            db.close().await
        }
        Command::Token {
            sub,
            kind,
            scope,
            ttl,
        } => {
            let kind: api::PrincipalKind = kind.parse()?;
            let ttl = app::auth::parse_ttl(&ttl)?;
            let keys = config.jwt_keys()?;
            let token = keys
                .issue(
                    &sub,
                    kind,
                    scope.as_deref(),
                    ttl,
                    chrono::Utc::now().timestamp(),
                )
                .context("cannot issue the token")?;
            println!("{token}");
            Ok(())
        }
        Command::ConsoleLink { sub, ttl } => {
            let ttl = app::auth::parse_ttl(&ttl)?;
            let token = config
                .jwt_keys()?
                .issue_sign_in(&sub, ttl, chrono::Utc::now().timestamp())
                .context("cannot issue the sign-in link")?;
            println!("{}/console/login?token={token}", config.console_base());
            Ok(())
        }
        Command::Schema {
            events: Some(dir), ..
        } => {
            for (category, event_type, schema) in domain::catalog::schemas() {
                let folder = dir.join(category);
                std::fs::create_dir_all(&folder)
                    .with_context(|| format!("cannot create {}", folder.display()))?;
                let path = folder.join(format!("{event_type}.json"));
                std::fs::write(
                    &path,
                    format!("{}\n", serde_json::to_string_pretty(&schema)?),
                )
                .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let readme = dir.join("README.md");
            std::fs::write(&readme, domain::catalog::readme())
                .with_context(|| format!("cannot write {}", readme.display()))?;
            println!("event catalog written to {}", dir.display());
            Ok(())
        }
        Command::Schema { out, events: None } => {
            let sdl = api::graphql::sdl();
            match out {
                Some(path) => std::fs::write(&path, sdl)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{sdl}"),
            }
            Ok(())
        }
        Command::Projections {
            action: ProjectionsAction::Rebuild { name },
        } => {
            let chosen = match name.as_deref() {
                None => projections::Projection::ALL.to_vec(),
                Some(n) => vec![projections::Projection::named(n).with_context(|| {
                    format!("no projection named {n:?}; use subscriptions, organizations, members, mail_domains, mailboxes or audit_log")
                })?],
            };
            let db = database::Database::open(&config).await?;
            db.migrate().await?;
            let runner = projections::Runner::new(config.event_store(&db.pool)?);
            // Side by side: each projection has its own tables and connection.
            let counts = runner.rebuild_all(&chosen).await?;
            for (p, n) in chosen.iter().zip(counts) {
                println!("rebuilt {} from {n} events", p.name());
            }
            db.close().await
        }
        Command::Bench {
            target: BenchTarget::Eventstore,
        } => bench::eventstore(config).await,
        Command::Bench {
            target: BenchTarget::Migration,
        } => bench_migration::migration().await,
        Command::Bench {
            target: BenchTarget::Api { members, samples },
        } => bench_api::api(config, bench_api::Sizes { members, samples }).await,
    }
}

/// Logs to stderr; `MAILPLANE_LOG` (or `RUST_LOG`) sets the filter, default `info`.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("MAILPLANE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}
