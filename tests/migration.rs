//! Mail migration end to end, loopback only: a second private Dovecot plays the old
//! provider (IMAP and POP3), mailplane's own private Dovecot is the data plane, and the
//! real binary runs the task through GraphQL.
//!
//! Old mail: `Café`, `受信トレイ`, `R&D`, nested `a/b`, Drafts; 2,000+ messages with flags and
//! keywords, two with the same Message-ID, drafts without one, a 12 MB message. Checked
//! through IMAP on both sides: per-folder counts, flags and a hash of every message.
//!
//! Bad inputs tried: a host with a space, port 0 and 70000, an empty CSV, a CSV of 1,001
//! rows (IMPORT_TOO_LARGE), lines with two columns, an empty password, a target that is no
//! address, an address that is no mailbox of the organization, a target twice, an old
//! account twice; the
//! task of another organization read, changed and fed accounts by its admin (FORBIDDEN);
//! a second open task on the same target mailbox (refused line).
//!
//! Needs dovecot-imapd, dovecot-pop3d and dnsmasq-base (.ci/run installs them).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use sha2::Digest;
use support::console_http::{agent, sign_in, status};
use support::old_server::{doveadm, OldServer};
use support::*;

const PASSWORD: &str = "Zw-Passw0rd!9";
const ALICE_PASSWORD: &str = "Old-Secret-alice-7";
const FOLDERS: [&str; 5] = ["Café", "受信トレイ", "R&D", "a/b", "Drafts"];

/// folder → sorted (content hash, flags) of every message.
type Snapshot = BTreeMap<String, Vec<(String, String)>>;

async fn session(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> async_imap::Session<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.unwrap().unwrap();
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

/// Every folder's messages as (hash of the whole message, flags without \Recent).
async fn snapshot(addr: SocketAddr, user: &str, password: &str) -> Snapshot {
    let mut s = session(addr, user, password).await;
    let names: Vec<String> = s
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_filter(|n| {
            // \Noselect or \NonExistent (a level `a` of `a/b`), however the parser spells it.
            let selectable = !n.attributes().iter().any(|a| {
                let text = format!("{a:?}").to_ascii_lowercase();
                text.contains("noselect") || text.contains("nonexistent")
            });
            std::future::ready(selectable)
        })
        .map_ok(|n| n.name().to_owned())
        .try_collect()
        .await
        .unwrap();
    let mut all = Snapshot::new();
    for name in names {
        // A level that exists only through its children (`a` of `a/b`) cannot be opened.
        let Ok(mailbox) = s.select(&name).await else {
            assert!(name == "a", "{name} cannot be opened");
            continue;
        };
        let mut messages = Vec::new();
        if mailbox.exists > 0 {
            let fetched: Vec<_> = s
                .fetch("1:*", "(FLAGS BODY.PEEK[])")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            for m in fetched {
                let hash = hex(&sha2::Sha256::digest(m.body().unwrap_or_default()));
                let mut flags: Vec<String> = m
                    .flags()
                    .map(|f| format!("{f:?}"))
                    .filter(|f| f != "Recent")
                    .collect();
                flags.sort();
                messages.push((hash, flags.join(" ")));
            }
        }
        messages.sort();
        all.insert(name, messages);
    }
    let _ = s.logout().await;
    all
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn message(subject: &str, message_id: Option<&str>, body: &str) -> String {
    let id = message_id
        .map(|m| format!("Message-ID: <{m}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: colleague@old-provider.test\r\nTo: someone@old-provider.test\r\nSubject: {subject}\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n{id}\r\n{body}\r\n"
    )
}

/// Old mail for `user`: 2,000+ messages over six folders, flags and keywords, a repeated
/// Message-ID, drafts without one, a 12 MB message.
async fn seed_alice(old: &OldServer, user: &str) -> usize {
    let mut create = vec!["mailbox", "create", "-u", user];
    create.extend(FOLDERS);
    old.doveadm(&create);
    old.doveadm(&[
        "mailbox",
        "subscribe",
        "-u",
        user,
        "INBOX",
        "Café",
        "受信トレイ",
    ]);
    let mut s = session(old.imap, user, ALICE_PASSWORD).await;
    let mut n = 0;
    let mut plan: Vec<(&str, usize)> = vec![("INBOX", 1_700), ("Café", 150), ("受信トレイ", 120)];
    plan.extend([("R&D", 40), ("a/b", 20)]);
    let filler = "lorem ipsum dolor sit amet ".repeat(60);
    for (folder, count) in plan {
        let encoded = old.doveadm(&["mailbox", "mutf7", folder]).trim().to_owned();
        for i in 0..count {
            let flags = match i % 7 {
                0 => "(\\Seen)",
                1 => "(\\Seen \\Flagged $Important)",
                2 => "(NonJunk)",
                3 => "(\\Answered \\Seen)",
                _ => "()",
            };
            let body = format!("{folder} {i} {filler}");
            let text = message(
                &format!("{folder} {i}"),
                Some(&format!("m{n}@old.test")),
                &body,
            );
            s.append(&encoded, Some(flags), None, text).await.unwrap();
            n += 1;
        }
    }
    // Two messages with one Message-ID, drafts without any, one of 12 MB.
    for subject in ["dup A", "dup B"] {
        let text = message(subject, Some("dup@old.test"), subject);
        s.append("INBOX", Some("(\\Seen)"), None, text)
            .await
            .unwrap();
        n += 1;
    }
    for i in 0..3 {
        let text = message(&format!("draft {i}"), None, "unfinished");
        s.append("Drafts", Some("(\\Draft)"), None, text)
            .await
            .unwrap();
        n += 1;
    }
    let big_line =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab\r\n";
    let big = message(
        "big",
        Some("big@old.test"),
        &big_line.repeat(12_000_000 / big_line.len()),
    );
    s.append("INBOX", Some("(\\Flagged)"), None, big)
        .await
        .unwrap();
    n += 1;
    let _ = s.logout().await;
    n
}

async fn seed_plain(old: &OldServer, user: &str, password: &str, count: usize, tag: &str) {
    let mut s = session(old.imap, user, password).await;
    for i in 0..count {
        let text = message(
            &format!("{tag} {i}"),
            Some(&format!("{tag}{i}@old.test")),
            tag,
        );
        s.append("INBOX", None, None, text).await.unwrap();
    }
    let _ = s.logout().await;
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p)
            } else {
                1
            }
        })
        .sum()
}

/// Every process's command line that contains `needle`.
fn command_lines_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if line.contains(needle) {
                found.push(line);
            }
        }
    }
    found
}

const TASK: &str = "query($id: ID!) { migration(id: $id) { id status reachable connectionError run
    counts { accounts notStarted checking migrating succeeded failed cancelled messagesTotal messagesCopied bytes }
    accounts(first: 100) { totalCount nodes { id line oldAccount address status attempts nextAttemptAt mode failure failureReason messagesTotal
      folders { name total copied skipped bytes } } } } }";

fn task(port: u16, token: &str, id: &str) -> Value {
    gql(port, token, TASK, json!({"id": id}))["migration"].clone()
}

fn account<'a>(task: &'a Value, old: &str) -> &'a Value {
    task["accounts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["oldAccount"] == old)
        .unwrap_or_else(|| panic!("no account {old} in {task}"))
}

fn until(port: u16, token: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let t = task(port, token, id);
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "never {what}: {t:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn step(port: u16, token: &str, operation: &str, id: &str) -> Value {
    let q = format!("mutation($id: ID!) {{ {operation}(id: $id) {{ id status run }} }}");
    gql(port, token, &q, json!({"id": id}))[operation].clone()
}

fn create_task(port: u16, token: &str, org: &str, old: SocketAddr, protocol: &str) -> String {
    let q =
        "mutation($input: CreateMigrationInput!) { createMigration(input: $input) { id status } }";
    let input = json!({"organizationId": org, "host": "127.0.0.1", "port": old.port(), "protocol": protocol, "tls": false});
    let t = gql(port, token, q, json!({"input": input}))["createMigration"].clone();
    assert_eq!(t["status"], "DRAFT");
    t["id"].as_str().unwrap().to_owned()
}

const ADD: &str = "mutation($id: ID!, $csv: String!) { addMigrationAccounts(id: $id, csv: $csv) { added refused { line field code message } } }";

fn add_accounts(port: u16, token: &str, id: &str, csv: &str) -> Value {
    gql(port, token, ADD, json!({"id": id, "csv": csv}))["addMigrationAccounts"].clone()
}

fn kill_group(server: Server) {
    let pid = server.child.id() as i32;
    // SAFETY: kill(2) on our own child's process group (it has one of its own).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let mut server = server;
    let _ = server.child.wait();
}

struct World {
    port: u16,
    buyer: String,
    org: String,
    domain: String,
}

/// A subscription, an organization with a verified acme.cn, authorized members.
fn world(port: u16, dns: &mut Dns, names: &[(&str, &str, &str)]) -> (World, Vec<String>) {
    let market = token("orders", "service", Some("marketplace"));
    let buyer = token("buyer-mig", "account", None);
    let provision = "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
    let input = json!({"buyerAccountId": "buyer-mig", "orderId": "CS-MIGRATION-1", "edition": "standard", "seats": 20, "trial": true});
    let sub = gql(port, &market, provision, json!({"input": input}))["provisionSubscription"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = gql(port, &buyer, "mutation { createOrganization(input: {name: \"阿克米科技\", identifier: \"acme-mig\"}) { id } }", json!({}))["createOrganization"]["id"].as_str().unwrap().to_owned();
    gql(
        port,
        &buyer,
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    );
    let add = "mutation($input: AddMemberInput!) { addMember(input: $input) { id } }";
    let members: Vec<String> = names
        .iter()
        .map(|(name, account, phone)| {
            let input = json!({"organizationId": org, "name": name, "account": account, "phone": phone, "password": PASSWORD});
            gql(port, &buyer, add, json!({"input": input}))["addMember"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let authorize = "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }";
    gql(port, &buyer, authorize, json!({"o": org, "m": members}));
    let d = gql(port, &buyer, "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id records { type host value priority } } }", json!({"o": org}))["addDomain"].clone();
    let domain = d["id"].as_str().unwrap().to_owned();
    let lines = dns_lines("acme.cn", &d["records"]);
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let verified = gql(
        port,
        &buyer,
        "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }",
        json!({"d": domain}),
    );
    assert_eq!(verified["verifyDomain"]["status"], "VERIFIED");
    (
        World {
            port,
            buyer,
            org,
            domain,
        },
        members,
    )
}

fn open_mailboxes(w: &World, members: &[String]) -> Vec<(String, String)> {
    let open = "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d) { id address } }";
    let opened =
        gql(w.port, &w.buyer, open, json!({"m": members, "d": w.domain}))["openMailboxes"].clone();
    let q =
        "query($o: ID!) { organization(id: $o) { mailboxes(first: 100) { nodes { id status } } } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let nodes = gql(w.port, &w.buyer, q, json!({"o": w.org}))["organization"]["mailboxes"]
            ["nodes"]
            .clone();
        if nodes
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "ACTIVE")
        {
            break;
        }
        assert!(Instant::now() < deadline, "mailboxes never ACTIVE: {nodes}");
        std::thread::sleep(Duration::from_millis(100));
    }
    opened
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_mail_moves_in_exactly_resumes_after_a_kill_and_tops_up_without_losing_new_mail() {
    let db = fresh_database().await;
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("mailplane-migration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let users = [
        ("alice@old.test", ALICE_PASSWORD),
        ("bob@old.test", "Old-Secret-bob-1"),
        ("carol@old.test", "Old-Secret-carol-1"),
        ("dave@old.test", "Old-Secret-dave-1"),
    ];
    let mut old = OldServer::start(&dir.join("old"), &users);
    let alice_messages = seed_alice(&old, "alice@old.test").await;
    assert!(alice_messages > 2_000);
    seed_plain(&old, "bob@old.test", "Old-Secret-bob-1", 12, "bob").await;
    seed_plain(&old, "carol@old.test", "Old-Secret-carol-1", 3, "carol").await;
    seed_plain(&old, "dave@old.test", "Old-Secret-dave-1", 30, "dave").await;

    let dovecot_dir = dir.join("dovecot");
    let imap = free_addr();
    let _dovecot = DovecotProcess::start(&dovecot_dir, imap);
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let env = [
        (
            "MAILPLANE_DATAPLANE",
            format!("dovecot-external:{}", dovecot_dir.display()),
        ),
        ("MAILPLANE_MIGRATION_ALLOW_PRIVATE", "1".to_owned()),
        ("MAILPLANE_MIGRATION_LEASE", "3s".to_owned()),
        ("MAILPLANE_MIGRATION_BACKOFF", "1s".to_owned()),
        ("MAILPLANE_MIGRATION_CONCURRENCY", "2".to_owned()),
    ];
    let server = start_with(&db.url(), &dir, &dns, &env);
    let port = server.port;
    let names = [
        ("张伟", "zw", "13800138000"),
        ("李四", "ls", "13800138001"),
        ("王五", "ww", "13800138002"),
        ("赵六", "zl", "13800138003"),
    ];
    let (w, members) = world(port, &mut dns, &names);
    let targets = open_mailboxes(&w, &members);
    let address = |i: usize| targets[i].1.clone();
    let buyer = w.buyer.clone();

    // An account that manages nothing here.
    let stranger = token("stranger", "account", None);

    // Bad tasks: nothing written.
    let create =
        "mutation($input: CreateMigrationInput!) { createMigration(input: $input) { id } }";
    for (host, port_number) in [
        ("imap old.test", 143),
        ("127.0.0.1", 0),
        ("127.0.0.1", 70_000),
    ] {
        let input = json!({"organizationId": w.org, "host": host, "port": port_number, "protocol": "IMAP", "tls": false});
        let (code, _) = refused(port, Some(&buyer), create, json!({"input": input}));
        assert_eq!(code, "VALIDATION", "{host}:{port_number}");
    }
    let input =
        json!({"organizationId": w.org, "host": "127.0.0.1", "protocol": "IMAP", "tls": false});
    assert_eq!(
        refused(port, Some(&stranger), create, json!({"input": input})).0,
        "FORBIDDEN"
    );

    let id = create_task(port, &buyer, &w.org, old.imap, "IMAP");
    let checked = step(port, &buyer, "checkMigrationConnection", &id);
    assert_eq!(checked["status"], "DRAFT");
    assert_eq!(task(port, &buyer, &id)["reachable"], true);

    // The stranger can neither read nor change the task.
    for (q, vars) in [
        (TASK, json!({"id": id})),
        (ADD, json!({"id": id, "csv": "a@old.test,p,x@acme.cn"})),
        (
            "mutation($id: ID!) { startMigration(id: $id) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { cancelMigration(id: $id) { id } }",
            json!({"id": id}),
        ),
    ] {
        assert_eq!(refused(port, Some(&stranger), q, vars).0, "FORBIDDEN");
    }
    let (code, _) = refused(
        port,
        Some(&buyer),
        ADD,
        json!({"id": id, "csv": (0..1_001).map(|i| format!("u{i}@old.test,p,u{i}@acme.cn\n")).collect::<String>()}),
    );
    assert_eq!(code, "IMPORT_TOO_LARGE");
    assert_eq!(
        refused(port, Some(&buyer), ADD, json!({"id": id, "csv": ""})).0,
        "VALIDATION"
    );
    let bad = format!(
        "old account,old password,target mailbox\n\
         alice@old.test,{ALICE_PASSWORD},{a0}\n\
         bob@old.test,{a1}\n\
         carol@old.test,,{a2}\n\
         dave@old.test,x,nobody\n\
         eve@old.test,x,someone@other.cn\n\
         alice@old.test,x,{a3}\n\
         frank@old.test,x,{a0}\n",
        a0 = address(0),
        a1 = address(1),
        a2 = address(2),
        a3 = address(3),
    );
    let answer = add_accounts(port, &buyer, &id, &bad);
    assert_eq!(answer["added"], 0, "{answer}");
    let lines: Vec<(i64, &str)> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            (3, "csv"),
            (4, "oldPassword"),
            (5, "targetMailbox"),
            (6, "targetMailbox"),
            (7, "oldAccount"),
            (8, "targetMailbox")
        ],
        "{answer}"
    );
    assert_eq!(task(port, &buyer, &id)["counts"]["accounts"], 0);

    // alice (2,000+), bob, and carol with a wrong old password. A BOM, CRLF.
    let csv = format!(
        "\u{feff}old account,old password,target mailbox\r\nalice@old.test,{ALICE_PASSWORD},{}\r\nbob@old.test,Old-Secret-bob-1,{}\r\ncarol@old.test,Wrong-Password,{}\r\n",
        address(0),
        address(1),
        address(2)
    );
    let answer = add_accounts(port, &buyer, &id, &csv);
    assert_eq!(answer["added"], 3, "{answer}");
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'migration_password'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(secrets, 3);
    // A second task cannot take the same target while this one is open.
    let second = create_task(port, &buyer, &w.org, old.imap, "IMAP");
    let clash = add_accounts(
        port,
        &buyer,
        &second,
        &format!("bob@old.test,Old-Secret-bob-1,{}\n", address(1)),
    );
    assert_eq!(clash["added"], 0);
    assert!(
        clash["refused"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another open migration"),
        "{clash}"
    );

    // Start; kill the whole server (worker and doveadm) while alice's mail is half there.
    step(port, &buyer, "startMigration", &id);
    let alice_mail = dovecot_dir.join("mail").join(&targets[0].0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen_command_lines = Vec::new();
    loop {
        seen_command_lines.extend(command_lines_with("doveadm"));
        let files = files_under(&alice_mail);
        if files > 400 {
            break;
        }
        assert!(Instant::now() < deadline, "alice's copy never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = task(port, &buyer, &id);
    assert_eq!(
        account(&t, "alice@old.test")["status"],
        "MIGRATING",
        "{t:#}"
    );
    assert_eq!(account(&t, "alice@old.test")["mode"], "MIRROR");
    kill_group(server);
    assert!(
        files_under(&alice_mail) < alice_messages,
        "the kill came too late to test a resume"
    );
    let server = start_with(&db.url(), &dir, &dns, &env);
    let port = server.port;
    let done = until(port, &buyer, &id, "completed", |t| {
        t["status"] == "COMPLETED"
    });
    let alice = account(&done, "alice@old.test");
    assert_eq!(alice["status"], "SUCCEEDED", "{done:#}");
    assert_eq!(account(&done, "bob@old.test")["status"], "SUCCEEDED");
    let carol = account(&done, "carol@old.test");
    assert_eq!(carol["status"], "FAILED");
    assert_eq!(carol["failure"], "AUTHENTICATION_FAILED");
    assert_eq!(carol["failureReason"], "authentication failed");
    assert_eq!(done["counts"]["succeeded"], 2);
    assert_eq!(done["counts"]["failed"], 1);
    // No retry storm: carol was tried once.
    let carol_checks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'AccountCheckStarted' AND data->>'account_id' = $1",
    )
    .bind(carol["id"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(carol_checks, 1);
    let folders = alice["folders"].as_array().unwrap();
    assert_eq!(folders.len(), 6, "{alice}");
    for f in folders {
        assert_eq!(f["copied"], f["total"], "{f} of {alice:#}");
        assert_eq!(f["skipped"], 0);
    }
    assert_eq!(
        alice["messagesTotal"].as_u64().unwrap() as usize,
        alice_messages
    );

    // Exactly the old mail, flags and keywords included, once.
    let before = snapshot(old.imap, "alice@old.test", ALICE_PASSWORD).await;
    let after = snapshot(imap, &address(0), PASSWORD).await;
    let seen: usize = before.values().map(Vec::len).sum();
    assert_eq!(seen, alice_messages, "the snapshot sees every old message");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (folder, messages) in &before {
        assert_eq!(messages.len(), after[folder].len(), "{folder}");
        assert!(
            messages == &after[folder],
            "{folder}: messages or flags differ"
        );
    }
    assert_eq!(
        snapshot(old.imap, "bob@old.test", "Old-Secret-bob-1").await,
        snapshot(imap, &address(1), PASSWORD).await
    );

    // The password never was an argument of any process, nor in the log.
    assert!(
        !seen_command_lines.is_empty(),
        "doveadm was never seen running"
    );
    assert!(seen_command_lines
        .iter()
        .all(|l| !l.contains(ALICE_PASSWORD)));

    // Mail arrives at the new mailbox, and at the old one; the incremental run keeps both.
    let local = message("arrived at the new provider", Some("new@acme.cn"), "hello");
    let new_config = dovecot_dir.join("dovecot.conf");
    let mut saver = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(&new_config)
        .args(["save", "-u", &address(0), "-m", "INBOX"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    saver
        .stdin
        .take()
        .unwrap()
        .write_all(local.as_bytes())
        .unwrap();
    assert!(saver.wait().unwrap().success());
    seed_plain(&old, "alice@old.test", ALICE_PASSWORD, 5, "late").await;
    let rerun = step(port, &buyer, "rerunMigration", &id);
    assert_eq!(rerun["run"], 2);
    let done = until(port, &buyer, &id, "re-run", |t| {
        t["status"] == "COMPLETED" && t["run"] == 2
    });
    let alice = account(&done, "alice@old.test");
    assert_eq!(alice["status"], "SUCCEEDED");
    // A mirror now would empty the INBOX that received mail of its own: only a top-up.
    assert_eq!(alice["mode"], "TOP_UP");
    let inbox = doveadm(
        &new_config,
        &[
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            &address(0),
            "messages",
            "INBOX",
        ],
    );
    let old_inbox = before["INBOX"].len();
    assert_eq!(
        inbox
            .lines()
            .nth(1)
            .unwrap()
            .split('\t')
            .next_back()
            .unwrap()
            .trim(),
        (old_inbox + 5 + 1).to_string(),
        "old mail, the old server's new mail and the new provider's own mail"
    );

    // The results file.
    let csv = gql(
        port,
        &buyer,
        "query($id: ID!) { migration(id: $id) { resultsCsv } }",
        json!({"id": id}),
    )["migration"]["resultsCsv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(csv.starts_with("line,old_account,target_mailbox,status"));
    assert!(csv.contains("carol@old.test") && csv.contains("AUTHENTICATION_FAILED"));
    assert!(!csv.contains("Wrong-Password") && !csv.contains(ALICE_PASSWORD));

    // The console shows the same task: its accounts with their outcome, the live part, the
    // results file; another organization's admin gets none of it.
    let (cookie, csrf) = sign_in(port, "buyer-mig");
    let base = format!("http://127.0.0.1:{port}/console/organizations/{}", w.org);
    let get = |url: &str, cookie: &str| status(agent().get(url).set("Cookie", cookie).call());
    let (code, list, _) = get(&format!("{base}/migrations"), &cookie);
    assert_eq!(code, 200);
    assert!(list.contains(&format!("data-task=\"{id}\"")));
    let (code, page, _) = get(&format!("{base}/migrations/{id}"), &cookie);
    assert_eq!(code, 200);
    assert!(page.contains("data-account=\"alice@old.test\" data-status=\"SUCCEEDED\""));
    assert!(page.contains("data-account=\"carol@old.test\" data-status=\"FAILED\""));
    assert!(!page.contains(ALICE_PASSWORD) && !page.contains("Wrong-Password"));
    let (code, rows, _) = get(&format!("{base}/migrations/{id}/rows"), &cookie);
    assert_eq!(code, 200);
    assert!(rows.contains("migration-accounts"));
    let (code, file, _) = get(&format!("{base}/migrations/{id}/results.csv"), &cookie);
    assert_eq!(code, 200);
    assert!(file.contains("carol@old.test"));
    // A bad accounts file posted from the page: the lines are shown, nothing is added.
    let form = format!("csrf={csrf}&action=add&csv=a%40old.test%2Cx%2Ca%40acme.cn%0Anobody%40old.test%2Cx%2Cnot-an-address%0A");
    let (code, page, _) = status(
        agent()
            .post(&format!("{base}/migrations/{id}"))
            .set("Cookie", &cookie)
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(&form),
    );
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("refused-lines"));
    assert_eq!(task(port, &buyer, &id)["counts"]["accounts"], 3);
    let (stranger_cookie, stranger_csrf) = sign_in(port, "stranger");
    for url in [
        format!("{base}/migrations"),
        format!("{base}/migrations/{id}"),
        format!("{base}/migrations/{id}/rows"),
        format!("{base}/migrations/{id}/results.csv"),
    ] {
        let (code, body, _) = get(&url, &stranger_cookie);
        assert!(code == 403 || code == 404, "{url}: {code}");
        assert!(!body.contains("alice@old.test"));
    }
    let (code, _, _) = status(
        agent()
            .post(&format!("{base}/migrations/{id}"))
            .set("Cookie", &stranger_cookie)
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(&format!("csrf={stranger_csrf}&action=cancel")),
    );
    assert!(code == 403 || code == 404, "{code}");
    assert_eq!(task(port, &buyer, &id)["status"], "COMPLETED");

    // Cancelling ends the task: the old passwords are gone, the targets free again.
    let cancelled = step(port, &buyer, "cancelMigration", &id);
    assert_eq!(cancelled["status"], "CANCELLED");
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'migration_password'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(secrets, 0);
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            "mutation($id: ID!) { rerunMigration(id: $id) { id } }",
            json!({"id": id})
        )
        .0,
        "CONFLICT"
    );

    // The old server is down when a task starts: retried with backoff, then it succeeds.
    old.halt();
    let down = create_task(port, &buyer, &w.org, old.imap, "IMAP");
    let checked = step(port, &buyer, "checkMigrationConnection", &down);
    assert_eq!(checked["status"], "DRAFT");
    assert_eq!(task(port, &buyer, &down)["reachable"], false);
    let added = add_accounts(
        port,
        &buyer,
        &down,
        &format!("bob@old.test,Old-Secret-bob-1,{}\n", address(1)),
    );
    assert_eq!(added["added"], 1, "{added}");
    step(port, &buyer, "startMigration", &down);
    let waiting = until(port, &buyer, &down, "retried", |t| {
        account(t, "bob@old.test")["attempts"].as_i64() >= Some(2)
    });
    let bob = account(&waiting, "bob@old.test");
    assert!(
        bob["failureReason"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{bob}"
    );
    old.resume();
    seed_plain(&old, "bob@old.test", "Old-Secret-bob-1", 2, "bob-late").await;
    let done = until(
        port,
        &buyer,
        &down,
        "succeeded after the server came back",
        |t| t["status"] == "COMPLETED",
    );
    assert_eq!(
        account(&done, "bob@old.test")["status"],
        "SUCCEEDED",
        "{done:#}"
    );
    let bob_inbox = doveadm(
        &new_config,
        &[
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            &address(1),
            "messages",
            "INBOX",
        ],
    );
    let bob_count = bob_inbox.lines().nth(1).unwrap().split('\t').next_back();
    assert_eq!(bob_count.unwrap().trim(), "14");
    step(port, &buyer, "cancelMigration", &down);

    // POP3: every message arrives once.
    let pop = create_task(port, &buyer, &w.org, old.pop3, "POP3");
    assert_eq!(
        step(port, &buyer, "checkMigrationConnection", &pop)["status"],
        "DRAFT"
    );
    assert_eq!(task(port, &buyer, &pop)["reachable"], true);
    let added = add_accounts(
        port,
        &buyer,
        &pop,
        &format!("dave@old.test,Old-Secret-dave-1,{}\n", address(3)),
    );
    assert_eq!(added["added"], 1, "{added}");
    step(port, &buyer, "startMigration", &pop);
    let done = until(port, &buyer, &pop, "POP3 done", |t| {
        t["status"] == "COMPLETED"
    });
    assert_eq!(
        account(&done, "dave@old.test")["status"],
        "SUCCEEDED",
        "{done:#}"
    );
    // POP3 has no stable ids: an incremental re-run could copy mail twice, so it is refused.
    let rerun = "mutation($id: ID!) { rerunMigration(id: $id) { id } }";
    assert_eq!(
        refused(port, Some(&buyer), rerun, json!({"id": pop})).0,
        "VALIDATION"
    );
    let ids = |config: &Path, user: &str| {
        let out = doveadm(
            config,
            &[
                "-f",
                "tab",
                "fetch",
                "-u",
                user,
                "hdr.message-id",
                "mailbox",
                "INBOX",
                "all",
            ],
        );
        let mut ids: Vec<String> = out.lines().skip(1).map(|l| l.trim().to_owned()).collect();
        ids.sort();
        ids
    };
    let moved = ids(&new_config, &address(3));
    assert_eq!(moved.len(), 30, "{moved:?}");
    assert_eq!(moved, ids(&old.dir.join("dovecot.conf"), "dave@old.test"));
    moved
        .windows(2)
        .for_each(|w| assert_ne!(w[0], w[1], "a message arrived twice"));

    let log = stop(server);
    for secret in [
        ALICE_PASSWORD,
        "Old-Secret-bob-1",
        "Wrong-Password",
        "Old-Secret-dave-1",
    ] {
        assert!(!log.contains(secret), "a password reached the log");
    }
    drop(old);
    let _ = std::fs::remove_dir_all(&dir);
}
