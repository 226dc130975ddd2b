//! Getting a database: `DATABASE_URL`, or a private cluster in the data folder.

use std::time::Duration;

use anyhow::Context;
use eventstore::cluster::{ClusterConfig, LocalCluster};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::config::Config;

/// The database mailplane keeps its data in, inside a private cluster.
const LOCAL_DATABASE: &str = "mailplane";

/// A connected database and, in local mode, the cluster that serves it.
pub struct Database {
    /// For requests.
    pub pool: PgPool,
    /// For projections and workers, bounded apart from requests.
    pub background: PgPool,
    pub options: PgConnectOptions,
    pub cluster: Option<LocalCluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (creating if needed) the private cluster.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        Database::open_named(config, LOCAL_DATABASE).await
    }

    /// Like [`open`](Self::open), with another database name in local mode.
    pub async fn open_named(config: &Config, local_database: &str) -> anyhow::Result<Database> {
        let (options, cluster) = match &config.database_url {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    anyhow::bail!("DATABASE_URL must start with postgres:// or postgresql://");
                }
                let options: PgConnectOptions = url
                    .parse()
                    .context("DATABASE_URL is not a PostgreSQL connection URL")?;
                (options, None)
            }
            None => {
                let mut cluster_config =
                    ClusterConfig::durable(config.servers_dir()?.join("postgres"));
                cluster_config.bin_dir = config.pg_bin_dir.clone();
                let cluster = LocalCluster::start(&cluster_config).await?;
                ensure_database(&cluster, local_database).await?;
                (cluster.connect_options(local_database), Some(cluster))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            // A request that cannot get a connection soon answers UNAVAILABLE (retry)
            // instead of holding its client for long.
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options.clone())
            .await
            .with_context(|| match &config.database_url {
                Some(_) => "cannot connect to the PostgreSQL of DATABASE_URL".to_owned(),
                None => "cannot connect to the private PostgreSQL".to_owned(),
            })?;
        let background = PgPoolOptions::new()
            .max_connections(config.db_background_pool_size)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options.clone());
        Ok(Database {
            pool,
            background,
            options,
            cluster,
        })
    }

    /// Applies the migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        eventstore::EventStore::migrate(&self.pool)
            .await
            .context("applying migrations")
    }

    /// Closes the pool, then stops the private cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        self.background.close().await;
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
}

async fn ensure_database(cluster: &LocalCluster, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await?;
    }
    conn.close().await?;
    Ok(())
}
