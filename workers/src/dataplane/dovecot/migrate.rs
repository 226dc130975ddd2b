//! Old mail into a Dovecot mailbox with Dovecot's own engine: `doveadm backup -R` (an exact
//! mirror, only into a mailbox without mail of its own) or `doveadm sync -1 -R` (a one-way
//! top-up) from `imapc:` or `pop3c:`. The old password reaches doveadm through a 0600 file
//! named in a per-import configuration (`imapc_password = </file`), never through argv.
//! Facts this relies on are in shared/notes/dovecot-migration.md.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use domain::migration::{CopyMode, MailProtocol, MigrationFailure};

use super::super::{FolderStat, ImportError, MailImport};
use super::Dovecot;

/// The private folder of one import, removed (password file included) when dropped.
struct ImportDir(PathBuf);

impl Drop for ImportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Dovecot {
    /// The folders of a mailbox by address: (UTF-8 name, messages, bytes).
    pub(super) async fn folder_stats(
        &self,
        address: &str,
    ) -> Result<Vec<FolderStat>, super::DataPlaneError> {
        // 68: a parent that only exists as a level (`a` of `a/b`) has no status; the
        // others are still printed.
        let args = [
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            address,
            "messages vsize",
            "*",
        ];
        let out = self.doveadm_allowing(&args, &[68]).await?;
        Ok(parse_status(&out))
    }

    pub(super) async fn import(&self, import: &MailImport) -> Result<Option<String>, ImportError> {
        let fail = |failure, reason: String, retryable| ImportError {
            failure,
            reason,
            retryable,
        };
        let user = self
            .find(import.mailbox_id)
            .await
            .map_err(|e| fail(MigrationFailure::TargetUnavailable, e.to_string(), true))?
            .ok_or_else(|| {
                fail(
                    MigrationFailure::TargetUnavailable,
                    "the target mailbox does not exist on the data plane".into(),
                    false,
                )
            })?;
        let dir = self
            .layout
            .dir
            .join("imports")
            .join(import.import_id.to_string());
        let files = write_files(&dir, &self.layout.config_file(), import)
            .map_err(|e| fail(MigrationFailure::TargetUnavailable, e.to_string(), true))?;
        let (verb, one_way): (&str, &[&str]) = match import.mode {
            CopyMode::Mirror => ("backup", &["-R"]),
            CopyMode::TopUp => ("sync", &["-1", "-R"]),
        };
        let location = match import.source.protocol {
            MailProtocol::Imap => "imapc:",
            MailProtocol::Pop3 => "pop3c:",
        };
        let out = tokio::process::Command::new(&self.doveadm)
            .arg("-c")
            .arg(files.0.join("import.conf"))
            .arg(verb)
            .args(one_way)
            // dsync prints the state to continue from; without it a POP3 top-up would
            // copy every message again (pop3c has no stable GUIDs).
            .args(["-s", import.state.as_deref().unwrap_or("")])
            .args(["-u", &user.address, location])
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                fail(
                    MigrationFailure::TargetUnavailable,
                    format!("doveadm: {e}"),
                    true,
                )
            })?;
        drop(files);
        if out.status.success() {
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let opaque = !state.is_empty()
                && state.len() <= 64 * 1024
                && state
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            return Ok(opaque.then_some(state));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(classify(out.status.code(), &stderr))
    }
}

/// The import's folder: a configuration including the data plane's, and the password file.
fn write_files(dir: &Path, main_config: &Path, import: &MailImport) -> std::io::Result<ImportDir> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let guard = ImportDir(dir.to_owned());
    let password_file = dir.join("password");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&password_file)?;
    // No trailing newline: the whole file is the password.
    file.write_all(import.password.as_bytes())?;
    let config = import_config(main_config, import, &password_file);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join("import.conf"))?
        .write_all(config.as_bytes())?;
    Ok(guard)
}

/// doveadm's failure in a person's words. It aborts (exit 134) after a failed login, so the
/// words on stderr decide, not the exit code.
fn classify(code: Option<i32>, stderr: &str) -> ImportError {
    let has = |needle: &str| stderr.to_ascii_lowercase().contains(needle);
    let reason: String = stderr
        .lines()
        .find(|l| l.contains("Error:"))
        .unwrap_or_else(|| stderr.lines().next().unwrap_or("doveadm failed"))
        .chars()
        .take(300)
        .collect();
    let (failure, retryable) = if has("authentication failed") || has("authenticationfailed") {
        (MigrationFailure::AuthenticationFailed, false)
    } else if has("quota exceeded") || has("over quota") || has("overquota") {
        (MigrationFailure::MailboxOverQuota, false)
    } else if has("connection refused")
        || has("disconnected")
        || has("timed out")
        || has("connect(")
        || has("name or service not known")
        || has("no route to host")
    {
        (MigrationFailure::ServerUnreachable, true)
    } else if has("user lookup failed")
        || has("user doesn't exist")
        || code == Some(75)
        || code.is_none()
    {
        // A mailbox created within the same second may not be seen yet (passwd-file mtime).
        // EX_TEMPFAIL or a signal: the data plane was busy or the copy was stopped.
        (MigrationFailure::TargetUnavailable, true)
    } else {
        (MigrationFailure::CopyFailed, false)
    };
    ImportError {
        failure,
        reason,
        retryable,
    }
}

/// `doveadm -f tab mailbox status 'messages vsize' '*'`: a header line, then one folder a
/// line (mailbox, messages, vsize).
fn parse_status(out: &str) -> Vec<FolderStat> {
    out.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cells = line.split('\t');
            let name = cells.next()?.to_owned();
            let messages = cells.next()?.trim().parse().ok()?;
            let bytes = cells.next()?.trim().parse().ok()?;
            Some(FolderStat {
                name,
                messages,
                bytes,
            })
        })
        .collect()
}

/// The settings of one import: the old server, the account, the password's file. Host and
/// user were validated (no quotes, spaces, backslashes or control characters), so a quoted
/// value cannot end early or start another setting; a `%` in the account is doubled, or
/// Dovecot would expand `%u`, `%{home}`… into our own values and send them to the old
/// server.
fn import_config(main_config: &Path, import: &MailImport, password_file: &Path) -> String {
    let source = &import.source;
    let user = import.user.replace('%', "%%");
    match source.protocol {
        MailProtocol::Imap => format!(
            "!include {main}\nimapc_host = \"{host}\"\nimapc_port = {port}\nimapc_user = \"{user}\"\n\
             imapc_password = <{password}\nimapc_ssl = {ssl}\nimapc_features = rfc822.size fetch-headers\n\
             mail_prefetch_count = 20\n",
            main = main_config.display(),
            host = source.host,
            port = source.port,
            password = password_file.display(),
            ssl = if source.tls { "imaps" } else { "no" },
        ),
        MailProtocol::Pop3 => format!(
            "!include {main}\npop3c_host = \"{host}\"\npop3c_port = {port}\npop3c_user = \"{user}\"\n\
             pop3c_password = <{password}\npop3c_ssl = {ssl}\n",
            main = main_config.display(),
            host = source.host,
            port = source.port,
            password = password_file.display(),
            ssl = if source.tls { "pop3s" } else { "no" },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_in_an_old_account_reaches_the_old_server_as_typed() {
        for protocol in [MailProtocol::Imap, MailProtocol::Pop3] {
            let import = MailImport {
                import_id: uuid::Uuid::nil(),
                mailbox_id: uuid::Uuid::nil(),
                source: domain::migration::MailSource {
                    host: "mail.example.cn".into(),
                    port: 143,
                    protocol,
                    tls: false,
                },
                user: "zw%u%{home}".into(),
                password: "never here".into(),
                mode: CopyMode::Mirror,
                state: None,
            };
            let config = import_config(Path::new("/d/dovecot.conf"), &import, Path::new("/d/p"));
            assert!(config.contains("c_user = \"zw%%u%%{home}\"\n"), "{config}");
            assert!(!config.contains("never here"));
        }
    }

    #[test]
    fn doveadms_words_become_failures_a_person_understands() {
        let auth = "Error: Failed to initialize user: imapc: Login to 127.0.0.1 failed: Authentication failed: [AUTHENTICATIONFAILED]\nPanic: event_pop_global";
        let e = classify(Some(134), auth);
        assert_eq!(e.failure, MigrationFailure::AuthenticationFailed);
        assert!(!e.retryable);
        let down = "Error: imapc(127.0.0.1:20143): connect(127.0.0.1, 20143) failed: Connection refused - reconnecting (delay 1000 ms)";
        let e = classify(Some(134), down);
        assert_eq!(e.failure, MigrationFailure::ServerUnreachable);
        assert!(e.retryable);
        assert_eq!(
            classify(None, "").failure,
            MigrationFailure::TargetUnavailable
        );
        let quota =
            "Error: Mailbox INBOX: Failed to save mail: Quota exceeded (mailbox for user is full)";
        assert_eq!(
            classify(Some(75), quota).failure,
            MigrationFailure::MailboxOverQuota
        );
        assert_eq!(
            classify(Some(65), "Error: odd").failure,
            MigrationFailure::CopyFailed
        );
    }

    #[test]
    fn folder_status_reads_as_utf8_names() {
        let out = "mailbox\tmessages\tvsize\nINBOX\t12\t3400\nCafé\t1\t120\na/b\t0\t0\n";
        let folders = parse_status(out);
        assert_eq!(folders.len(), 3);
        assert_eq!(folders[1].name, "Café");
        assert_eq!(folders[0].bytes, 3400);
    }
}
