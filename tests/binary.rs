//! The `mailplane` binary end to end: serve with no configuration (its own PostgreSQL),
//! restart on the same data, shutdown on SIGTERM, `token`, `migrate`, `bench`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;

fn mailplane() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailplane"));
    for var in [
        "DATABASE_URL",
        "MAILPLANE_DATA_DIR",
        "MAILPLANE_LISTEN",
        "MAILPLANE_JWT_SECRET",
        "MAILPLANE_PG_BINDIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("MAILPLANE_LOG", "info");
    cmd
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailplane-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    match ureq::get(&format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .call()
    {
        Ok(r) => Some((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(code, r)) => Some((code, r.into_string().unwrap_or_default())),
        Err(_) => None,
    }
}

fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mailplane serve exited early: {status}");
        }
        if let Some((200, _)) = get(port, "/readyz") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mailplane serve not ready within 90 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(data_dir: &Path, port: u16) -> Child {
    mailplane()
        .arg("serve")
        .env("MAILPLANE_DATA_DIR", data_dir)
        .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
        // The private Dovecot (started when installed) on a port no other run uses.
        .env(
            "MAILPLANE_IMAP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn terminate(mut child: Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "mailplane serve exited with {status} on SIGTERM"
            );
            return;
        }
        assert!(Instant::now() < deadline, "mailplane serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn local_store(data_dir: &Path) -> eventstore::EventStore {
    let options = sqlx::postgres::PgConnectOptions::new()
        .socket(data_dir.join("postgres-socket"))
        .username("mailplane")
        .database("mailplane");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    eventstore::EventStore::new(pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_brings_up_its_own_postgres_and_keeps_data_across_restarts() {
    let data = temp_dir("serve");
    let port = free_port();
    let mut child = serve(&data, port);
    tokio::task::block_in_place(|| wait_ready(&mut child, port));

    assert_eq!(get(port, "/healthz").unwrap().0, 200);
    let (status, metrics) = get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "mailplane_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("mailplane_db_pool_connections"));
    assert!(metrics.contains("mailplane_overdue_timers 0"), "{metrics}");
    assert_eq!(get(port, "/nope").unwrap().0, 404);

    // Migrations ran: the event store takes an event.
    let store = local_store(&data).await;
    let marker = eventstore::NewEvent::new("MarkerWritten", serde_json::json!({"run": 1}));
    store
        .append(
            "marker-1",
            eventstore::ExpectedRevision::NoStream,
            &[marker],
        )
        .await
        .unwrap();
    store.pool().close().await;
    let secret = std::fs::read_to_string(data.join("jwt-secret")).unwrap();

    tokio::task::block_in_place(|| terminate(child));
    // The private server stopped with it.
    assert!(!data.join("postgres/postmaster.pid").exists());

    // A second start reuses the cluster, its data and the secret.
    let mut child = serve(&data, port);
    tokio::task::block_in_place(|| wait_ready(&mut child, port));
    let store = local_store(&data).await;
    assert_eq!(store.stream_revision("marker-1").await.unwrap(), Some(0));
    store.pool().close().await;
    assert_eq!(
        std::fs::read_to_string(data.join("jwt-secret")).unwrap(),
        secret
    );
    tokio::task::block_in_place(|| terminate(child));
    std::fs::remove_dir_all(&data).unwrap();
}

/// The private servers run as unprivileged users; a folder only root can enter (a checkout
/// under /root, a `mktemp -d`) must not stop them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_as_root_from_a_folder_only_root_can_enter() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the servers run as ourselves and need no other folder");
        return;
    }
    let closed = temp_dir("closed");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = closed.join(".mailplane");
    let port = free_port();
    let imap = free_port();
    let start = || {
        mailplane()
            .arg("serve")
            .env("MAILPLANE_DATA_DIR", &data)
            .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MAILPLANE_IMAP_LISTEN", format!("127.0.0.1:{imap}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    tokio::task::block_in_place(|| wait_ready(&mut child, port));
    let servers = std::fs::read_link(data.join("postgres"))
        .expect("the cluster's files moved out, linked from the data folder")
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(!servers.starts_with(&closed), "{}", servers.display());
    // Reachable where the README says, through the links.
    let store = local_store(&data).await;
    store.pool().close().await;
    if workers::dataplane::find_binary("dovecot").is_some() {
        assert!(std::net::TcpStream::connect(("127.0.0.1", imap)).is_ok());
        assert!(data.join("dovecot").join("dovecot.conf").is_file());
    }
    tokio::task::block_in_place(|| terminate(child));
    // And again on the same files.
    let mut child = start();
    tokio::task::block_in_place(|| wait_ready(&mut child, port));
    tokio::task::block_in_place(|| terminate(child));
    std::fs::remove_dir_all(&closed).unwrap();
    std::fs::remove_dir_all(&servers).unwrap();
}

/// What an OOM kill or `systemctl kill` does: SIGKILL to every process of the group at once.
fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) on the process group our child leads.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_again_after_its_whole_process_group_is_killed() {
    use std::os::unix::process::CommandExt;
    let data = temp_dir("crash");
    let port = free_port();
    let imap = free_port();
    let start = || {
        mailplane()
            .arg("serve")
            .env("MAILPLANE_DATA_DIR", &data)
            .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MAILPLANE_IMAP_LISTEN", format!("127.0.0.1:{imap}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    tokio::task::block_in_place(|| wait_ready(&mut child, port));
    let store = local_store(&data).await;
    let marker = eventstore::NewEvent::new("MarkerWritten", serde_json::json!({"run": 1}));
    store
        .append(
            "marker-1",
            eventstore::ExpectedRevision::NoStream,
            &[marker],
        )
        .await
        .unwrap();
    store.pool().close().await;
    for round in 0..3 {
        kill_group(&mut child);
        if round == 2 {
            // A stale pid file naming a live process that is not Dovecot (a reused PID).
            let run = data.join("dovecot/run");
            if run.is_dir() {
                std::fs::write(run.join("master.pid"), format!("{}\n", std::process::id()))
                    .unwrap();
            }
        }
        // At once: what the crash left (a server shutting down, pid files) is cleared.
        child = start();
        tokio::task::block_in_place(|| wait_ready(&mut child, port));
    }
    let store = local_store(&data).await;
    assert_eq!(
        store.stream_revision("marker-1").await.unwrap(),
        Some(0),
        "the data survived every crash"
    );
    store.pool().close().await;
    tokio::task::block_in_place(|| terminate(child));
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn serve_without_postgres_binaries_says_what_to_do() {
    let data = temp_dir("nobin");
    let out = mailplane()
        .arg("serve")
        .env("MAILPLANE_DATA_DIR", &data)
        .env("MAILPLANE_PG_BINDIR", data.join("nothing-here"))
        .env("MAILPLANE_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("initdb and postgres"), "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    std::fs::remove_dir_all(&data).unwrap();
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

#[test]
fn token_prints_a_token_the_server_accepts() {
    let secret = "a-test-secret-of-at-least-32-bytes!!";
    let out = run(mailplane()
        .args([
            "token", "--sub", "buyer-1", "--kind", "account", "--ttl", "2h",
        ])
        .env("MAILPLANE_JWT_SECRET", secret));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let keys = api::JwtKeys::from_secret(secret.as_bytes()).unwrap();
    let principal = keys.verify(token.trim()).unwrap();
    assert_eq!(principal.id, "buyer-1");
    assert_eq!(principal.kind, api::PrincipalKind::Account);

    let out = run(mailplane()
        .args([
            "token",
            "--sub",
            "orders",
            "--kind",
            "service",
            "--scope",
            "marketplace",
        ])
        .env("MAILPLANE_JWT_SECRET", secret));
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        keys.verify(token.trim()).unwrap().scope.as_deref(),
        Some("marketplace")
    );
}

#[test]
fn token_refuses_bad_arguments() {
    let secret = "a-test-secret-of-at-least-32-bytes!!";
    let cases: [(&[&str], &str); 6] = [
        (&["--sub", "x", "--kind", "admin"], "unknown principal kind"),
        (&["--sub", "x", "--kind", "service"], "needs a scope"),
        (
            &["--sub", "x", "--kind", "service", "--scope", "root"],
            "unknown service scope",
        ),
        (
            &["--sub", "x", "--kind", "account", "--scope", "billing"],
            "only service tokens",
        ),
        (
            &["--sub", "x", "--kind", "account", "--ttl", "0s"],
            "lifetime",
        ),
        (&["--sub", "", "--kind", "account"], "subject"),
    ];
    for (args, message) in cases {
        let out = run(mailplane()
            .arg("token")
            .args(args)
            .env("MAILPLANE_JWT_SECRET", secret));
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let out = run(mailplane()
        .args(["token", "--sub", "x", "--kind", "account"])
        .env("MAILPLANE_JWT_SECRET", "short"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAILPLANE_JWT_SECRET"));
}

#[tokio::test]
async fn migrate_applies_to_database_url_and_is_repeatable() {
    let db = fresh_database().await;
    for _ in 0..2 {
        let out = run(mailplane().arg("migrate").env("DATABASE_URL", db.url()));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "migrations applied"
        );
    }
    let out = run(mailplane()
        .arg("migrate")
        .env("DATABASE_URL", "mysql://nope"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn bench_prints_its_figures_on_the_last_line() {
    let db = fresh_database().await;
    let out = run(mailplane()
        .args(["bench", "eventstore"])
        .env("DATABASE_URL", db.url())
        .env("MAILPLANE_BENCH_SECONDS", "1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // What sealing personal data costs: appends and rebuilds, each beside its baseline.
    let sealing = stdout
        .lines()
        .find(|l| l.starts_with("sealed_append_ratio="))
        .unwrap_or_else(|| panic!("no sealing figures: {stdout}"));
    for (kv, key) in sealing.split(' ').zip([
        "sealed_append_ratio",
        "sealed_append_new_person_ratio",
        "sealed_rebuild_ratio",
    ]) {
        let (k, v) = kv.split_once('=').unwrap();
        assert_eq!(k, key);
        assert!(v.parse::<f64>().unwrap() > 0.0, "{kv}");
    }
    let last = stdout.lines().last().unwrap();
    let keys: Vec<&str> = last
        .split(' ')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "append_1w_per_s",
            "append_8w_per_s",
            "raw_8w_per_s",
            "append_8w_ratio",
            "catchup_events_per_s"
        ]
    );
    for kv in last.split(' ') {
        let value: f64 = kv.split('=').nth(1).unwrap().parse().unwrap();
        assert!(value > 0.0, "{kv}");
    }
}

#[tokio::test]
async fn projections_rebuild_replays_every_projection_or_a_named_one() {
    let db = fresh_database().await;
    let out = run(mailplane()
        .args(["projections", "rebuild"])
        .env("DATABASE_URL", db.url()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        projections::Projection::ALL.len(),
        "{stdout}"
    );
    let out = run(mailplane()
        .args(["projections", "rebuild", "members"])
        .env("DATABASE_URL", db.url()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rebuilt members from 0 events"
    );
    let out = run(mailplane()
        .args(["projections", "rebuild", "nope"])
        .env("DATABASE_URL", db.url()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no projection named"));
}
