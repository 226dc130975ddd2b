//! `mailplane bench api`: the API's cost in a small (10 members) and a large (50,000)
//! organization side by side, bulk imports and mailbox openings, the members page under 64
//! clients, and a projection rebuild, against `mailplane serve` with its own PostgreSQL
//! database, Dovecot and DNS server, all on loopback.

mod harness;
mod imap;
mod org;
mod reads;

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use crate::config::Config;
use crate::database::Database;
use harness::{percentiles, Dns, Gql, Server};
use org::Org;

/// What the run measures, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Members of the large organization.
    pub members: usize,
    /// Samples per command and organization.
    pub samples: usize,
}

/// Figures printed as they come and all on the last line.
#[derive(Default)]
struct Figures(Vec<(String, String)>);

impl Figures {
    fn put(&mut self, key: &str, value: impl std::fmt::Display) {
        println!("{key}={value}");
        self.0.push((key.to_owned(), value.to_string()));
    }
    fn ms(&mut self, key: &str, value: f64) {
        self.put(key, format!("{value:.2}"));
    }
    fn ratio(&mut self, key: &str, big: f64, small: f64) {
        self.put(key, format!("{:.2}", big / small.max(0.001)));
    }
}

/// Runs the benchmark and prints its figures, `key=value`, the last line all of them.
pub async fn api(config: Config, sizes: Sizes) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mailplane-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let name = format!("mailplane_bench_api_{}", std::process::id());
    let db = Database::open_named(&config, &name).await?;
    db.migrate().await?;
    let url = database_url(&config, &db.options);
    let result = run(&dir, &url, &db, sizes).await;
    db.pool.close().await;
    db.background.close().await;
    if config.database_url.is_none() {
        let mut conn = PgConnection::connect_with(&db.options.clone().database("postgres")).await?;
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
            .await?;
        conn.close().await?;
    }
    let closed = db.close().await;
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!("kept {} for a look (serve.log)", dir.display()),
    }
    result?;
    closed
}

/// The URL `serve` connects with: DATABASE_URL, or the private cluster's socket.
fn database_url(config: &Config, options: &sqlx::postgres::PgConnectOptions) -> String {
    if let Some(url) = &config.database_url {
        return url.clone();
    }
    let socket = options
        .get_socket()
        .map(|s| s.display().to_string())
        .unwrap_or_default();
    format!(
        "postgres://{}@localhost/{}?host={socket}",
        options.get_username(),
        options.get_database().unwrap_or("postgres")
    )
}

async fn run(dir: &std::path::Path, url: &str, db: &Database, sizes: Sizes) -> anyhow::Result<()> {
    let mut dns = Dns::new(dir)?;
    dns.serve(&[])?;
    let server = Server::start(dir, url, &dns).await?;
    let market = Gql::new(
        server.port,
        server.token("orders", "service", Some("marketplace"))?,
    );
    let buyer = Gql::new(server.port, server.token("buyer-bench", "account", None)?);
    let mut figures = Figures::default();
    figures.put("members_small", 10);
    figures.put("members_big", sizes.members);

    let started = Instant::now();
    let mut small = Org::create(&market, &buyer, "small", 10).await?;
    let mut big = Org::create(&market, &buyer, "big", sizes.members).await?;
    let mut lines = small.dns_lines.clone();
    lines.extend(big.dns_lines.clone());
    dns.serve(&lines)?;
    small.fill(&buyer).await?;
    big.fill(&buyer).await?;
    println!(
        "built both organizations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The workers' share of the build (a credentials SMS per authorized member) is done
    // before anything is timed.
    let quiet = settle(db).await?;
    figures.put(
        "workers_drained_after_build_s",
        format!("{:.1}", quiet.as_secs_f64()),
    );

    commands(&buyer, &small, &big, sizes.samples, &mut figures).await?;
    settle(db).await?;
    let imported = import(&buyer, &small, &big, &mut figures).await?;
    settle(db).await?;
    open_mailboxes(&buyer, &server, &big, &imported, &mut figures).await?;
    settle(db).await?;
    reads::members_page(&server, &big, &mut figures).await?;
    let secret_key = server.secret_key.clone();
    drop(server);
    reads::rebuild(db, &secret_key, &mut figures).await?;
    let all: Vec<String> = figures.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{}", all.join(" "));
    Ok(())
}

/// Waits until the log stops growing (workers and timers have nothing left to record) for
/// three seconds; how long that took.
async fn settle(db: &Database) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = -1i64;
    let mut still = 0;
    while still < 3 {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&db.pool)
            .await?;
        still = if n == last { still + 1 } else { 0 };
        last = n;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(started.elapsed().saturating_sub(Duration::from_secs(3)))
}

/// Each command `samples` times in each organization, interleaved so drift hits both.
async fn commands(
    buyer: &Gql,
    small: &Org,
    big: &Org,
    samples: usize,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let mut times: [[Vec<Duration>; 2]; 4] = Default::default();
    let orgs = [small, big];
    let mut members: [Vec<String>; 2] = Default::default();
    let mut mailboxes: [Vec<String>; 2] = Default::default();
    for i in 0..samples {
        for (o, org) in orgs.iter().enumerate() {
            let (id, t) = org.add_member(buyer, &format!("lat{i}")).await?;
            times[0][o].push(t);
            members[o].push(id);
        }
    }
    let [small_members, big_members] = &members;
    for pair in small_members.iter().zip(big_members) {
        for (o, (org, member)) in orgs.iter().zip([pair.0, pair.1]).enumerate() {
            times[1][o].push(org.authorize(buyer, std::slice::from_ref(member)).await?);
        }
    }
    for (i, pair) in small_members.iter().zip(big_members).enumerate() {
        for (o, (org, member)) in orgs.iter().zip([pair.0, pair.1]).enumerate() {
            let (id, t) = org.open_mailbox(buyer, member, &format!("lat{i}")).await?;
            times[2][o].push(t);
            mailboxes[o].push(id);
        }
    }
    let [small_boxes, big_boxes] = &mailboxes;
    for pair in small_boxes.iter().zip(big_boxes) {
        for (o, (org, mailbox)) in orgs.iter().zip([pair.0, pair.1]).enumerate() {
            times[3][o].push(org.close_mailbox(buyer, mailbox).await?);
        }
    }
    let names = [
        "add_member",
        "authorize_members",
        "open_mailbox",
        "close_mailbox",
    ];
    for (name, [small, big]) in names.iter().zip(times.iter_mut()) {
        let (s50, s99) = percentiles(small);
        let (b50, b99) = percentiles(big);
        figures.ms(&format!("{name}_small_p50_ms"), s50);
        figures.ms(&format!("{name}_small_p99_ms"), s99);
        figures.ms(&format!("{name}_big_p50_ms"), b50);
        figures.ms(&format!("{name}_big_p99_ms"), b99);
        figures.ratio(&format!("{name}_ratio_p50"), b50, s50);
        figures.ratio(&format!("{name}_ratio_p99"), b99, s99);
    }
    Ok(())
}

/// 1,000 members imported into each organization: the answer, and until all are listed.
async fn import(
    buyer: &Gql,
    small: &Org,
    big: &Org,
    figures: &mut Figures,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut imported = Vec::new();
    for (label, org) in [("small", small), ("big", big)] {
        let before = org.member_count(buyer).await?;
        let rows = org::rows("imp", 0..1_000);
        let started = Instant::now();
        org.import(buyer, &rows).await?;
        let answered = started.elapsed();
        while org.member_count(buyer).await? < before + 1_000 {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "imported members never all listed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let readable = started.elapsed();
        figures.put(
            &format!("import_1000_{label}_answer_s"),
            format!("{:.2}", answered.as_secs_f64()),
        );
        figures.put(
            &format!("import_1000_{label}_readable_s"),
            format!("{:.2}", readable.as_secs_f64()),
        );
        if label == "big" {
            imported = org.members_named(buyer, "imp").await?;
        }
    }
    Ok(imported)
}

/// 1,000 mailboxes opened at once: until all are ACTIVE, and until each has logged in
/// over IMAP (each tried as soon as it is listed ACTIVE); beside it, the bare cost of
/// 1,000 of the password hashes they need.
async fn open_mailboxes(
    buyer: &Gql,
    server: &Server,
    big: &Org,
    imported: &[(String, String)],
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let ids: Vec<String> = imported.iter().map(|(id, _)| id.clone()).collect();
    big.authorize(buyer, &ids).await?;
    let passwords: std::collections::HashMap<&str, String> = imported
        .iter()
        .map(|(id, account)| (id.as_str(), org::password(account)))
        .collect();
    let started = Instant::now();
    let opened = big.open_mailboxes(buyer, &ids).await?;
    let answered = started.elapsed();
    anyhow::ensure!(
        opened.len() == ids.len(),
        "opened {} of {}",
        opened.len(),
        ids.len()
    );
    let wanted: std::collections::HashMap<String, String> = opened
        .into_iter()
        .map(|(member, address)| {
            let password = passwords.get(member.as_str()).cloned().unwrap_or_default();
            (address, password)
        })
        .collect();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let imap = server.imap;
    let logins = tokio::spawn(async move {
        let addresses = tokio_stream_of(rx);
        let results: Vec<anyhow::Result<()>> = addresses
            .map(|(address, password)| async move { imap::login(imap, &address, &password).await })
            .buffer_unordered(4)
            .collect()
            .await;
        results
            .into_iter()
            .collect::<anyhow::Result<Vec<()>>>()
            .map(|v| v.len())
    });
    let mut seen = std::collections::HashSet::new();
    while seen.len() < wanted.len() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the mailboxes never all became ACTIVE"
        );
        for address in big.active_addresses(buyer).await? {
            if let Some(password) = wanted.get(&address) {
                if seen.insert(address.clone()) {
                    let _ = tx.send(format!("{address}\n{password}"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let active = started.elapsed();
    drop(tx);
    let logged_in = logins.await??;
    anyhow::ensure!(logged_in == wanted.len(), "{logged_in} logged in");
    let login = started.elapsed();
    figures.put(
        "open_mailboxes_1000_answer_s",
        format!("{:.2}", answered.as_secs_f64()),
    );
    figures.put(
        "open_mailboxes_1000_active_s",
        format!("{:.2}", active.as_secs_f64()),
    );
    figures.put(
        "open_mailboxes_1000_login_s",
        format!("{:.2}", login.as_secs_f64()),
    );
    let hashing = hash_baseline(1_000).await?;
    figures.put(
        "baseline_hash_1000_s",
        format!("{:.2}", hashing.as_secs_f64()),
    );
    Ok(())
}

/// The lines sent on `rx` (address, new line, password) as a stream of pairs.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> impl futures_util::Stream<Item = (String, String)> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        let (address, password) = line.split_once('\n').unwrap_or((&line, ""));
        Some(((address.to_owned(), password.to_owned()), rx))
    })
}

use futures_util::StreamExt;

/// 1,000 Argon2 hashes with the data plane's parameters, on every core.
async fn hash_baseline(n: usize) -> anyhow::Result<Duration> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cores {
        let share = n / cores + usize::from(c < n % cores);
        tasks.push(tokio::task::spawn_blocking(move || {
            for i in 0..share {
                app::secrets::mail_password_hash(&format!("Bench-pw-{i}"))?;
            }
            Ok::<_, app::secrets::SecretError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed())
}
