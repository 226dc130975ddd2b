//! Test databases: one PostgreSQL per test process (a private cluster, or the server
//! named by `DATABASE_URL`), a migrated template in it, and a fresh database cloned from
//! the template for every test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool};
use tokio::sync::{Mutex, OnceCell};

use crate::cluster::{ClusterConfig, LocalCluster};

/// Where this process's test databases live.
struct Server {
    admin: PgConnectOptions,
    template: String,
    /// Keeps the private cluster (if any) alive for the whole process.
    _cluster: Option<LocalCluster>,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();
static CREATE_LOCK: Mutex<()> = Mutex::const_new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of one's own for one test.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Options to connect to it.
    pub options: PgConnectOptions,
}

impl TestDatabase {
    /// A pool of up to `max` connections to this database.
    pub async fn pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(self.options.clone())
            .await
            .expect("connect to the test database")
    }

    /// A connection string for a child process (the e2e tests start the binary).
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }
}

/// A fresh, migrated database for one test.
pub async fn fresh_database() -> TestDatabase {
    let server = SERVER.get_or_init(start_server).await;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("mailplane_test_{}_{n}", std::process::id());
    {
        // Cloning needs the template to have no other users: one clone at a time.
        let _guard = CREATE_LOCK.lock().await;
        let mut admin = PgConnection::connect_with(&server.admin)
            .await
            .expect("connect to the test server");
        admin
            .execute(format!(r#"CREATE DATABASE "{name}" TEMPLATE "{}""#, server.template).as_str())
            .await
            .expect("clone the template database");
        let _ = admin.close().await;
    }
    TestDatabase {
        options: server.admin.clone().database(&name),
        name,
    }
}

/// The test process's own private cluster folder: unique per process.
fn private_cluster_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mailplane-test-{}", std::process::id()))
}

async fn start_server() -> Server {
    let (admin, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let admin: PgConnectOptions =
                url.parse().expect("DATABASE_URL is not a PostgreSQL URL");
            (admin, None)
        }
        _ => {
            remove_stale_clusters();
            let config = ClusterConfig {
                data_dir: private_cluster_dir().join("postgres"),
                ephemeral: true,
                max_connections: 300,
                bin_dir: None,
            };
            let cluster = LocalCluster::start(&config)
                .await
                .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL for tests: {e}"));
            (cluster.connect_options("postgres"), Some(cluster))
        }
    };
    let template = format!("mailplane_template_{}", std::process::id());
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .expect("connect to the test server");
    drop_stale_databases(&mut conn).await;
    conn.execute(format!(r#"DROP DATABASE IF EXISTS "{template}""#).as_str())
        .await
        .expect("drop an old template");
    conn.execute(format!(r#"CREATE DATABASE "{template}""#).as_str())
        .await
        .expect("create the template database");
    let _ = conn.close().await;

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin.clone().database(&template))
        .await
        .expect("connect to the template database");
    crate::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate the template database");
    pool.close().await;

    Server {
        admin,
        template,
        _cluster: cluster,
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Deletes private clusters left by test processes that have ended.
fn remove_stale_clusters() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("mailplane-test-"))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if !pid_alive(pid) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// Drops test databases of processes that have ended (when sharing a DATABASE_URL server).
async fn drop_stale_databases(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database
         WHERE datname LIKE 'mailplane\\_test\\_%' OR datname LIKE 'mailplane\\_template\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() as i32 && !pid_alive(pid) {
                let _ = conn
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await;
            }
        }
    }
}
