//! The users file (Dovecot's passwd-file): one line per mailbox, rewritten whole under a
//! lock and renamed into place, readable by its owner and Dovecot's group only.

use super::*;

/// One line of the passwd-file: `address:hash::::home::extra fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserLine {
    pub(super) address: String,
    pub(super) password_hash: String,
    pub(super) mailbox_id: Uuid,
    pub(super) quota_mb: u64,
    pub(super) suspended: bool,
    /// A second login name (`zw@acme`), written as a line of its own that renames the
    /// login to the address (`user=`), so both reach one mailbox with one password.
    pub(super) alias: Option<String>,
}

impl UserLine {
    pub(super) fn render(&self, mail_root: &Path) -> String {
        let home = mail_root.join(self.mailbox_id.to_string());
        let mut extra = format!("userdb_quota_rule=*:storage={}M", self.quota_mb);
        if self.suspended {
            extra.push_str(" nologin=y");
        }
        format!(
            "{}:{}::::{}::{}",
            self.address,
            self.password_hash,
            home.display(),
            extra
        )
    }

    /// The alias line, when the mailbox has an alias; refusing logins like the mailbox's
    /// own line while it is suspended.
    pub(super) fn render_alias(&self) -> Option<String> {
        let alias = self.alias.as_ref()?;
        let nologin = if self.suspended { " nologin=y" } else { "" };
        Some(format!(
            "{alias}:{}::::::user={}{nologin}",
            self.password_hash, self.address
        ))
    }

    /// Every mailbox of a users file, alias lines folded into their mailbox's.
    pub(super) fn parse_all(text: &str) -> Vec<UserLine> {
        let mut users: Vec<UserLine> = text.lines().filter_map(UserLine::parse).collect();
        for line in text.lines() {
            let Some((alias, address)) = parse_alias(line) else {
                continue;
            };
            if let Some(u) = users.iter_mut().find(|u| u.address == address) {
                u.alias = Some(alias);
            }
        }
        users
    }

    pub(super) fn parse(line: &str) -> Option<UserLine> {
        // The extra fields come last and may hold ':' themselves (`*:storage=…`).
        let fields: Vec<&str> = line.splitn(8, ':').collect();
        if fields.len() != 8 {
            return None;
        }
        let mailbox_id = Path::new(fields[5]).file_name()?.to_str()?.parse().ok()?;
        let extra: Vec<&str> = fields[7].split_whitespace().collect();
        let quota_mb = extra
            .iter()
            .find_map(|f| f.strip_prefix("userdb_quota_rule=*:storage="))
            .and_then(|q| q.trim_end_matches('M').parse().ok())
            .unwrap_or(crate::dataplane::DEFAULT_QUOTA_MB);
        Some(UserLine {
            address: fields[0].to_owned(),
            password_hash: fields[1].to_owned(),
            mailbox_id,
            quota_mb,
            suspended: extra.contains(&"nologin=y"),
            alias: None,
        })
    }
}

/// An alias line: (alias, the address it logs in to).
fn parse_alias(line: &str) -> Option<(String, String)> {
    let fields: Vec<&str> = line.splitn(8, ':').collect();
    if fields.len() != 8 || !fields[5].is_empty() {
        return None;
    }
    let address = fields[7]
        .split_whitespace()
        .find_map(|f| f.strip_prefix("user="))?;
    Some((fields[0].to_owned(), address.to_owned()))
}

pub(super) fn layout_users(layout: &DovecotLayout) -> String {
    layout.users_file().display().to_string()
}

pub(super) fn edit_users<T>(
    layout: &DovecotLayout,
    change: impl FnOnce(&mut Vec<UserLine>) -> T,
) -> std::io::Result<T> {
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(layout.lock_file())?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let path = layout.users_file();
    let (text, modified) = match fs::read_to_string(&path) {
        Ok(text) => (text, fs::metadata(&path)?.modified().ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(e) => return Err(e),
    };
    let before: Vec<UserLine> = UserLine::parse_all(&text);
    let mut users = before.clone();
    let answer = change(&mut users);
    if users != before {
        write_users(&path, &users, &layout.mail_root(), modified)?;
    }
    Ok(answer)
}

pub(super) fn write_users(
    path: &Path,
    users: &[UserLine],
    mail_root: &Path,
    previous: Option<SystemTime>,
) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    // Password hashes: readable by their owner and Dovecot's group only. The new version
    // keeps the mode and group the last one had (set up by whoever made the layout).
    let (mode, gid) = match fs::metadata(path) {
        Ok(m) => (m.permissions().mode() & 0o640, Some(m.gid())),
        Err(_) => (0o600, None),
    };
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)?;
    if gid.is_some() {
        std::os::unix::fs::fchown(&file, None, gid)?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    let mut aliases = std::collections::HashSet::new();
    for user in users {
        writeln!(file, "{}", user.render(mail_root))?;
    }
    // After every mailbox line, so a lookup by address never meets an alias first. An
    // alias held twice (a deleted member's account taken by a newcomer while the old
    // mailbox waits in the recycle bin) goes to the mailbox that takes logins.
    let (open, suspended): (Vec<&UserLine>, Vec<&UserLine>) =
        users.iter().partition(|u| !u.suspended);
    for user in open.into_iter().chain(suspended) {
        if let Some(line) = user.render_alias() {
            if aliases.insert(user.alias.clone()) {
                writeln!(file, "{line}")?;
            }
        }
    }
    // Strictly later than the last version, in whole seconds, so Dovecot re-reads it.
    let now = whole_seconds(SystemTime::now());
    let mtime = match previous {
        Some(p) if whole_seconds(p) >= now => whole_seconds(p) + Duration::from_secs(1),
        _ => now,
    };
    file.set_modified(UNIX_EPOCH + mtime)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)
}

/// An address is a login, a passwd-file field and a doveadm argument: only what the control
/// plane's rules allow, starting with a letter or digit, and never an option or a new line.
pub(super) fn checked_address(address: &str) -> Result<(), DataPlaneError> {
    let valid = address.split_once('@').is_some_and(|(local, domain)| {
        let ok = |part: &str| {
            part.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
                })
        };
        ok(local) && ok(domain) && !domain.contains('_')
    });
    if valid {
        Ok(())
    } else {
        Err(DataPlaneError::Refused(format!(
            "{address:?} is not an address this data plane takes"
        )))
    }
}

pub(super) fn whole_seconds(t: SystemTime) -> Duration {
    Duration::from_secs(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}
