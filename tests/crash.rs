//! The server killed with SIGKILL at random points of a member import and of a batch of
//! mailbox openings (five points each), and started again each time; the client repeats
//! its request with the same idempotency key, as a client that lost its answer does.
//! Afterwards every member and mailbox exists exactly once, every credentials message was
//! written once, and every read model equals a rebuild from the log.
//!
//! Needs dovecot-imapd and dnsmasq-base (.ci/run installs them).

mod support;

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use serde_json::{json, Value};
use support::*;

const MEMBERS: usize = 120;
const KILLS: usize = 5;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn kill(mut server: Server) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGKILL);
    }
    let _ = server.child.wait();
}

/// A pseudo-random delay from a seed (the test prints it, so a failure can be replayed).
fn delay(seed: &mut u64, max_ms: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(50 + *seed % max_ms)
}

/// Sends a request from another thread; its answer may never come.
fn send(
    port: u16,
    token: &str,
    query: &'static str,
    variables: Value,
) -> std::thread::JoinHandle<()> {
    let token = token.to_owned();
    std::thread::spawn(move || {
        let _ = ureq::post(&format!("http://127.0.0.1:{port}/graphql"))
            .set("Authorization", &format!("Bearer {token}"))
            .timeout(Duration::from_secs(120))
            .send_json(json!({"query": query, "variables": variables}));
    })
}

/// Sends the request again while the killed run's lease on its idempotency key lasts.
fn until_answered_raw(port: u16, token: &str, query: &str, vars: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = call(port, Some(token), query, vars.clone()).0;
        let running = r["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("still running"));
        if !running {
            return r;
        }
        assert!(Instant::now() < deadline, "the key stayed taken: {r}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn until_answered(port: u16, token: &str, query: &str, vars: &Value) -> Value {
    let r = until_answered_raw(port, token, query, vars);
    assert!(r.get("errors").is_none(), "{r}");
    r["data"].clone()
}

/// A fingerprint of every read model table.
async fn read_models(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in projections::Projection::ALL {
        for table in p.tables() {
            let sql = format!(
                "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
            );
            let hash: String = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap();
            out.push((table.to_string(), hash));
        }
    }
    out
}

struct Dovecot(Child);

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_of_an_import_and_a_batch_nothing_is_lost_or_done_twice() {
    let mut seed: u64 = std::env::var("MAILPLANE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) * 2_654_435_761 + 1);
    eprintln!("MAILPLANE_CRASH_SEED={seed}");
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dovecot_dir = dir.join("dovecot");
    let imap = free_addr();
    let dovecot = Dovecot(
        mailplane()
            .args(["dataplane", "dovecot", "--dir"])
            .arg(&dovecot_dir)
            .arg("--listen")
            .arg(imap.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(imap).is_err() {
        assert!(Instant::now() < deadline, "no private Dovecot");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let env = [(
        "MAILPLANE_DATAPLANE",
        format!("dovecot-external:{}", dovecot_dir.display()),
    )];
    let mut server = start_with(&db.url(), &dir, &dns, &env);
    let market = token("orders", "service", Some("marketplace"));
    let buyer = token("buyer-1", "account", None);
    let provision = "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
    let input = json!({"buyerAccountId": "buyer-1", "orderId": "CRASH-1", "edition": "standard", "seats": 500, "trial": true});
    let sub = gql(server.port, &market, provision, json!({"input": input}))
        ["provisionSubscription"]["id"]
        .clone();
    let org = gql(server.port, &buyer, "mutation { createOrganization(input: {name: \"阿克米科技\", identifier: \"acme\"}) { id } }", json!({}))["createOrganization"]["id"].clone();
    gql(
        server.port,
        &buyer,
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    );

    // The import, killed five times on its way.
    const IMPORT: &str = "mutation($o: ID!, $rows: [AddMemberRowInput!]!) { importMembers(organizationId: $o, rows: $rows, idempotencyKey: \"import-1\") { imported failed { row code } } }";
    let rows: Vec<Value> = (0..MEMBERS)
        .map(|i| json!({"name": format!("成员{i}"), "account": format!("m{i}"), "phone": format!("1380000{i:04}"), "password": "Zw-Passw0rd!9"}))
        .collect();
    let vars = json!({"o": org, "rows": rows});
    for point in 0..KILLS {
        let sender = send(server.port, &buyer, IMPORT, vars.clone());
        let wait = delay(&mut seed, 3000);
        std::thread::sleep(wait);
        kill(server);
        let _ = sender.join();
        eprintln!("import: killed at point {point} after {wait:?}");
        server = start_with(&db.url(), &dir, &dns, &env);
    }
    let done = until_answered(server.port, &buyer, IMPORT, &vars);
    let failed = done["importMembers"]["failed"].as_array().unwrap();
    assert!(
        failed.iter().all(|f| f["code"] == "ACCOUNT_TAKEN"),
        "rows only fail for having been imported before the crash: {done}"
    );
    let pool = db.pool(2).await;
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM members")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(members as usize, MEMBERS, "every member exactly once");
    let added: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'MemberAdded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(added as usize, MEMBERS);

    // Authorized (credentials by SMS), then a batch of openings killed five times.
    let ids: Vec<String> = sqlx::query_scalar("SELECT id::text FROM members ORDER BY account")
        .fetch_all(&pool)
        .await
        .unwrap();
    gql(server.port, &buyer, "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }", json!({"o": org, "m": ids}));
    let d = gql(server.port, &buyer, "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id records { type host value priority } } }", json!({"o": org}))["addDomain"].clone();
    let mut lines = Vec::new();
    for r in d["records"].as_array().unwrap() {
        let host = match r["host"].as_str().unwrap() {
            "@" => "acme.cn".to_owned(),
            h => format!("{h}.acme.cn"),
        };
        let value = r["value"].as_str().unwrap();
        lines.push(match r["type"].as_str().unwrap() {
            "MX" => format!("mx-host={host},{value},{}", r["priority"]),
            "TXT" => format!("txt-record={host},\"{value}\""),
            _ => format!("cname={host},{value}"),
        });
    }
    lines.push("host-record=dkim.mailplane.test,127.0.0.2".into());
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let verified = gql(
        server.port,
        &buyer,
        "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }",
        json!({"d": d["id"]}),
    );
    assert_eq!(verified["verifyDomain"]["status"], "VERIFIED", "{verified}");
    const OPEN: &str = "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d, idempotencyKey: \"open-1\") { id } }";
    let open_vars = json!({"m": ids, "d": d["id"]});
    for point in 0..KILLS {
        let sender = send(server.port, &buyer, OPEN, open_vars.clone());
        let wait = delay(&mut seed, 2500);
        std::thread::sleep(wait);
        kill(server);
        let _ = sender.join();
        eprintln!("openings: killed at point {point} after {wait:?}");
        server = start_with(&db.url(), &dir, &dns, &env);
    }
    // Repeated until answered: members whose mailbox exists already are refused as such.
    let r = until_answered_raw(server.port, &buyer, OPEN, &open_vars);
    assert!(
        r.get("errors").is_none() || r["errors"][0]["extensions"]["code"] == "MEMBER_HAS_MAILBOX",
        "{r}"
    );
    for id in &ids {
        let one = json!({"m": [id], "d": d["id"]});
        let _ = call(
            server.port,
            Some(&buyer),
            "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d) { id } }",
            one,
        );
    }
    // Every mailbox becomes ACTIVE once, in the data plane once.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let active: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mailboxes WHERE status = 'ACTIVE'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if active as usize == MEMBERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{active} of {MEMBERS} mailboxes ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let per_member: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM mailboxes WHERE status <> 'PURGED' GROUP BY member_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_member.len(), MEMBERS);
    assert!(per_member.iter().all(|n| *n == 1), "one mailbox per member");
    let users = std::fs::read_to_string(dovecot_dir.join("users")).unwrap();
    assert_eq!(
        users.lines().filter(|l| l.contains("/mail/")).count(),
        MEMBERS,
        "each mailbox once in Dovecot"
    );
    assert_eq!(
        users.lines().filter(|l| l.contains("::::::user=")).count(),
        MEMBERS,
        "each mailbox's second login name once"
    );
    let provisioned: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'MailboxProvisioned' GROUP BY stream_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(provisioned.iter().all(|n| *n == 1), "{provisioned:?}");

    // Every credentials message and every "your mailbox is ready" was written, once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let sms = loop {
        let text = std::fs::read_to_string(dir.join("sms.log")).unwrap_or_default();
        if text.lines().count() >= 2 * MEMBERS || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (kind, part) in [
        ("credentials", "账号名"),
        ("mailbox ready", "已为您开通企业邮箱："),
    ] {
        let mut phones: Vec<String> = sms
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|m| m["text"].as_str().unwrap().contains(part))
            .map(|m| m["to"].as_str().unwrap().to_owned())
            .collect();
        phones.sort();
        let all = phones.len();
        phones.dedup();
        assert_eq!(
            (all, phones.len()),
            (MEMBERS, MEMBERS),
            "one {kind} message per member"
        );
    }

    // The read models equal a rebuild from the log.
    stop(server);
    let live = read_models(&pool).await;
    let out = mailplane()
        .args(["projections", "rebuild"])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt = read_models(&pool).await;
    for (a, b) in live.iter().zip(&rebuilt) {
        assert_eq!(a, b, "{} differs from its rebuild", a.0);
    }
    drop(dovecot);
    let _ = std::fs::remove_dir_all(&dir);
}
