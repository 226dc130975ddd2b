//! `mailplane bench migration`: old mail copied for one 2,000-message account, mailplane's
//! way (its own IMAP login and count, then Dovecot's dsync through the data plane with a
//! password file, progress polled every second) beside a raw `doveadm backup -R` of the
//! same account, in the same run, into fresh mailboxes of the same private Dovecot.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use domain::migration::{CopyMode, MailProtocol, MailSource};
use uuid::Uuid;
use workers::dataplane::{
    DataPlane, Dovecot, DovecotLayout, DovecotServer, MailImport, NewMailbox,
};

const MESSAGES: usize = 2_000;
const ROUNDS: usize = 2;
const USER: &str = "old@bench.test";
const PASSWORD: &str = "Bench-Old-Secret-1";

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Runs the benchmark and prints its figures, `key=value`, the last line all of them.
pub async fn migration() -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("mailplane-bench-migration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir).await;
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!("kept {} for a look", dir.display()),
    }
    result
}

async fn start(dir: &Path) -> anyhow::Result<(DovecotServer, Dovecot)> {
    let layout = DovecotLayout::new(dir);
    let listen = free_addr()?;
    let server = tokio::task::spawn_blocking(move || DovecotServer::start(layout, listen))
        .await?
        .context("starting a private Dovecot (apt-get install -y dovecot-imapd)")?;
    let plane = Dovecot::new(server.layout().clone());
    Ok((server, plane))
}

async fn mailbox(plane: &Dovecot, address: &str, hash: &str) -> anyhow::Result<Uuid> {
    let mailbox = NewMailbox {
        login_alias: None,
        mailbox_id: Uuid::now_v7(),
        address: address.to_owned(),
        password_hash: hash.to_owned(),
        quota_mb: 10_240,
    };
    plane.create_mailbox(&mailbox).await?;
    Ok(mailbox.mailbox_id)
}

async fn run(dir: &Path) -> anyhow::Result<()> {
    let (old_server, old) = start(&dir.join("old")).await?;
    let (_new_server, new) = start(&dir.join("new")).await?;
    let old_id = mailbox(&old, USER, &format!("{{PLAIN}}{PASSWORD}")).await?;
    let bytes = seed(&old_server.layout().mail_root().join(old_id.to_string()))?;
    println!("seeded {MESSAGES} messages ({bytes} bytes) for {USER}");
    let source = MailSource {
        host: "127.0.0.1".into(),
        port: old_server.imap().port(),
        protocol: MailProtocol::Imap,
        tls: false,
    };
    let targets = app::webhook::Targets::AnyAddress;
    // Every target exists before the first copy, as a member's mailbox does long before its
    // migration (Dovecot notices a changed passwd-file by its mtime, in whole seconds).
    let mut ids = Vec::new();
    for round in 0..ROUNDS {
        mailbox(&new, &format!("raw{round}@bench.test"), "{PLAIN}x").await?;
        ids.push(mailbox(&new, &format!("mailplane{round}@bench.test"), "{PLAIN}x").await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for round in 0..ROUNDS {
        let a = format!("raw{round}@bench.test");
        let started = Instant::now();
        raw_backup(&new, dir, &source, &a).await?;
        raw.push(started.elapsed());
        check(&new, &a).await?;

        let b = format!("mailplane{round}@bench.test");
        let id = ids[round];
        let started = Instant::now();
        let folders = app::migration::probe::login(&source, targets, USER, PASSWORD).await?;
        let import = MailImport {
            import_id: Uuid::now_v7(),
            mailbox_id: id,
            source: source.clone(),
            user: USER.into(),
            password: PASSWORD.into(),
            mode: CopyMode::Mirror,
            state: None,
        };
        let tick = Duration::from_secs(1);
        workers::migration::copy_with_progress(&new, &import, &folders, tick, |_| async {}).await?;
        ours.push(started.elapsed());
        check(&new, &b).await?;
        println!(
            "round {}: raw {:.2} s, mailplane {:.2} s",
            round + 1,
            raw[round].as_secs_f64(),
            ours[round].as_secs_f64()
        );
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default().as_secs_f64();
    let (raw_s, ours_s) = (best(&raw), best(&ours));
    let rate = |s: f64| MESSAGES as f64 / s;
    println!(
        "messages={MESSAGES} raw_doveadm_backup_seconds={raw_s:.3} raw_messages_per_s={:.0} mailplane_seconds={ours_s:.3} mailplane_messages_per_s={:.0} mailplane_to_raw_ratio={:.2}",
        rate(raw_s),
        rate(ours_s),
        raw_s / ours_s
    );
    Ok(())
}

/// 2,000 messages of 2–12 KB straight into the old mailbox's maildir, a fifth of them
/// flagged seen, some flagged; answers the bytes written.
fn seed(home: &Path) -> anyhow::Result<usize> {
    let cur = home.join("Maildir").join("cur");
    std::fs::create_dir_all(home.join("Maildir").join("new"))?;
    std::fs::create_dir_all(home.join("Maildir").join("tmp"))?;
    std::fs::create_dir_all(&cur)?;
    let owner = std::fs::metadata(home.parent().context("no mail root")?)?;
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for i in 0..MESSAGES {
        let body =
            "The quarterly numbers are attached; see the notes below.\r\n".repeat(40 + i % 180);
        let text = format!(
            "From: colleague@old.test\r\nTo: {USER}\r\nSubject: message {i}\r\nMessage-ID: <b{i}@old.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n{body}"
        );
        let flags = match i % 5 {
            0 => "S",
            1 => "FS",
            _ => "",
        };
        let path = cur.join(format!("{}.M{i}P1.bench:2,{flags}", 1_700_000_000 + i));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        total += text.len();
    }
    for entry in walk(home)? {
        std::os::unix::fs::chown(&entry, Some(owner.uid()), Some(owner.gid()))?;
    }
    Ok(total)
}

fn walk(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut all = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            all.extend(walk(&path)?);
        } else {
            all.push(path);
        }
    }
    Ok(all)
}

/// The baseline: what an operator would run by hand (shared/notes/dovecot-migration.md).
async fn raw_backup(
    new: &Dovecot,
    dir: &Path,
    source: &MailSource,
    user: &str,
) -> anyhow::Result<()> {
    let work = dir.join("raw");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let password = work.join("password");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&password)?
        .write_all(PASSWORD.as_bytes())?;
    let config = work.join("raw.conf");
    std::fs::write(
        &config,
        format!(
            "!include {}\nimapc_host = {}\nimapc_port = {}\nimapc_user = {USER}\nimapc_password = <{}\nimapc_features = rfc822.size fetch-headers\nmail_prefetch_count = 20\n",
            new.layout().config_file().display(),
            source.host,
            source.port,
            password.display()
        ),
    )?;
    let out = tokio::process::Command::new("doveadm")
        .arg("-c")
        .arg(&config)
        .args(["backup", "-R", "-u", user, "imapc:"])
        .output()
        .await?;
    if !out.status.success() {
        bail!("doveadm backup: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The copy holds every message (read again for a few seconds: right after a copy the
/// mailbox's index may not show them all yet).
async fn check(plane: &Dovecot, address: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = tokio::process::Command::new("doveadm")
            .arg("-c")
            .arg(plane.layout().config_file())
            .args([
                "-f", "tab", "mailbox", "status", "-u", address, "messages", "INBOX",
            ])
            .output()
            .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let n: usize = text
            .lines()
            .nth(1)
            .and_then(|l| l.split('\t').next_back())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if n == MESSAGES {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{address} holds {n} messages, not {MESSAGES}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
