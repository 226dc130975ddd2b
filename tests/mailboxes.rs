//! Mailboxes for real, through the binary: GraphQL → events → workers → a private Dovecot
//! on loopback, with DNS from dnsmasq and logins over IMAP. Authorize (credentials SMS
//! captured) → add a domain → publish its records → verify → open mailboxes (pinyin
//! addresses, a clash gets a digit) → log in with the member's password → close (login
//! fails) → restore (works) → purge (the mail folder is gone). Then the server is killed
//! in the middle of a batch of openings and restarted: every mailbox exists exactly once.
//!
//! Needs dovecot-imapd and dnsmasq-base (.ci/run installs them).

mod support;

use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use serde_json::{json, Value};
use support::imap::{inbox, login_until};
use support::*;

const PASSWORD: &str = "Zw-Passw0rd!9";
const NEW_PASSWORD: &str = "N3w-Passw0rd!7";

const MAILBOXES: &str = "query($o: ID!) { organization(id: $o) { mailboxes(first: 100) { nodes { id address status failure } } } }";

/// Polls until every mailbox of the organization has `status`; answers them.
fn mailboxes_until(port: u16, token: &str, org: &str, status: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let nodes = gql(port, token, MAILBOXES, json!({"o": org}))["organization"]["mailboxes"]
            ["nodes"]
            .as_array()
            .unwrap()
            .clone();
        let with: Vec<Value> = nodes
            .iter()
            .filter(|m| m["status"] == status)
            .cloned()
            .collect();
        if with.len() == count {
            return nodes;
        }
        assert!(
            Instant::now() < deadline,
            "mailboxes never became {status}: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls until every mailbox of the organization that is not purged is ACTIVE, twice in a
/// row half a second apart (nothing still arriving); answers them.
fn all_active(port: u16, token: &str, org: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = 0;
    loop {
        let nodes = gql(port, token, MAILBOXES, json!({"o": org}))["organization"]["mailboxes"]
            ["nodes"]
            .as_array()
            .unwrap()
            .clone();
        let waiting = nodes
            .iter()
            .filter(|m| m["status"] != "ACTIVE" && m["status"] != "PURGED")
            .count();
        settled = if waiting == 0 { settled + 1 } else { 0 };
        if settled == 2 {
            return nodes;
        }
        assert!(
            Instant::now() < deadline,
            "mailboxes never all became ACTIVE: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn add_member(port: u16, token: &str, org: &str, name: &str, account: &str, phone: &str) -> String {
    let add = "mutation($input: AddMemberInput!) { addMember(input: $input) { id } }";
    let input = json!({"organizationId": org, "name": name, "account": account, "phone": phone, "password": PASSWORD});
    gql(port, token, add, json!({"input": input}))["addMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn kill(mut server: Server) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGKILL);
    }
    let _ = server.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_are_real_mailboxes_on_dovecot() {
    let db = fresh_database().await;
    // Under /tmp, passable by Dovecot's `mail` user (the test may run as root).
    let dir = std::env::temp_dir().join(format!("mailplane-mailboxes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dovecot_dir = dir.join("dovecot");
    let imap = free_addr();
    let _dovecot = DovecotProcess::start(&dovecot_dir, imap);
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let env = [(
        "MAILPLANE_DATAPLANE",
        format!("dovecot-external:{}", dovecot_dir.display()),
    )];
    let server = start_with(&db.url(), &dir, &dns, &env);
    let port = server.port;

    let buyer = token("buyer-1", "account", None);
    let org = trial_organization(port, "CS-MAILBOXES-1", 50, "阿克米科技", "acme");

    // Two members called 张伟, authorized: each gets the credentials message.
    let first = add_member(port, &buyer, &org, "张伟", "zw", "13800138000");
    let second = add_member(port, &buyer, &org, "张伟", "zw2", "13800138001");
    let authorize = "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }";
    assert_eq!(
        gql(
            port,
            &buyer,
            authorize,
            json!({"o": org, "m": [first, second]})
        )["authorizeMembers"]["authorized"],
        2
    );
    let sms_file = dir.join("sms.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let messages: Vec<Value> = loop {
        let text = std::fs::read_to_string(&sms_file).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        messages.len(),
        2,
        "one message per authorized member: {messages:?}"
    );
    // Messages to different people go out side by side, in any order.
    let to_first = messages
        .iter()
        .find(|m| m["to"] == "13800138000")
        .expect("a message to the first member");
    assert!(messages.iter().any(|m| m["to"] == "13800138001"));
    assert_eq!(to_first["text"], format!("尊敬的张伟，您好。阿克米科技已为您开通企业邮箱应用。您的账号名：zw@acme，密码：{PASSWORD}。"));

    // The domain's records, published in the DNS server, verify it.
    let d = gql(port, &buyer, "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id records { type host value priority } } }", json!({"o": org}))["addDomain"].clone();
    let domain_id = d["id"].as_str().unwrap().to_owned();
    let lines = dns_lines("acme.cn", &d["records"]);
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let verified = gql(
        port,
        &buyer,
        "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }",
        json!({"d": domain_id}),
    );
    assert_eq!(verified["verifyDomain"]["status"], "VERIFIED", "{verified}");

    // Pinyin addresses, the clash numbered; provisioned on Dovecot by the worker.
    let open = "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d) { id address status } }";
    let opened = gql(
        port,
        &buyer,
        open,
        json!({"m": [first, second], "d": domain_id}),
    )["openMailboxes"]
        .clone();
    let addresses: Vec<&str> = opened
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["zhangwei@acme.cn", "zhangwei1@acme.cn"]);
    let mailbox = opened[0]["id"].as_str().unwrap().to_owned();
    mailboxes_until(port, &buyer, &org, "ACTIVE", 2);
    assert_eq!(
        inbox(imap, "zhangwei@acme.cn", PASSWORD).await,
        Ok(0),
        "the member's password opens the mailbox"
    );
    assert_eq!(inbox(imap, "zhangwei1@acme.cn", PASSWORD).await, Ok(0));
    assert!(inbox(imap, "zhangwei@acme.cn", "Wrong-Passw0rd")
        .await
        .is_err());

    // Close → no login; restore → login; close and purge → the mail folder is gone.
    let act = |name: &str| format!("mutation($b: ID!) {{ {name}(mailboxId: $b) {{ status }} }}");
    assert_eq!(
        gql(port, &buyer, &act("closeMailbox"), json!({"b": mailbox}))["closeMailbox"]["status"],
        "CLOSED"
    );
    assert!(
        login_until(imap, "zhangwei@acme.cn", PASSWORD, |r| r.is_err())
            .await
            .is_err(),
        "a closed mailbox refuses logins"
    );
    assert_eq!(
        gql(port, &buyer, &act("restoreMailbox"), json!({"b": mailbox}))["restoreMailbox"]
            ["status"],
        "ACTIVE"
    );
    assert_eq!(
        login_until(imap, "zhangwei@acme.cn", PASSWORD, |r| r.is_ok()).await,
        Ok(0),
        "a restored mailbox works again"
    );
    let folder = dovecot_dir.join("mail").join(&mailbox);
    assert!(folder.exists(), "mail lives under the mailbox id");
    gql(port, &buyer, &act("closeMailbox"), json!({"b": mailbox}));
    assert_eq!(
        gql(port, &buyer, &act("purgeMailbox"), json!({"b": mailbox}))["purgeMailbox"]["status"],
        "PURGED"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while folder.exists() {
        assert!(
            Instant::now() < deadline,
            "the purged mailbox's folder is still there"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        login_until(imap, "zhangwei@acme.cn", PASSWORD, |r| r.is_err())
            .await
            .is_err()
    );

    // A new password: sent by SMS, and the mailbox takes it.
    let reset =
        "mutation($m: ID!, $p: String!) { resetMemberPassword(memberId: $m, password: $p) { id } }";
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            reset,
            json!({"m": second, "p": "short"})
        )
        .0,
        "VALIDATION"
    );
    gql(port, &buyer, reset, json!({"m": second, "p": NEW_PASSWORD}));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&sms_file)
        .unwrap()
        .contains(NEW_PASSWORD)
    {
        assert!(
            Instant::now() < deadline,
            "no message with the new password"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        login_until(imap, "zhangwei1@acme.cn", NEW_PASSWORD, |r| r.is_ok()).await,
        Ok(0),
        "the new password opens the mailbox"
    );
    assert!(inbox(imap, "zhangwei1@acme.cn", PASSWORD).await.is_err());

    // Twenty-four more members, opened in one batch; the server is killed while the data
    // plane worker is in the middle of them, and started again.
    let mut batch = Vec::new();
    for i in 0..24 {
        batch.push(add_member(
            port,
            &buyer,
            &org,
            &format!("李娜{i}"),
            &format!("ln{i}"),
            &format!("1390000{i:04}"),
        ));
    }
    gql(port, &buyer, authorize, json!({"o": org, "m": batch}));
    // The batch is sent from another thread; its answer may never come.
    let sender = {
        let (buyer, batch, domain_id) = (buyer.clone(), batch.clone(), domain_id.clone());
        std::thread::spawn(move || {
            let _ = ureq::post(&format!("http://127.0.0.1:{port}/graphql"))
                .set("Authorization", &format!("Bearer {buyer}"))
                .send_json(json!({"query": open, "variables": {"m": batch, "d": domain_id}}));
        })
    };
    let users_file = dovecot_dir.join("users");
    let deadline = Instant::now() + Duration::from_secs(30);
    let done_at_kill = loop {
        let n = std::fs::read_to_string(&users_file)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("/mail/"))
            .count();
        if n >= 13 {
            break n - 1;
        }
        assert!(
            Instant::now() < deadline,
            "no mailbox of the batch was provisioned"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    kill(server);
    let _ = sender.join();
    eprintln!("killed after {done_at_kill} of 24 mailboxes were provisioned");
    let server = start_with(&db.url(), &dir, &dns, &env);
    // However far the batch got before the kill, every mailbox it opened becomes ACTIVE.
    let all = all_active(server.port, &buyer, &org);
    let active = all.iter().filter(|m| m["status"] == "ACTIVE").count();
    eprintln!(
        "{} of 24 mailboxes of the batch were opened before the kill",
        active - 1
    );
    assert!(
        active > done_at_kill,
        "the batch was opened at least as far as provisioned"
    );
    let users = std::fs::read_to_string(dovecot_dir.join("users")).unwrap();
    // A line per mailbox (its home holds its id) and one per second login name.
    let homes = users.lines().filter(|l| l.contains("/mail/")).count();
    assert_eq!(homes, active, "{users}");
    for m in all.iter().filter(|m| m["status"] == "ACTIVE") {
        let id = m["id"].as_str().unwrap();
        assert_eq!(users.matches(id).count(), 1, "mailbox {id} exists once");
    }
    let pool = db.pool(2).await;
    let provisioned: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'MailboxProvisioned' GROUP BY stream_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(provisioned.len(), active + 1, "every mailbox ever opened");
    assert!(
        provisioned.iter().all(|n| *n == 1),
        "each mailbox provisioned once: {provisioned:?}"
    );
    assert_eq!(
        login_until(imap, "lina0@acme.cn", PASSWORD, |r| r.is_ok()).await,
        Ok(0)
    );
    let log = stop(server);
    assert!(!log.contains(PASSWORD), "no password in the server's log");
    let _ = std::fs::remove_dir_all(&dir);
}
