//! A private PostgreSQL cluster in a folder of our own, for `mailplane serve` without
//! `DATABASE_URL` and for the test harness.
//!
//! The server listens only on a unix socket inside the folder. It runs as a child of a
//! thread that lives as long as the process and is told to shut down fast when that
//! thread (i.e. the process) dies, so a killed mailplane never leaves a server behind.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

mod process;

use process::*;

/// Name of the superuser role created in a private cluster.
pub const SUPERUSER: &str = "mailplane";
/// Longest unix socket path the kernel accepts, less room for the file name.
const MAX_SOCKET_DIR: usize = 90;

/// What can go wrong with a private cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or in \
         /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install -y postgresql`) \
         or set DATABASE_URL to a PostgreSQL server you already run."
    )]
    BinariesNotFound,
    #[error(
        "MAILPLANE_PG_BINDIR={0} holds no initdb and postgres. Point it at a PostgreSQL bin \
         folder (e.g. /usr/lib/postgresql/15/bin), unset it to search, or set DATABASE_URL."
    )]
    BinariesNotIn(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("initdb failed ({status}): {output}")]
    Initdb { status: String, output: String },
    #[error("PostgreSQL did not start within {seconds} s; its log {log} ends with:\n{tail}")]
    StartTimeout {
        seconds: u64,
        log: String,
        tail: String,
    },
    #[error("PostgreSQL exited while starting ({status}); its log {log} ends with:\n{tail}")]
    Exited {
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "running as root, but no unprivileged user (postgres or nobody) exists to run PostgreSQL"
    )]
    NoUnprivilegedUser,
    #[error("the socket folder {0} is not usable")]
    SocketDir(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// How a private cluster is set up.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's data folder (created if missing).
    pub data_dir: PathBuf,
    /// Trade durability for speed (fsync off): for throw-away test clusters only.
    pub ephemeral: bool,
    pub max_connections: u32,
    /// The folder with initdb and postgres; `None` searches PATH, then /usr/lib/postgresql.
    pub bin_dir: Option<PathBuf>,
}

impl ClusterConfig {
    /// A durable cluster in `data_dir`.
    pub fn durable(data_dir: impl Into<PathBuf>) -> Self {
        ClusterConfig {
            data_dir: data_dir.into(),
            ephemeral: false,
            max_connections: 100,
            bin_dir: None,
        }
    }
}

/// A running private cluster. [`stop`](Self::stop) shuts it down; so does process exit.
#[derive(Debug)]
pub struct LocalCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// None when another process already ran the server on this folder and we reuse it.
    child: Mutex<Option<Child>>,
}

impl LocalCluster {
    /// Creates the cluster if its folder is empty, then starts it (or reuses the server
    /// already running on it) and waits until it accepts connections.
    pub async fn start(config: &ClusterConfig) -> Result<LocalCluster, ClusterError> {
        let bin = match &config.bin_dir {
            Some(dir) if has_binaries(dir) => dir.clone(),
            Some(dir) => return Err(ClusterError::BinariesNotIn(dir.display().to_string())),
            None => find_binaries()?,
        };
        let data_dir = absolute(&config.data_dir)?;
        let runner = Runner::for_current_user()?;
        let socket_dir = socket_dir_for(&data_dir)?;

        if !data_dir.join("PG_VERSION").exists() {
            initdb(&bin, &data_dir, &runner, config.ephemeral)?;
        }
        runner.own(&socket_dir)?;
        // Whoever reaches the socket is the superuser: only the server's own user (and
        // root) may enter its folder, and the socket answers them alone.
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot close {}", socket_dir.display())))?;

        let options = connect_options(&socket_dir, "postgres");
        // A crash (kill -9 of the whole group) leaves a server shutting down or orphaned:
        // it is ours, so it is stopped and a fresh one started. A server another live
        // process started (`mailplane workers` beside `serve`) is shared.
        if let Some(pid) = server_pid(&data_dir).filter(|pid| orphaned(*pid)) {
            let dir = data_dir.clone();
            tokio::task::spawn_blocking(move || stop_leftover(&dir, pid))
                .await
                .map_err(|e| ClusterError::Io {
                    what: "stopping a leftover PostgreSQL".into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        if server_running(&data_dir) && PgConnection::connect_with(&options).await.is_ok() {
            tracing::info!(data_dir = %data_dir.display(), "reusing the PostgreSQL server already running");
            return Ok(LocalCluster {
                data_dir,
                socket_dir,
                child: Mutex::new(None),
            });
        }

        let log_path = data_dir
            .parent()
            .unwrap_or(&data_dir)
            .join(format!("{}.log", file_name(&data_dir)));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("cannot open {}", log_path.display())))?;
        let log_err = log.try_clone().map_err(io("cannot share the log file"))?;

        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D")
            .arg(&data_dir)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-c", "listen_addresses="])
            .args(["-c", &format!("max_connections={}", config.max_connections)])
            .args(["-c", "unix_socket_permissions=0700"]);
        if config.ephemeral {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"]);
        }
        // Its own process group: a Ctrl-C in the terminal reaches mailplane, which then
        // stops the server after the last request, instead of both at once.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        runner.apply(&mut cmd);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn_from_lasting_thread(cmd).map_err(io(format!(
            "cannot start {}",
            bin.join("postgres").display()
        )))?;
        let cluster = LocalCluster {
            data_dir,
            socket_dir,
            child: Mutex::new(Some(child)),
        };
        cluster.wait_ready(&log_path).await?;
        tracing::info!(socket_dir = %cluster.socket_dir.display(), "private PostgreSQL started");
        Ok(cluster)
    }

    async fn wait_ready(&self, log_path: &Path) -> Result<(), ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let options = self.connect_options("postgres");
        loop {
            if let Some(status) = self.child_status() {
                return Err(ClusterError::Exited {
                    status,
                    log: log_path.display().to_string(),
                    tail: tail(log_path),
                });
            }
            if let Ok(conn) = PgConnection::connect_with(&options).await {
                let _ = conn.close().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::StartTimeout {
                    seconds: 60,
                    log: log_path.display().to_string(),
                    tail: tail(log_path),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn child_status(&self) -> Option<String> {
        let mut guard = self.child.lock().ok()?;
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Options to connect to `database` as the superuser over the socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        connect_options(&self.socket_dir, database)
    }

    /// The cluster's data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Shuts the server down (fast: open transactions are rolled back) and waits for it.
    /// A server this process did not start is left running.
    pub fn stop(&self) -> Result<(), ClusterError> {
        let Some(mut child) = self.child.lock().ok().and_then(|mut c| c.take()) else {
            return Ok(());
        };
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        child.wait().map_err(io("waiting for PostgreSQL to stop"))?;
        Ok(())
    }
}

fn connect_options(socket_dir: &Path, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(socket_dir)
        .username(SUPERUSER)
        .database(database)
        .application_name("mailplane")
}

/// Finds initdb and postgres: PATH first, then the newest /usr/lib/postgresql/*/bin.
pub fn find_binaries() -> Result<PathBuf, ClusterError> {
    let has_both = |dir: &Path| has_binaries(dir);
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // A symlink (Debian's /usr/local/bin) is resolved so the binaries are found
                // beside their real library folder.
                let real = fs::canonicalize(dir.join("postgres"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| has_both(d))
                    .unwrap_or(dir);
                return Ok(real);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(ClusterError::BinariesNotFound)
}

fn has_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}
