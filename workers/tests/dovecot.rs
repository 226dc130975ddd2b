//! The Dovecot data plane against a real private Dovecot on loopback: create, log in over
//! IMAP, suspend, restore, rename, purge, and an address reused by another mailbox starting
//! empty. Needs Debian's dovecot-imapd (.ci/run installs it).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use uuid::Uuid;
use workers::dataplane::{DataPlane, Dovecot, DovecotLayout, DovecotServer, NewMailbox};

const PASSWORD: &str = "Zw-Passw0rd!9";

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A folder every user can pass through (mail is written by Dovecot's `mail` user).
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailplane-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Logs in and opens INBOX; the number of messages, or why it failed.
async fn inbox(imap: SocketAddr, user: &str, password: &str) -> Result<u32, String> {
    let stream = tokio::net::TcpStream::connect(imap)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .ok_or("no greeting")?
        .map_err(|e| e.to_string())?;
    let mut session = client
        .login(user, password)
        .await
        .map_err(|(e, _)| e.to_string())?;
    let mailbox = session.select("INBOX").await.map_err(|e| e.to_string())?;
    let _ = session.logout().await;
    Ok(mailbox.exists)
}

/// Delivers one message into a mailbox with `doveadm save`.
fn deliver(layout: &DovecotLayout, user: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(layout.config_file())
        .args(["save", "-u", user])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"From: a@b.test\r\nSubject: hello\r\n\r\nprivate mail of the first owner\r\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// Polls until `inbox` answers as `expected` wants (a changed passwd-file is seen at the next
/// login; a failed login answers after Dovecot's ~2 s auth delay).
async fn eventually(
    imap: SocketAddr,
    user: &str,
    expected: impl Fn(&Result<u32, String>) -> bool,
) -> Result<u32, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = inbox(imap, user, PASSWORD).await;
        if expected(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn dovecot_mailboxes_live_under_their_id_and_act_as_the_control_plane_says() {
    let layout = DovecotLayout::new(folder("dovecot-test"));
    let imap = free_port();
    let server = DovecotServer::start(layout.clone(), imap)
        .expect("dovecot-imapd is needed: apt-get install -y dovecot-imapd (.ci/run does)");
    let plane = Dovecot::new(layout.clone());
    let hash = app::secrets::mail_password_hash(PASSWORD).unwrap();
    assert!(hash.starts_with("{ARGON2ID}$argon2id$"));
    let first = NewMailbox {
        mailbox_id: Uuid::now_v7(),
        address: "zhangwei@example.cn".into(),
        login_alias: Some("zw@acme".into()),
        password_hash: hash.clone(),
        quota_mb: 1024,
    };
    plane.ensure_domain("example.cn").await.unwrap();
    plane.create_mailbox(&first).await.unwrap();
    // A repeat (a worker restarted mid-batch) changes nothing.
    plane.create_mailbox(&first).await.unwrap();
    let users = std::fs::read_to_string(layout.users_file()).unwrap();
    assert_eq!(
        users.lines().count(),
        2,
        "one line for the mailbox, one for its second login name"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        // Password hashes: the owner and (as root) Dovecot's group only, after every rewrite.
        let mode = std::fs::metadata(layout.users_file())
            .unwrap()
            .permissions()
            .mode();
        // SAFETY: geteuid has no preconditions.
        let expected = if unsafe { libc::geteuid() } == 0 {
            0o640
        } else {
            0o600
        };
        assert_eq!(
            mode & 0o777,
            expected,
            "the users file is not world-readable"
        );
    }
    assert!(
        !users.contains(PASSWORD),
        "no plaintext reaches the data plane"
    );
    assert!(
        users.contains(&first.mailbox_id.to_string()),
        "the home is named by mailbox id"
    );
    assert_eq!(inbox(imap, &first.address, PASSWORD).await, Ok(0));
    assert!(inbox(imap, &first.address, "wrong-password").await.is_err());

    deliver(&layout, &first.address);
    assert_eq!(inbox(imap, &first.address, PASSWORD).await, Ok(1));
    // The second login name reaches the same mailbox, with the same password only.
    assert_eq!(inbox(imap, "zw@acme", PASSWORD).await, Ok(1));
    assert_eq!(inbox(imap, "ZW@acme", PASSWORD).await, Ok(1));
    assert!(inbox(imap, "zw@acme", "wrong-password").await.is_err());
    assert!(plane.usage(first.mailbox_id).await.unwrap().unwrap() > 0);
    assert_eq!(plane.usage(Uuid::now_v7()).await.unwrap(), None);

    plane.suspend(first.mailbox_id).await.unwrap();
    assert!(
        eventually(imap, &first.address, |r| r.is_err())
            .await
            .is_err(),
        "a suspended mailbox refuses logins"
    );
    assert!(
        inbox(imap, "zw@acme", PASSWORD).await.is_err(),
        "and by its second login name too"
    );
    plane.restore(first.mailbox_id).await.unwrap();
    assert_eq!(
        eventually(imap, &first.address, |r| r.is_ok()).await,
        Ok(1),
        "restored with its mail"
    );
    assert_eq!(inbox(imap, "zw@acme", PASSWORD).await, Ok(1));

    plane
        .rename(first.mailbox_id, "zhangwei@example.com")
        .await
        .unwrap();
    assert_eq!(
        eventually(imap, "zhangwei@example.com", |r| r.is_ok()).await,
        Ok(1),
        "renamed, mail kept"
    );
    assert!(
        inbox(imap, &first.address, PASSWORD).await.is_err(),
        "the old address is gone"
    );

    plane.purge(first.mailbox_id).await.unwrap();
    plane.purge(first.mailbox_id).await.unwrap();
    assert!(
        !layout
            .mail_root()
            .join(first.mailbox_id.to_string())
            .exists(),
        "the mail folder is gone"
    );
    assert!(eventually(imap, "zhangwei@example.com", |r| r.is_err())
        .await
        .is_err());

    // The same address opened again for someone else starts empty.
    let second = NewMailbox {
        mailbox_id: Uuid::now_v7(),
        address: "zhangwei@example.com".into(),
        login_alias: None,
        password_hash: hash,
        quota_mb: 1024,
    };
    plane.create_mailbox(&second).await.unwrap();
    assert_eq!(
        eventually(imap, &second.address, |r| r.is_ok()).await,
        Ok(0),
        "a new owner never sees the old mail"
    );

    // An address still held by another mailbox is not taken over.
    let third = NewMailbox {
        mailbox_id: Uuid::now_v7(),
        ..second.clone()
    };
    assert!(plane.create_mailbox(&third).await.is_err());
    // A hostile address never reaches doveadm as an option: refused for good (the worker
    // parks that event and goes on), while the next mailbox is created as usual.
    let hostile = NewMailbox {
        mailbox_id: Uuid::now_v7(),
        address: "-h@example.com".into(),
        ..second.clone()
    };
    assert!(matches!(
        plane.create_mailbox(&hostile).await,
        Err(workers::dataplane::DataPlaneError::Refused(_))
    ));
    let fourth = NewMailbox {
        mailbox_id: Uuid::now_v7(),
        address: "lina@example.com".into(),
        ..second.clone()
    };
    plane.create_mailbox(&fourth).await.unwrap();
    // One an older version let in (written straight into the users file) is still suspended
    // and purged: `--` keeps it an argument.
    let users = layout.users_file();
    let old = std::fs::read_to_string(&users).unwrap();
    let line = old.lines().find(|l| l.starts_with("lina@")).unwrap();
    let smuggled_id = Uuid::now_v7();
    let smuggled = line
        .replace("lina@example.com", "-a@example.com")
        .replace(&fourth.mailbox_id.to_string(), &smuggled_id.to_string());
    std::fs::write(&users, format!("{old}{smuggled}\n")).unwrap();
    plane.suspend(smuggled_id).await.unwrap();
    plane.purge(smuggled_id).await.unwrap();
    assert!(!std::fs::read_to_string(&users).unwrap().contains("-a@"));
    assert_eq!(
        eventually(imap, &fourth.address, |r| r.is_ok()).await,
        Ok(0)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&layout.dir);
}

#[test]
fn a_private_dovecot_on_a_taken_address_says_so_instead_of_started() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap();
    let layout = DovecotLayout::new(folder("dovecot-taken"));
    let refused = DovecotServer::start(layout, listen).expect_err("the address is taken");
    let said = refused.to_string();
    assert!(
        said.contains(&listen.to_string()) && said.contains("MAILPLANE_IMAP_LISTEN"),
        "{said}"
    );
    assert!(
        !refused.is_not_installed(),
        "serve stops and says what to do"
    );
}
