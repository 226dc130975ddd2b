//! Running the server binaries: as which user, initdb, the socket folder, whether a server runs.

use super::*;

/// PostgreSQL refuses to run as root: as root we run it as `postgres` (or `nobody`).
pub(crate) struct Runner {
    ids: Option<(u32, u32)>,
}

impl Runner {
    pub(crate) fn for_current_user() -> Result<Runner, ClusterError> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(Runner { ids: None });
        }
        for name in [c"postgres", c"nobody"] {
            // SAFETY: getpwnam returns a pointer to static storage or null; we copy out
            // the two ids at once.
            let pw = unsafe { libc::getpwnam(name.as_ptr()) };
            if !pw.is_null() {
                let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
                return Ok(Runner {
                    ids: Some((uid, gid)),
                });
            }
        }
        Err(ClusterError::NoUnprivilegedUser)
    }

    pub(crate) fn apply(&self, cmd: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
        }
    }

    /// Creates `dir` if needed and hands it to the user the server runs as.
    pub(crate) fn own(&self, dir: &Path) -> Result<(), ClusterError> {
        fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(io(format!(
                "cannot hand {} to the postgres user",
                dir.display()
            )))?;
        }
        Ok(())
    }
}

pub(crate) fn initdb(
    bin: &Path,
    data_dir: &Path,
    runner: &Runner,
    ephemeral: bool,
) -> Result<(), ClusterError> {
    runner.own(data_dir)?;
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(data_dir)
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale"])
        .arg("--no-instructions");
    if ephemeral {
        cmd.arg("--no-sync");
    }
    runner.apply(&mut cmd);
    let out = cmd
        .output()
        .map_err(io(format!("cannot run {}", bin.join("initdb").display())))?;
    if !out.status.success() {
        return Err(ClusterError::Initdb {
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// The socket lives in the data folder's parent unless that path is too long for a unix
/// socket; then in a folder under /tmp named after the data folder.
pub(crate) fn socket_dir_for(data_dir: &Path) -> Result<PathBuf, ClusterError> {
    let beside = data_dir
        .parent()
        .unwrap_or(data_dir)
        .join(format!("{}-socket", file_name(data_dir)));
    if beside.as_os_str().len() <= MAX_SOCKET_DIR {
        return Ok(beside);
    }
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    let dir = std::env::temp_dir().join(format!("mailplane-pg-{hash:016x}"));
    if dir.as_os_str().len() > MAX_SOCKET_DIR {
        return Err(ClusterError::SocketDir(dir.display().to_string()));
    }
    Ok(dir)
}

pub(crate) fn server_running(data_dir: &Path) -> bool {
    server_pid(data_dir).is_some()
}

/// The PID in `postmaster.pid`, if that process is alive.
pub(crate) fn server_pid(data_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid = text.lines().next()?.trim().parse::<i32>().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// Whether a process was left behind by a parent that is gone (it was re-parented).
pub(crate) fn orphaned(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ppid …": the name may hold spaces, so read after the last ')'.
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<i32>().ok());
    // Re-parented to init. (Under a subreaper the server waits for its parent-death
    // signal instead, which the fast shutdown it triggers makes short.)
    ppid == Some(1)
}

/// Stops a server an earlier, crashed run left behind (fast shutdown, then kill) and waits
/// until its lock file no longer names a live process.
pub(crate) fn stop_leftover(data_dir: &Path, pid: i32) {
    tracing::warn!(pid, data_dir = %data_dir.display(), "stopping the PostgreSQL a crashed run left behind");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut signal = libc::SIGINT;
    while server_pid(data_dir) == Some(pid) {
        if Instant::now() > deadline - Duration::from_secs(10) {
            signal = libc::SIGKILL;
        }
        if Instant::now() > deadline {
            break;
        }
        // SAFETY: kill(2) on the PID the server's own lock file names.
        unsafe {
            libc::kill(pid, signal);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns the child from a thread that never ends, because the parent-death signal fires
/// when the spawning *thread* exits, and runtime threads come and go.
pub(crate) fn spawn_from_lasting_thread(mut cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the postgres-parent thread died"))?
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    fs::create_dir_all(path).map_err(io(format!("cannot create {}", path.display())))?;
    fs::canonicalize(path).map_err(io(format!("cannot resolve {}", path.display())))
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "postgres".into())
}

pub(crate) fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
