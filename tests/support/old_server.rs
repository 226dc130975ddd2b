//! The "old provider" of migration tests: a second private Dovecot serving IMAP and POP3 on
//! loopback with plain passwords, seeded through doveadm and IMAP APPEND.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct OldServer {
    pub dir: PathBuf,
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    child: Option<Child>,
}

fn mail_owner() -> (String, u32, u32, bool) {
    // SAFETY: geteuid/getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid != 0 {
        return (std::env::var("USER").unwrap_or_default(), euid, egid, false);
    }
    let name = std::ffi::CString::new("mail").unwrap();
    // SAFETY: valid C string; the record is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "no `mail` user");
    // SAFETY: pw is non-null.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    ("mail".into(), uid, gid, true)
}

impl OldServer {
    /// Writes the configuration and starts it.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> OldServer {
        let (user, uid, gid, root) = mail_owner();
        for d in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::os::unix::fs::chown(dir.join("home"), Some(uid), Some(gid)).unwrap();
        let imap = super::free_addr();
        let pop3 = super::free_addr();
        let dir = std::fs::canonicalize(dir).unwrap();
        let owner = if root {
            format!(
                "mail_uid = {user}\nmail_gid = {gid}\nfirst_valid_uid = {}\n",
                uid.min(500)
            )
        } else {
            format!("default_login_user = {user}\ndefault_internal_user = {user}\n")
        };
        let config = format!(
            "protocols = imap pop3\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             instance_name = old-{port}\nlog_path = {d}/dovecot.log\nssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:~/Maildir:LAYOUT=fs\n{owner}\
             pop3_uidl_format = %08Xu%08Xv\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {pop}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/users\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n",
            d = dir.display(),
            port = imap.port(),
            pop = pop3.port(),
        );
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        let lines: String = users
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}::::{}/home/{u}::\n", dir.display()))
            .collect();
        std::fs::write(dir.join("users"), lines).unwrap();
        let mut server = OldServer {
            dir,
            imap,
            pop3,
            child: None,
        };
        server.resume();
        server
    }

    /// Starts it (again).
    pub fn resume(&mut self) {
        let child = Command::new(dovecot_binary())
            .args(["-F", "-c"])
            .arg(self.dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.imap).is_err()
            || std::net::TcpStream::connect(self.pop3).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the old server did not start (apt-get install -y dovecot-imapd dovecot-pop3d)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// Stops it (its mail stays).
    pub fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.imap).is_ok() {
            assert!(Instant::now() < deadline, "the old server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `doveadm -c <config> args…`; its standard output.
    pub fn doveadm(&self, args: &[&str]) -> String {
        doveadm(&self.dir.join("dovecot.conf"), args)
    }
}

impl Drop for OldServer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn dovecot_binary() -> PathBuf {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| "dovecot".into())
}

/// `doveadm -c <config> args…` against any Dovecot; its standard output.
pub fn doveadm(config: &Path, args: &[&str]) -> String {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "doveadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
