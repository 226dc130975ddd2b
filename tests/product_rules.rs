//! The product's own rules, through the binary with a real Dovecot (issue 25): a disabled
//! member is locked out of the mail and let back in when enabled; the login the credentials
//! message names works; a deleted member's mailbox is given to another member with its
//! mail; dissolving lets go of the app, the mailboxes and their addresses.
//!
//! Needs dovecot-imapd and dnsmasq-base (.ci/run installs them).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eventstore::testkit::{fresh_database, TestDatabase};
use serde_json::{json, Value};
use support::imap::{inbox, login_until};
use support::*;

const PASSWORD: &str = "Zw-Passw0rd!9";
const OTHER_PASSWORD: &str = "Ln-Passw0rd!8";

/// A running product with its own Dovecot and DNS, an organization `acme` (trial, 10 seats,
/// the creator's phone given) and the verified domain acme.cn.
struct World {
    _db: TestDatabase,
    dir: PathBuf,
    _dovecot: DovecotProcess,
    dns: Dns,
    server: Server,
    imap: std::net::SocketAddr,
    buyer: String,
    org: String,
    domain: String,
}

impl World {
    async fn new(name: &str) -> World {
        let db = fresh_database().await;
        // Under /tmp, passable by Dovecot's `mail` user (the test may run as root).
        let dir = std::env::temp_dir().join(format!("mailplane-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let imap = free_addr();
        let dovecot = DovecotProcess::start(&dir.join("dovecot"), imap);
        let mut dns = Dns::new(&dir);
        dns.serve(&[]);
        let env = [(
            "MAILPLANE_DATAPLANE",
            format!("dovecot-external:{}", dir.join("dovecot").display()),
        )];
        let server = start_with(&db.url(), &dir, &dns, &env);
        let buyer = token("buyer-1", "account", None);
        let port = server.port;
        let market = token("orders", "service", Some("marketplace"));
        let provision = "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
        let input = json!({"buyerAccountId": "buyer-1", "orderId": format!("O-{name}"), "edition": "standard", "seats": 10, "trial": true});
        let sub = gql(port, &market, provision, json!({"input": input}))["provisionSubscription"]
            ["id"]
            .clone();
        let create = "mutation { createOrganization(input: {name: \"阿克米科技\", identifier: \"acme\", creatorPhone: \"13900139000\"}) { id } }";
        let org = gql(port, &buyer, create, json!({}))["createOrganization"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let bind =
            "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }";
        gql(port, &buyer, bind, json!({"s": sub, "o": org}));
        let mut world = World {
            _db: db,
            dir,
            _dovecot: dovecot,
            dns,
            server,
            imap,
            buyer,
            org,
            domain: String::new(),
        };
        world.domain = world.verified_domain("acme.cn");
        world
    }

    fn port(&self) -> u16 {
        self.server.port
    }

    fn gql(&self, query: &str, variables: Value) -> Value {
        gql(self.port(), &self.buyer, query, variables)
    }

    fn refused(&self, query: &str, variables: Value) -> (String, Option<String>) {
        refused(self.port(), Some(&self.buyer), query, variables)
    }

    fn verified_domain(&mut self, name: &str) -> String {
        let add = "mutation($o: ID!, $n: String!) { addDomain(organizationId: $o, name: $n, mode: FULL) { id records { type host value priority } } }";
        let d = self.gql(add, json!({"o": self.org, "n": name}))["addDomain"].clone();
        let lines = dns_lines(name, &d["records"]);
        self.dns
            .serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let verify = "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }";
        let verified = self.gql(verify, json!({"d": d["id"]}));
        assert_eq!(verified["verifyDomain"]["status"], "VERIFIED", "{verified}");
        d["id"].as_str().unwrap().to_owned()
    }

    /// An authorized member with this account, name, phone and password.
    fn member(&self, name: &str, account: &str, phone: &str, password: &str) -> String {
        let add = "mutation($input: AddMemberInput!) { addMember(input: $input) { id } }";
        let input = json!({"organizationId": self.org, "name": name, "account": account, "phone": phone, "password": password});
        let id = self.gql(add, json!({"input": input}))["addMember"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let authorize = "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }";
        self.gql(authorize, json!({"o": self.org, "m": [id]}));
        id
    }

    /// Opens the member's mailbox and waits until it is ACTIVE on Dovecot: its id.
    fn mailbox(&self, member: &str) -> String {
        let open = "mutation($m: ID!, $d: ID!) { openMailbox(memberId: $m, domainId: $d) { id } }";
        let id = self.gql(open, json!({"m": member, "d": self.domain}))["openMailbox"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.status_until(&id, "ACTIVE");
        id
    }

    /// Polls the mailbox until it has `status`.
    fn status_until(&self, mailbox: &str, status: &str) -> Value {
        let query = "query($o: ID!) { organization(id: $o) { mailboxes(first: 100) { nodes { id address status } } } }";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let nodes = self.gql(query, json!({"o": self.org}))["organization"]["mailboxes"]
                ["nodes"]
                .clone();
            if let Some(m) = nodes
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == mailbox && m["status"] == status)
            {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{mailbox} never became {status}: {nodes}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text messages written so far.
    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("sms.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits for a message to `to` whose text holds `part`: its text.
    fn message_until(&self, to: &str, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m["to"] == to && m["text"].as_str().unwrap().contains(part))
            {
                return m["text"].as_str().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no message to {to} with {part:?}: {:?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// No worker parked anything (an SMS outcome it could not record, say).
    fn nothing_parked(&self) {
        let operator = token("ops-1", "operator", None);
        let parked = gql(
            self.port(),
            &operator,
            "{ parkedEvents { consumer reason } }",
            json!({}),
        );
        assert_eq!(parked["parkedEvents"], json!([]), "{parked}");
    }

    fn dovecot_config(&self) -> PathBuf {
        self.dir.join("dovecot").join("dovecot.conf")
    }
}

/// Delivers one message into a mailbox with `doveadm save` (as LMTP would).
fn deliver(config: &Path, address: &str, subject: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(config)
        .args(["save", "-u", address])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text =
        format!("From: boss@acme.cn\r\nSubject: {subject}\r\n\r\nkept for whoever takes over\r\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_member_is_locked_out_and_the_login_the_message_names_works() {
    let w = World::new("rules-disable").await;
    let zw = w.member("张伟", "zw", "13800138000", PASSWORD);
    // The credentials message names a login that exists: the account at the organization.
    let credentials = w.message_until("13800138000", "账号名");
    assert!(
        credentials.contains("您的账号名：zw@acme，"),
        "{credentials}"
    );
    let mailbox = w.mailbox(&zw);
    // The member is told the address once the mailbox is ready.
    let opened = w.message_until("13800138000", "zhangwei@acme.cn");
    assert!(
        opened.contains("已为您开通企业邮箱：zhangwei@acme.cn"),
        "{opened}"
    );
    assert!(opened.contains("zw@acme"), "{opened}");
    assert!(
        !opened.contains(PASSWORD),
        "no password in the address message"
    );
    assert_eq!(inbox(w.imap, "zhangwei@acme.cn", PASSWORD).await, Ok(0));
    assert_eq!(inbox(w.imap, "zw@acme", PASSWORD).await, Ok(0));

    // Disabled: SUSPENDED, every login refused (address and account), the mail kept.
    deliver(&w.dovecot_config(), "zhangwei@acme.cn", "before leaving");
    let disable = "mutation($m: ID!) { disableMember(memberId: $m) { status mailbox { status } } }";
    assert_eq!(
        w.gql(disable, json!({"m": zw}))["disableMember"]["status"],
        "DISABLED"
    );
    w.status_until(&mailbox, "SUSPENDED");
    assert!(
        login_until(w.imap, "zhangwei@acme.cn", PASSWORD, |r| r.is_err())
            .await
            .is_err(),
        "a disabled member's IMAP login is refused"
    );
    assert!(inbox(w.imap, "zw@acme", PASSWORD).await.is_err());
    // Enabled again: the same mailbox, its mail, logins accepted.
    let enable = "mutation($m: ID!) { enableMember(memberId: $m) { status } }";
    w.gql(enable, json!({"m": zw}));
    w.status_until(&mailbox, "ACTIVE");
    assert_eq!(
        login_until(w.imap, "zhangwei@acme.cn", PASSWORD, |r| r.is_ok()).await,
        Ok(1),
        "enabled again, with the mail kept"
    );
    assert_eq!(inbox(w.imap, "zw@acme", PASSWORD).await, Ok(1));
    w.nothing_parked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_members_mailbox_is_given_to_another_member_with_its_mail() {
    let w = World::new("rules-reassign").await;
    let zw = w.member("张伟", "zw", "13800138000", PASSWORD);
    let mailbox = w.mailbox(&zw);
    deliver(&w.dovecot_config(), "zhangwei@acme.cn", "customer history");
    let leaver = "mutation($m: ID!) { disableMember(memberId: $m) { id } }";
    w.gql(leaver, json!({"m": zw}));
    w.gql(
        "mutation($m: ID!) { deleteMember(memberId: $m) { id } }",
        json!({"m": zw}),
    );
    w.status_until(&mailbox, "CLOSED");
    let ln = w.member("李娜", "ln", "13800138001", OTHER_PASSWORD);
    let reassign = "mutation($b: ID!, $m: ID!) { reassignMailbox(mailboxId: $b, memberId: $m) { id address status member { id } } }";
    // Bad inputs: a member who already holds a mailbox, one disabled, another tenant's,
    // a malformed id: each refused with its code, nothing changes.
    let busy = w.member("王芳", "wf", "13800138002", OTHER_PASSWORD);
    w.mailbox(&busy);
    assert_eq!(
        w.refused(reassign, json!({"b": mailbox, "m": busy})).0,
        "MEMBER_HAS_MAILBOX"
    );
    let idle = w.member("赵强", "zq", "13800138003", OTHER_PASSWORD);
    w.gql(leaver, json!({"m": idle}));
    assert_eq!(
        w.refused(reassign, json!({"b": mailbox, "m": idle})).0,
        "MEMBER_NOT_AUTHORIZED"
    );
    assert_eq!(
        w.refused(
            reassign,
            json!({"b": mailbox, "m": uuid::Uuid::now_v7().to_string()})
        )
        .0,
        "FORBIDDEN"
    );
    assert_eq!(
        w.refused(reassign, json!({"b": mailbox, "m": "not-an-id"})),
        ("VALIDATION".to_owned(), Some("memberId".to_owned()))
    );
    let given = w.gql(reassign, json!({"b": mailbox, "m": ln}))["reassignMailbox"].clone();
    assert_eq!(given["member"]["id"], ln);
    assert_eq!(given["address"], "zhangwei@acme.cn");
    w.status_until(&mailbox, "ACTIVE");
    // The new member logs in with their own password (and account) and reads the old mail.
    assert_eq!(
        login_until(w.imap, "zhangwei@acme.cn", OTHER_PASSWORD, |r| r.is_ok()).await,
        Ok(1)
    );
    assert_eq!(inbox(w.imap, "ln@acme", OTHER_PASSWORD).await, Ok(1));
    assert!(inbox(w.imap, "zhangwei@acme.cn", PASSWORD).await.is_err());
    assert!(inbox(w.imap, "zw@acme", PASSWORD).await.is_err());
    let told = w.message_until("13800138001", "zhangwei@acme.cn");
    assert!(told.contains("ln@acme"), "{told}");
    w.nothing_parked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dissolving_unbinds_the_app_and_frees_the_mailboxes_addresses_and_domain() {
    let mut w = World::new("rules-dissolve").await;
    let zw = w.member("张伟", "zw", "13800138000", PASSWORD);
    let mailbox = w.mailbox(&zw);
    deliver(&w.dovecot_config(), "zhangwei@acme.cn", "old company mail");
    w.gql(
        "mutation($m: ID!) { disableMember(memberId: $m) { id } }",
        json!({"m": zw}),
    );
    w.gql(
        "mutation($m: ID!) { deleteMember(memberId: $m) { id } }",
        json!({"m": zw}),
    );
    w.status_until(&mailbox, "CLOSED");
    let folder = w.dir.join("dovecot").join("mail").join(&mailbox);
    assert!(folder.exists());

    let ask =
        "mutation($o: ID!) { requestDissolutionCode(organizationId: $o) { sentTo expiresAt } }";
    let dissolve = "mutation($o: ID!, $c: String!, $i: String!) { dissolveOrganization(organizationId: $o, confirmIdentifier: $i, code: $c) { dissolved } }";
    // No code asked yet, then a wrong one, then the wrong identifier: refused, nothing done.
    assert_eq!(
        w.refused(dissolve, json!({"o": w.org, "c": "000000", "i": "acme"})),
        ("VALIDATION".to_owned(), Some("code".to_owned()))
    );
    let sent = w.gql(ask, json!({"o": w.org}))["requestDissolutionCode"].clone();
    assert_eq!(sent["sentTo"], "139****9000");
    let text = w.message_until("13900139000", "验证码");
    let code: String = text
        .split("验证码：")
        .nth(1)
        .unwrap()
        .chars()
        .take(6)
        .collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{text}");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        w.refused(dissolve, json!({"o": w.org, "c": wrong, "i": "acme"})),
        ("VALIDATION".to_owned(), Some("code".to_owned()))
    );
    assert_eq!(
        w.refused(dissolve, json!({"o": w.org, "c": code, "i": "other"})),
        (
            "VALIDATION".to_owned(),
            Some("confirmIdentifier".to_owned())
        )
    );
    assert!(folder.exists(), "refusals purge nothing");
    assert_eq!(
        w.gql(dissolve, json!({"o": w.org, "c": code, "i": "acme"}))["dissolveOrganization"]
            ["dissolved"],
        true
    );
    // The mailbox and its mail are deleted at once, not in 30 days.
    let deadline = Instant::now() + Duration::from_secs(60);
    while folder.exists() {
        assert!(
            Instant::now() < deadline,
            "the dissolved organization's mail is still there"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The same subscription binds a new organization; the same domain and address open
    // again, empty.
    let subs = w.gql(
        "{ subscriptions(first: 5) { nodes { id organization { id } } } }",
        json!({}),
    );
    let sub = subs["subscriptions"]["nodes"][0].clone();
    assert!(sub["organization"].is_null(), "unbound: {subs}");
    let create = "mutation { createOrganization(input: {name: \"阿克米新公司\", identifier: \"acme\", creatorPhone: \"13900139000\"}) { id } }";
    w.org = w.gql(create, json!({}))["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bind =
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }";
    w.gql(bind, json!({"s": sub["id"], "o": w.org}));
    let deadline = Instant::now() + Duration::from_secs(60);
    let domain = loop {
        let add = "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id records { type host value priority } } }";
        let (body, _) = call(w.port(), Some(&w.buyer), add, json!({"o": w.org}));
        if body.get("errors").is_none() {
            break body["data"]["addDomain"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "acme.cn was never released: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let lines = dns_lines("acme.cn", &domain["records"]);
    w.dns
        .serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let verify = "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }";
    assert_eq!(
        w.gql(verify, json!({"d": domain["id"]}))["verifyDomain"]["status"],
        "VERIFIED"
    );
    w.domain = domain["id"].as_str().unwrap().to_owned();
    let newcomer = w.member("张伟", "zw", "13800138000", OTHER_PASSWORD);
    let fresh = w.mailbox(&newcomer);
    let address = w.status_until(&fresh, "ACTIVE")["address"].clone();
    assert_eq!(address, "zhangwei@acme.cn", "the address is free again");
    assert_eq!(
        login_until(w.imap, "zhangwei@acme.cn", OTHER_PASSWORD, |r| r.is_ok()).await,
        Ok(0),
        "the new mailbox starts empty"
    );
    w.nothing_parked();
}
