//! Erasing a person, through the binary: members added, authorized, given mailboxes on a
//! private Dovecot; one is edited, disabled, deleted and erased by the manager, another by an
//! operator on the person's request. Then every
//! projection is rebuilt, and the person's name, account, phone, e-mail and mailbox address
//! are found nowhere: not in any table (the log's raw rows, the read models, the webhook
//! deliveries, the idempotency answers…), not in the decoded events, not in the feed (as
//! billing or as an operator), not in what the webhook endpoint received, not in the server's
//! log. The other members are intact, and the rebuilt tables equal the live ones.
//!
//! Bad inputs tried: erasing a member that is not deleted (`MEMBER_NOT_DELETED`), another
//! organization's member and a billing service (`FORBIDDEN`), a malformed id
//! (`VALIDATION`); none of them writes an event, and erasing twice writes nothing more.
//!
//! Needs dovecot-imapd and dnsmasq-base (.ci/run installs them).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use eventstore::{EventStore, Position};
use projections::Projection;
use serde_json::{json, Value};
use support::*;

const PASSWORD: &str = "Zw-Passw0rd!9";
const SECRET_KEY: &str = "25983c6870b010a6dbf9555b12b92b22b9baf64fc1c2ccb1a3266c2dcafd35f0";

/// What identifies the people who are erased: one by the manager, one by an operator on
/// the person's request.
const PERSON: [&str; 9] = [
    "欧阳娜娜",
    "ouyangnn",
    "13912345678",
    "nana.private@example.org",
    "nana.new@example.org",
    "ouyangnana@erase.cn",
    "王小五",
    "wangxw",
    "13700000003",
];
/// The other members, who stay.
const OTHERS: [&str; 4] = ["李雷", "lilei", "韩梅梅", "hanmeimei@erase.cn"];

/// A webhook endpoint on loopback: answers 200 to every POST and keeps the bodies.
fn webhook_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

fn add_member(port: u16, token: &str, org: &str, fields: Value) -> String {
    let add = "mutation($input: AddMemberInput!) { addMember(input: $input) { id } }";
    let mut input = json!({"organizationId": org, "password": PASSWORD});
    input
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    gql(port, token, add, json!({"input": input, }))["addMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every event of the feed, as `token` sees it.
fn feed(port: u16, token: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = String::new();
    loop {
        let page: Value = ureq::get(&format!(
            "http://127.0.0.1:{port}/events?limit=1000&after={after}"
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return events;
        }
        events.extend(got);
        after = page["next"].as_str().unwrap().to_owned();
    }
}

/// Every table of the database as text, by name.
async fn every_table(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let text: String = sqlx::query_scalar(&format!(
            "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((table, text));
    }
    out
}

/// The read models, row by row, to compare live with rebuilt.
async fn read_models(pool: &sqlx::PgPool) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for p in Projection::ALL {
        for table in p.tables() {
            let rows: Value = sqlx::query_scalar(&format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
            ))
            .fetch_one(pool)
            .await
            .unwrap();
            out.push((table.to_string(), rows));
        }
    }
    out
}

fn assert_absent(place: &str, text: &str) {
    for needle in PERSON {
        assert!(
            !text.contains(needle),
            "{needle} is still in {place}: …{}…",
            around(text, needle)
        );
    }
}

fn around<'a>(text: &'a str, needle: &str) -> &'a str {
    let at = text.find(needle).unwrap_or(0);
    let start = text.floor_char_boundary(at.saturating_sub(200));
    let end = text.ceil_char_boundary((at + 200).min(text.len()));
    &text[start..end]
}

async fn event_count(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_member_is_found_nowhere_and_the_others_stay() {
    let db = fresh_database().await;
    let pool = db.pool(4).await;
    let dir = std::env::temp_dir().join(format!("mailplane-erasure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dovecot_dir = dir.join("dovecot");
    let imap = free_addr();
    let _dovecot = DovecotProcess::start(&dovecot_dir, imap);
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let (hook_port, received) = webhook_receiver();
    let env = [
        (
            "MAILPLANE_DATAPLANE",
            format!("dovecot-external:{}", dovecot_dir.display()),
        ),
        ("MAILPLANE_SECRET_KEY", SECRET_KEY.to_owned()),
        ("MAILPLANE_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
    ];
    let server = start_with(&db.url(), &dir, &dns, &env);
    let port = server.port;

    let buyer = token("buyer-1", "account", None);
    let stranger = token("buyer-2", "account", None);
    let billing = token("billing", "service", Some("billing"));
    let operator = token("ops-1", "operator", None);
    gql(
        port,
        &operator,
        "mutation($u: String!) { registerWebhook(url: $u) { id } }",
        json!({"u": format!("http://127.0.0.1:{hook_port}/hook")}),
    );

    let org = trial_organization(port, "CS-ERASURE-1", 10, "擦除科技", "erase");

    let person = add_member(
        port,
        &buyer,
        &org,
        json!({"name": PERSON[0], "account": PERSON[1], "phone": PERSON[2], "email": PERSON[3]}),
    );
    let lilei = add_member(
        port,
        &buyer,
        &org,
        json!({"name": OTHERS[0], "account": OTHERS[1], "phone": "13800000001"}),
    );
    let hanmeimei = add_member(
        port,
        &buyer,
        &org,
        json!({"name": OTHERS[2], "account": "hanmm", "phone": "13800000002", "email": "han@example.org"}),
    );
    let wang = add_member(
        port,
        &buyer,
        &org,
        json!({"name": PERSON[6], "account": PERSON[7], "phone": PERSON[8]}),
    );
    let members = [&person, &lilei, &hanmeimei];
    gql(
        port,
        &buyer,
        "mutation($m: ID!) { updateMember(memberId: $m, input: {email: \"nana.new@example.org\"}) { id } }",
        json!({"m": person}),
    );
    let authorize = "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }";
    gql(port, &buyer, authorize, json!({"o": org, "m": members}));

    let d = gql(port, &buyer, "mutation($o: ID!) { addDomain(organizationId: $o, name: \"erase.cn\", mode: FULL) { id records { type host value priority } } }", json!({"o": org}))["addDomain"].clone();
    let domain_id = d["id"].as_str().unwrap().to_owned();
    let lines = dns_lines("erase.cn", &d["records"]);
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    gql(
        port,
        &buyer,
        "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }",
        json!({"d": domain_id}),
    );
    let open = "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d) { id address } }";
    let opened =
        gql(port, &buyer, open, json!({"m": members, "d": domain_id}))["openMailboxes"].clone();
    let address = |i: usize| opened[i]["address"].as_str().unwrap().to_owned();
    assert_eq!([address(0), address(2)], [PERSON[5], OTHERS[3]], "{opened}");
    let mailbox = opened[0]["id"].as_str().unwrap().to_owned();
    let status = "query($o: ID!) { organization(id: $o) { mailboxes(first: 10) { nodes { address status } } } }";
    let statuses = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let nodes = gql(port, &buyer, status, json!({"o": org}))["organization"]["mailboxes"]
                ["nodes"]
                .clone();
            let kinds: Vec<&str> = nodes
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["status"].as_str().unwrap())
                .collect();
            if kinds.iter().filter(|s| **s == want).count() >= 1
                && kinds.iter().all(|s| *s == want || *s == "ACTIVE")
            {
                return nodes;
            }
            assert!(Instant::now() < deadline, "never {want}: {nodes}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    statuses("ACTIVE");

    // Not deleted yet: erasing is refused and writes nothing.
    let erase =
        "mutation($m: ID!) { eraseMember(memberId: $m) { id name account phone email status } }";
    let before = event_count(&pool).await;
    assert_eq!(
        refused(port, Some(&buyer), erase, json!({"m": person})).0,
        "MEMBER_NOT_DELETED"
    );
    let act = |op: &str, arg: &str, id: &str| {
        gql(
            port,
            &buyer,
            &format!("mutation($i: ID!) {{ {op}({arg}: $i) {{ id }} }}"),
            json!({"i": id}),
        )
    };
    act("closeMailbox", "mailboxId", &mailbox);
    act("disableMember", "memberId", &person);
    act("deleteMember", "memberId", &person);
    let before_erasure = event_count(&pool).await;
    assert!(before_erasure > before);
    let refusals = [
        (&stranger, json!({"m": person}), "FORBIDDEN"),
        (&buyer, json!({"m": "not-an-id"}), "VALIDATION"),
        (&billing, json!({"m": person}), "FORBIDDEN"),
    ];
    for (who, args, code) in refusals {
        assert_eq!(refused(port, Some(who), erase, args).0, code);
    }
    assert_eq!(event_count(&pool).await, before_erasure, "refusals wrote");

    let erased = gql(port, &buyer, erase, json!({"m": person}))["eraseMember"].clone();
    assert_eq!(
        erased,
        json!({"id": person, "name": "[erased]", "account": "[erased]", "phone": "[erased]", "email": "[erased]", "status": "DELETED"})
    );
    let after_erasure = event_count(&pool).await;
    let again = gql(port, &buyer, erase, json!({"m": person}))["eraseMember"].clone();
    assert_eq!(again, erased, "erasing twice is erasing once");
    assert_eq!(event_count(&pool).await, after_erasure);
    // An operator carries out another person's request, in an organization not theirs.
    act("disableMember", "memberId", &wang);
    act("deleteMember", "memberId", &wang);
    let by_operator = gql(port, &operator, erase, json!({"m": wang}))["eraseMember"].clone();
    assert_eq!(by_operator["name"], "[erased]");
    // The mailbox in the recycle bin is purged with the person.
    statuses("PURGED");

    // Webhook deliveries catch up with the published feed.
    let published = feed(port, &billing);
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.lock().unwrap().len() < published.len() {
        assert!(
            Instant::now() < deadline,
            "webhook deliveries never caught up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(published.iter().any(|e| e["type"] == "MemberErased"));
    assert_absent(
        "the billing feed",
        &serde_json::to_string(&published).unwrap(),
    );
    assert_absent("webhook bodies", &received.lock().unwrap().join("\n"));
    let internal = serde_json::to_string(&feed(port, &operator)).unwrap();
    assert_absent("the operator feed", &internal);
    for other in OTHERS {
        assert!(internal.contains(other), "{other} lost from the log");
    }
    let others = gql(
        port,
        &buyer,
        "query($o: ID!) { organization(id: $o) { members(first: 10) { nodes { name account mailbox { address status } } } } }",
        json!({"o": org}),
    )["organization"]["members"]["nodes"]
        .clone();
    assert_eq!(
        others,
        json!([
            {"name": "李雷", "account": "lilei", "mailbox": {"address": "lilei@erase.cn", "status": "ACTIVE"}},
            {"name": "韩梅梅", "account": "hanmm", "mailbox": {"address": "hanmeimei@erase.cn", "status": "ACTIVE"}},
        ])
    );
    let log = stop(server);

    // Rebuilt from the log, the read models are the live ones.
    let live = read_models(&pool).await;
    let out = mailplane()
        .args(["projections", "rebuild"])
        .env("DATABASE_URL", db.url())
        .env("MAILPLANE_DATA_DIR", &dir)
        .env("MAILPLANE_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rebuilt = read_models(&pool).await;
    for ((table, a), (_, b)) in live.iter().zip(&rebuilt) {
        assert_eq!(a, b, "{table} rebuilt differs from live");
    }

    for (table, text) in every_table(&pool).await {
        assert_absent(&format!("table {table}"), &text);
    }
    let store = EventStore::new(pool.clone()).with_keyring(
        app::secrets::SecretStore::new(pool.clone(), SECRET_KEY)
            .unwrap()
            .personal_keyring(),
    );
    let decoded = store.read_all(Position::START, 10_000).await.unwrap();
    let decoded: Vec<(String, &Value)> = decoded
        .iter()
        .map(|e| (e.event_type.clone(), &e.data))
        .collect();
    let decoded = serde_json::to_string(&decoded).unwrap();
    assert_absent("the decoded events", &decoded);
    assert!(decoded.contains("[erased]"));
    for reason in ["BY_MANAGER", "PERSONS_REQUEST"] {
        assert!(decoded.contains(reason), "no erasure {reason}");
    }
    for other in OTHERS {
        assert!(decoded.contains(other), "{other} lost from the decoded log");
    }
    assert_absent("the server's log", &log);
    assert_absent(
        "the rebuild's output",
        &format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
}
