//! A private Dovecot for local mode and tests: writes its configuration from the template
//! in `workers/dovecot/`, starts `dovecot -F` and stops it with us.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::dovecot::DovecotLayout;

const TEMPLATE: &str = include_str!("../../dovecot/dovecot.conf.template");

/// Why the private Dovecot did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("Dovecot is not installed (no `dovecot` in PATH or /usr/sbin): apt-get install -y dovecot-imapd, or set MAILPLANE_DATAPLANE to another data plane")]
    NotInstalled,
    #[error("Dovecot is installed without its IMAP server (no `imap` in {0}): apt-get install -y dovecot-imapd")]
    ImapNotInstalled(String),
    #[error("{0} is already in use by another program, so the private Dovecot cannot listen there: stop that program or set MAILPLANE_IMAP_LISTEN to a free address")]
    AddressTaken(SocketAddr),
    #[error("Dovecot exited at start ({0}); its log, {1}, says why: {2}")]
    Exited(String, PathBuf, String),
    #[error("the mail user `mail` does not exist (needed when running as root)")]
    NoMailUser,
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("Dovecot did not start listening on {0}; see {1}")]
    NotListening(SocketAddr, PathBuf),
}

/// A running private Dovecot.
#[derive(Debug)]
pub struct DovecotServer {
    layout: DovecotLayout,
    listen: SocketAddr,
    pid: u32,
}

/// A program in PATH or /usr/sbin (Dovecot's binaries live there on Debian).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Where Debian (and other systems) keep Dovecot's protocol servers.
const LIBEXEC_DIRS: [&str; 2] = ["/usr/lib/dovecot", "/usr/libexec/dovecot"];

/// The IMAP server among `dirs`: `dovecot-core` alone installs the master without it, and
/// Dovecot would then start and exit at once.
fn imap_server(dirs: &[&str]) -> Result<PathBuf, ServerError> {
    dirs.iter()
        .map(|d| Path::new(d).join("imap"))
        .find(|p| p.is_file())
        .ok_or_else(|| ServerError::ImapNotInstalled(dirs.join(" or ")))
}

/// Whether this error means "no usable Dovecot here", after which `serve` carries on
/// without a data plane (mailboxes wait in PROVISIONING) instead of stopping.
impl ServerError {
    pub fn is_not_installed(&self) -> bool {
        matches!(
            self,
            ServerError::NotInstalled | ServerError::ImapNotInstalled(_)
        )
    }
}

/// The last lines of Dovecot's log, to say why it stopped.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    if tail.is_empty() {
        "(nothing logged)".into()
    } else {
        tail.join(" | ")
    }
}

fn io(what: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |e| ServerError::Io(what.display().to_string(), e)
}

/// Who owns mail: Dovecot never runs mail processes as root, so as root that is Debian's
/// `mail` user; otherwise ourselves.
fn mail_owner() -> Result<(String, u32, u32, bool), ServerError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let root = euid == 0;
    let name = if root {
        "mail".to_owned()
    } else {
        std::env::var("USER").unwrap_or_default()
    };
    let cname = std::ffi::CString::new(name.clone()).map_err(|_| ServerError::NoMailUser)?;
    // SAFETY: getpwnam with a valid C string; the record is copied out at once.
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        if root {
            return Err(ServerError::NoMailUser);
        }
        // SAFETY: getegid has no preconditions.
        return Ok((euid.to_string(), euid, unsafe { libc::getegid() }, false));
    }
    // SAFETY: pw is non-null and points to a static passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok((name, uid, gid, root))
}

/// Writes the configuration for a Dovecot listening on `listen` with its files in `layout`.
pub fn write_config(layout: &DovecotLayout, listen: SocketAddr) -> Result<(), ServerError> {
    let (user, uid, gid, root) = mail_owner()?;
    for dir in [
        layout.dir.clone(),
        layout.mail_root(),
        layout.base_dir(),
        layout.dir.join("state"),
    ] {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Mail processes (another user when we are root) must pass through every folder.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io(&dir))?;
    }
    let mail_root = layout.mail_root();
    std::os::unix::fs::chown(&mail_root, Some(uid), Some(gid)).map_err(io(&mail_root))?;
    let dir = std::fs::canonicalize(&layout.dir).map_err(io(&layout.dir))?;
    // As an ordinary user, Dovecot's own helper processes must run as that user too.
    let login_users = if root {
        String::new()
    } else {
        format!("default_login_user = {user}\ndefault_internal_user = {user}")
    };
    let text = TEMPLATE
        .replace("{{dir}}", &dir.display().to_string())
        .replace("{{instance}}", &listen.port().to_string())
        .replace("{{listen_address}}", &listen.ip().to_string())
        .replace("{{listen_port}}", &listen.port().to_string())
        .replace("{{mail_user}}", &user)
        .replace("{{mail_group}}", &gid.to_string())
        .replace("{{first_valid_uid}}", &uid.min(500).to_string())
        .replace("{{login_users}}", &login_users);
    let file = layout.config_file();
    std::fs::write(&file, text).map_err(io(&file))?;
    let users = layout.users_file();
    if !users.exists() {
        std::fs::write(&users, "").map_err(io(&users))?;
    }
    // Password hashes. As root, Dovecot's auth process reads them as its internal user
    // (group `dovecot`); otherwise everything runs as ourselves.
    let (mode, group) = match root.then(dovecot_group).flatten() {
        Some(gid) => (0o640, Some(gid)),
        None => (0o600, None),
    };
    std::os::unix::fs::chown(&users, None, group).map_err(io(&users))?;
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(mode)).map_err(io(&users))?;
    Ok(())
}

/// Clears what a crashed run left in the layout: a Dovecot of ours still running on this
/// configuration is stopped; a `master.pid` naming a dead process (or one that is not
/// Dovecot: the PID was reused) is removed, so Dovecot does not refuse to start.
fn recover(layout: &DovecotLayout) {
    let pid_file = layout.base_dir().join("master.pid");
    let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    else {
        return;
    };
    let config = layout.config_file();
    let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.first().is_some_and(|a| a.ends_with(b"dovecot"))
            && args
                .iter()
                .any(|a| *a == config.as_os_str().as_encoded_bytes())
    });
    if ours {
        tracing::warn!(pid, "stopping the Dovecot a crashed run left behind");
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: kill(2) on a Dovecot master running our configuration.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        while unsafe { libc::kill(pid, 0) } == 0 {
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = std::fs::remove_file(&pid_file);
}

fn dovecot_group() -> Option<u32> {
    // SAFETY: getgrnam returns static storage or null; the id is copied out at once.
    let gr = unsafe { libc::getgrnam(c"dovecot".as_ptr()) };
    (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
}

impl DovecotServer {
    /// Writes the configuration and starts Dovecot in the foreground as our child; it
    /// stops when this process ends, however it ends.
    pub fn start(layout: DovecotLayout, listen: SocketAddr) -> Result<DovecotServer, ServerError> {
        let dovecot = find_binary("dovecot").ok_or(ServerError::NotInstalled)?;
        imap_server(&LIBEXEC_DIRS)?;
        write_config(&layout, listen)?;
        recover(&layout);
        // Another program on the address would answer the readiness probe below while our
        // Dovecot exits with "Address already in use".
        std::net::TcpListener::bind(listen).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => ServerError::AddressTaken(listen),
            _ => ServerError::Io(listen.to_string(), e),
        })?;
        let config = layout.config_file();
        let log = layout.dir.join("dovecot.log");
        // The child gets SIGTERM when the thread that spawned it ends (PR_SET_PDEATHSIG is
        // per thread), so it is spawned from a thread that lives as long as the child.
        let (sent, got) = std::sync::mpsc::channel();
        let (ended, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut command = Command::new(dovecot);
            command
                .arg("-F")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            match command.spawn() {
                Ok(mut child) => {
                    let _ = sent.send(Ok(child.id()));
                    let status = child.wait();
                    let _ = ended.send(status.map_or_else(|e| e.to_string(), |s| s.to_string()));
                }
                Err(e) => {
                    let _ = sent.send(Err(e));
                }
            }
        });
        let pid = got
            .recv()
            .map_err(|_| ServerError::NotListening(listen, log.clone()))?
            .map_err(io(Path::new("dovecot")))?;
        let server = DovecotServer {
            layout,
            listen,
            pid,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let gone = |log: PathBuf| {
            exited
                .try_recv()
                .ok()
                .map(|status| ServerError::Exited(status, log.clone(), log_tail(&log)))
        };
        while std::net::TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_err() {
            if let Some(e) = gone(log.clone()) {
                return Err(e);
            }
            if Instant::now() > deadline {
                return Err(ServerError::NotListening(listen, log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Listening, and still ours: only now is it started.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(e) = gone(log.clone()) {
            return Err(e);
        }
        tracing::info!(imap = %listen, dir = %server.layout.dir.display(), "private Dovecot started");
        Ok(server)
    }

    /// Its files.
    pub fn layout(&self) -> &DovecotLayout {
        &self.layout
    }

    /// Where it answers IMAP.
    pub fn imap(&self) -> SocketAddr {
        self.listen
    }
}

impl Drop for DovecotServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        // SAFETY: kill with signal 0 only checks that the process exists.
        while unsafe { libc::kill(self.pid as i32, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_without_its_imap_server_is_not_installed() {
        let dir = std::env::temp_dir().join(format!("libexec-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        let missing = imap_server(&[d]).unwrap_err();
        assert!(missing.is_not_installed());
        assert!(missing.to_string().contains("dovecot-imapd"), "{missing}");
        std::fs::write(dir.join("imap"), "").unwrap();
        assert_eq!(imap_server(&[d]).unwrap(), dir.join("imap"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!ServerError::AddressTaken("127.0.0.1:1".parse().unwrap()).is_not_installed());
    }
}
