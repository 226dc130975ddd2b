//! Driving a Dovecot: users in a passwd-file that Dovecot reads for both passdb and userdb,
//! mail under `mail/<mailbox id>`, sessions and mail removed through `doveadm`.
//!
//! Why a passwd-file and not a PostgreSQL table: the data plane stays a separate system
//! that needs nothing of the control plane's database (no credentials for Dovecot into
//! it, no network path from the mail hosts to it), and the file is the data plane's whole
//! user state in one place an operator can read. It is rewritten atomically (a temporary
//! file renamed over it) under a lock, with a strictly increasing modification time:
//! Dovecot notices a change by mtime (whole seconds) or size only, so two same-size
//! rewrites within one second would otherwise go unseen.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::{DataPlane, DataPlaneError, FolderStat, ImportWork, MailImport, NewMailbox, Work};

mod batch;
mod migrate;
mod users;

use users::*;

/// Where a mailplane-driven Dovecot keeps its files (made by `mailplane dataplane dovecot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DovecotLayout {
    pub dir: PathBuf,
}

impl DovecotLayout {
    /// The layout under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DovecotLayout { dir: dir.into() }
    }
    /// Dovecot's configuration.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }
    /// The passwd-file of mailboxes.
    pub fn users_file(&self) -> PathBuf {
        self.dir.join("users")
    }
    /// Mail, one folder per mailbox id.
    pub fn mail_root(&self) -> PathBuf {
        self.dir.join("mail")
    }
    /// Dovecot's runtime folder (sockets, master.pid).
    pub fn base_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    fn lock_file(&self) -> PathBuf {
        self.dir.join("users.lock")
    }
}

/// A Dovecot that mailplane provisions through its passwd-file and `doveadm`.
#[derive(Debug, Clone)]
pub struct Dovecot {
    layout: DovecotLayout,
    doveadm: PathBuf,
    batcher: std::sync::Arc<batch::Batcher>,
}

impl Dovecot {
    /// Drives the Dovecot whose files are in `layout`.
    pub fn new(layout: DovecotLayout) -> Self {
        let doveadm = super::server::find_binary("doveadm").unwrap_or_else(|| "doveadm".into());
        let batcher = batch::batcher_for(&layout);
        Dovecot {
            layout,
            doveadm,
            batcher,
        }
    }

    /// The files it writes.
    pub fn layout(&self) -> &DovecotLayout {
        &self.layout
    }

    /// Reads the user lines, lets `change` edit them, writes them back if they changed;
    /// answers what `change` answered. Edits arriving together are written together; the
    /// file is under an exclusive lock while written: other processes may share it.
    async fn edit<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<UserLine>) -> T + Send + 'static,
    ) -> Result<T, DataPlaneError> {
        self.batcher.edit(&self.layout, change).await
    }

    async fn find(&self, mailbox_id: Uuid) -> Result<Option<UserLine>, DataPlaneError> {
        self.edit(move |users| users.iter().find(|u| u.mailbox_id == mailbox_id).cloned())
            .await
    }

    /// Runs `doveadm -c <config> args…`; its output.
    async fn doveadm(&self, args: &[&str]) -> Result<String, DataPlaneError> {
        self.doveadm_allowing(args, &[]).await
    }

    /// The same, also taking these exit codes as success.
    async fn doveadm_allowing(
        &self,
        args: &[&str],
        also_ok: &[i32],
    ) -> Result<String, DataPlaneError> {
        let out = tokio::process::Command::new(&self.doveadm)
            .arg("-c")
            .arg(self.layout.config_file())
            .args(args)
            .output()
            .await
            .map_err(|e| DataPlaneError::Unavailable(format!("doveadm: {e}")))?;
        if out.status.success() || out.status.code().is_some_and(|c| also_ok.contains(&c)) {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let reason = format!(
            "doveadm {}: {} {}",
            args.first().unwrap_or(&""),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        // sysexits: a usage or data error, or an unknown user, is the same on every retry;
        // anything else (a signal, EX_TEMPFAIL, a busy index) may pass later.
        match out.status.code() {
            Some(EX_USAGE | EX_DATAERR | EX_NOUSER) => Err(DataPlaneError::Refused(reason)),
            _ => Err(DataPlaneError::Unavailable(reason)),
        }
    }

    /// Ends the open IMAP sessions of `address` (a blocked user's sessions survive otherwise).
    async fn kick(&self, address: &str) -> Result<(), DataPlaneError> {
        // 68 (EX_NOUSER): nobody of that name was logged in.
        // `--`: whatever the address looks like, it is never read as an option.
        self.doveadm_allowing(&["kick", "--", address], &[68])
            .await
            .map(|_| ())
    }
}

/// sysexits.h codes doveadm exits with.
const EX_USAGE: i32 = 64;
const EX_DATAERR: i32 = 65;
const EX_NOUSER: i32 = 67;

impl DataPlane for Dovecot {
    fn name(&self) -> &'static str {
        "dovecot"
    }

    fn ensure_domain<'a>(&'a self, _domain: &'a str) -> Work<'a, ()> {
        // Users are full addresses in one passwd-file: every domain is accepted already.
        Box::pin(async { Ok(()) })
    }

    fn create_mailbox<'a>(&'a self, mailbox: &'a NewMailbox) -> Work<'a, ()> {
        Box::pin(async move {
            checked_address(&mailbox.address)?;
            if let Some(alias) = &mailbox.login_alias {
                checked_address(alias)?;
            }
            if mailbox.password_hash.contains([':', '\n', '\r']) {
                return Err(DataPlaneError::Refused(
                    "':' and line breaks cannot appear in a passwd-file field".into(),
                ));
            }
            let line = UserLine {
                address: mailbox.address.clone(),
                password_hash: mailbox.password_hash.clone(),
                mailbox_id: mailbox.mailbox_id,
                quota_mb: mailbox.quota_mb,
                suspended: false,
                alias: mailbox.login_alias.clone(),
            };
            let taken = self
                .edit(move |users| {
                    if users
                        .iter()
                        .any(|u| u.address == line.address && u.mailbox_id != line.mailbox_id)
                    {
                        return true;
                    }
                    match users.iter_mut().find(|u| u.mailbox_id == line.mailbox_id) {
                        // A repeat keeps a suspension the control plane asked for later.
                        Some(u) => {
                            *u = UserLine {
                                suspended: u.suspended,
                                ..line
                            }
                        }
                        None => users.push(line),
                    }
                    false
                })
                .await?;
            if taken {
                // Another mailbox still holds the address: its purge has not reached us yet.
                return Err(DataPlaneError::Unavailable(format!(
                    "{} still belongs to another mailbox",
                    mailbox.address
                )));
            }
            Ok(())
        })
    }

    fn suspend(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(async move {
            let address = self
                .edit(move |users| {
                    users
                        .iter_mut()
                        .find(|u| u.mailbox_id == mailbox_id)
                        .map(|u| {
                            u.suspended = true;
                            u.address.clone()
                        })
                })
                .await?;
            match address {
                Some(a) => self.kick(&a).await,
                None => Ok(()),
            }
        })
    }

    fn restore(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(async move {
            self.edit(move |users| {
                if let Some(u) = users.iter_mut().find(|u| u.mailbox_id == mailbox_id) {
                    u.suspended = false;
                }
            })
            .await
        })
    }

    fn purge(&self, mailbox_id: Uuid) -> Work<'_, ()> {
        Box::pin(async move {
            if let Some(user) = self.find(mailbox_id).await? {
                self.kick(&user.address).await?;
                // Through Dovecot first, so its indexes and caches let go of the mail.
                if let Err(e) = self
                    .doveadm(&["expunge", "-u", &user.address, "mailbox", "*", "all"])
                    .await
                {
                    tracing::debug!(%mailbox_id, error = %e, "nothing to expunge");
                }
                self.edit(move |users| users.retain(|u| u.mailbox_id != mailbox_id))
                    .await?;
            }
            let folder = self.layout.mail_root().join(mailbox_id.to_string());
            match tokio::fs::remove_dir_all(&folder).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(DataPlaneError::Unavailable(format!(
                    "{}: {e}",
                    folder.display()
                ))),
            }
        })
    }

    fn rename<'a>(&'a self, mailbox_id: Uuid, address: &'a str) -> Work<'a, ()> {
        Box::pin(async move {
            checked_address(address)?;
            let new = address.to_owned();
            let previous = self
                .edit(move |users| {
                    users
                        .iter_mut()
                        .find(|u| u.mailbox_id == mailbox_id)
                        .map(|u| std::mem::replace(&mut u.address, new))
                })
                .await?;
            match previous {
                // Sessions under the old login end; the next login uses the new address.
                Some(old) if old != address => self.kick(&old).await,
                _ => Ok(()),
            }
        })
    }

    fn usage(&self, mailbox_id: Uuid) -> Work<'_, Option<u64>> {
        Box::pin(async move {
            let Some(user) = self.find(mailbox_id).await? else {
                return Ok(None);
            };
            let out = self
                .doveadm(&["-f", "flow", "quota", "get", "-u", &user.address])
                .await?;
            // "Quota name=User quota Type=STORAGE Value=12 Limit=1048576 %=0" (KiB).
            let kib = out
                .lines()
                .filter(|l| l.contains("Type=STORAGE"))
                .find_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("Value=")))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            Ok(Some(kib * 1024))
        })
    }

    fn folders(&self, mailbox_id: Uuid) -> Work<'_, Option<Vec<FolderStat>>> {
        Box::pin(async move {
            match self.find(mailbox_id).await? {
                Some(user) => self.folder_stats(&user.address).await.map(Some),
                None => Ok(None),
            }
        })
    }

    fn import_mail<'a>(&'a self, import: &'a MailImport) -> ImportWork<'a> {
        Box::pin(self.import(import))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_would_be_options_or_break_the_users_file_are_refused() {
        assert!(checked_address("zhangwei@example.cn").is_ok());
        assert!(checked_address("z.w-1_x@mail.example.cn").is_ok());
        for bad in [
            "-x@example.cn",
            "--help@example.cn",
            "x@-example.cn",
            "zw@example.cn\nevil@example.cn",
            "zw:x@example.cn",
            "ZW@example.cn",
            "zw",
            "@example.cn",
            "zw@",
        ] {
            assert!(
                matches!(checked_address(bad), Err(DataPlaneError::Refused(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_user_line_reads_back_as_written() {
        let line = UserLine {
            address: "zhangwei@example.cn".into(),
            password_hash: "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            mailbox_id: Uuid::now_v7(),
            quota_mb: 1024,
            suspended: true,
            alias: None,
        };
        let text = line.render(Path::new("/srv/mail"));
        assert!(text.contains(&format!("::::/srv/mail/{}::", line.mailbox_id)));
        assert_eq!(UserLine::parse(&text), Some(line.clone()));
        // An alias is a line of its own, and reads back.
        let open = UserLine {
            suspended: false,
            alias: Some("zw@acme".into()),
            ..line
        };
        let alias = open.render_alias().unwrap();
        assert!(alias.starts_with("zw@acme:{ARGON2ID}"), "{alias}");
        assert!(alias.ends_with("::::::user=zhangwei@example.cn"), "{alias}");
        let file = format!("{}\n{alias}\n", open.render(Path::new("/srv/mail")));
        assert_eq!(UserLine::parse_all(&file), vec![open.clone()]);
        let suspended = UserLine {
            suspended: true,
            ..open
        };
        let refused = suspended.render_alias().unwrap();
        assert!(
            refused.ends_with("user=zhangwei@example.cn nologin=y"),
            "{refused}"
        );
        let file = format!("{}\n{refused}\n", suspended.render(Path::new("/srv/mail")));
        assert_eq!(
            UserLine::parse_all(&file),
            vec![suspended],
            "the alias outlives a suspension"
        );
    }
}
