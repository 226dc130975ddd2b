//! The admin console through the real binary: in Debian's chromium driven over WebDriver
//! (chromium-driver), and as plain HTTP for what a browser would never send (another
//! organization's URLs, forms without their CSRF token, a sign-in link used twice).
//!
//! Bad inputs tried here: an organization identifier starting with '-', a member with a
//! malformed phone (the sentence appears beside the field, nothing is written), a taken
//! account, an import line whose phone is taken, empty / non-UTF-8 / header-less / 3 MiB
//! import files, a form posted without or with another session's CSRF token, every page
//! and form of another organization and another buyer's subscription, another
//! organization's member and domain ids through one's own organization's URLs, an unknown
//! and a malformed organization id, a used, a forged and a service sign-in token, a
//! signed-out cookie.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::console_http::*;
use support::*;

const PROVISION: &str =
    "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
const CREATE_ORG: &str = "mutation($name: String!, $identifier: String!) { createOrganization(input: {name: $name, identifier: $identifier}) { id } }";
const BIND: &str =
    "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }";

/// A buyer with a bound trial of `seats` seats: answers the subscription's and the
/// organization's ids.
fn bound_organization(port: u16, buyer: &str, identifier: &str, seats: u32) -> (String, String) {
    let market = token("orders", "service", Some("marketplace"));
    let sub = gql(
        port,
        &market,
        PROVISION,
        json!({"input": {"buyerAccountId": buyer, "orderId": format!("order-{identifier}"), "edition": "standard", "seats": seats, "trial": true}}),
    )["provisionSubscription"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = token(buyer, "account", None);
    let org = gql(
        port,
        &account,
        CREATE_ORG,
        json!({"name": format!("{identifier} 公司"), "identifier": identifier}),
    )["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gql(port, &account, BIND, json!({"s": sub, "o": org}));
    (sub, org)
}

fn members_named(port: u16, admin: &str, org: &str) -> Vec<String> {
    let q = "query($id: ID!) { organization(id: $id) { members(first: 100) { edges { node { name } } } } }";
    let data = gql(port, &token(admin, "account", None), q, json!({"id": org}));
    data["organization"]["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_organizations_admin_and_forged_forms_are_refused_and_write_nothing() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-console-access-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dns = Dns::new(&dir);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    let (sub_a, first) = bound_organization(port, "buyer-a", "alpha", 5);
    let (_, second) = bound_organization(port, "buyer-b", "bravo", 5);
    let base = format!("http://127.0.0.1:{port}/console");

    // Without a session every page is the sign-in page (401) and no form is taken.
    let (code, page, _) = status(agent().get(&format!("{base}/organizations/{first}")).call());
    assert_eq!(code, 401);
    assert!(!page.contains("alpha"));

    // A link works once, confirmed by a POST from its own page; a forged or a service
    // token never, nor an account's API token.
    let link = console_link(port, "buyer-a");
    let opened = agent().get(&link).call().unwrap();
    assert_eq!(
        opened.header("referrer-policy"),
        Some("no-referrer"),
        "a page at a token URL hands its address to no one"
    );
    assert_eq!(opened.header("x-content-type-options"), Some("nosniff"));
    let (code, page, _) = status(Ok(opened));
    assert_eq!(code, 200, "opening a link signs no one in: {page}");
    assert!(page.contains("buyer-a"), "it says whose link it is");
    assert_eq!(confirm_link(port, &link).0, 303);
    assert_eq!(confirm_link(port, &link).0, 401, "a used link");
    for spelling in [
        format!("{link}%20"),
        format!("{link}%09"),
        format!("{link}%0A"),
    ] {
        assert_eq!(confirm_link(port, &spelling).0, 401, "{spelling:?}");
    }
    let (code, _, _) = status(agent().post(&format!("{base}/login")).send_form(&[
        ("token", link.split("token=").nth(1).unwrap()),
        ("nonce", "x"),
    ]));
    assert_eq!(code, 403, "a POST not from the link's page (login CSRF)");
    let sign_in_token = console_link(port, "buyer-a")
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        refused(port, Some(&sign_in_token), "{ me { kind } }", json!({})).0,
        "UNAUTHENTICATED",
        "a sign-in link calls no API"
    );
    let api_token = token("buyer-a", "account", None);
    assert_eq!(
        status(
            agent()
                .get(&format!("{base}/login?token={api_token}"))
                .call()
        )
        .0,
        403,
        "an API token is no sign-in link"
    );
    let long = mailplane()
        .args(["console-link", "--sub", "buyer-a", "--ttl", "23h"])
        .output()
        .unwrap();
    assert!(
        !long.status.success(),
        "a sign-in link lives 15 minutes at most"
    );
    assert_eq!(
        status(
            agent()
                .get(&format!("{base}/login?token=forged.token.here"))
                .call()
        )
        .0,
        401
    );
    let service = token("orders", "service", Some("marketplace"));
    assert_eq!(
        status(agent().get(&format!("{base}/login?token={service}")).call()).0,
        403
    );

    let (cookie_a, csrf_a) = sign_in(port, "buyer-a");
    let (cookie_b, csrf_b) = sign_in(port, "buyer-b");
    // B's home lists only B's organization.
    let (_, home_b, _) = status(agent().get(&base).set("Cookie", &cookie_b).call());
    assert!(home_b.contains(&second) && !home_b.contains(&first));

    // B on every console URL of A: pages and forms are FORBIDDEN, nothing of A is shown.
    let some_id = uuid::Uuid::now_v7();
    for path in [
        format!("/organizations/{first}"),
        format!("/organizations/{first}?q=a"),
        format!("/organizations/{first}/members/{some_id}"),
        format!("/organizations/{first}/import"),
        format!("/organizations/{first}/import/template.csv"),
        format!("/organizations/{first}/jobs/{some_id}/progress"),
        format!("/organizations/{first}/jobs/{some_id}/report.csv"),
        format!("/organizations/{first}/domains"),
        format!("/organizations/{first}/mailboxes"),
        format!("/organizations/{first}/mailboxes/progress"),
        format!("/organizations/{first}/recycle_bin"),
        format!("/organizations/{first}/audit_log?operation=MemberAdded"),
        format!("/organizations/{first}/settings"),
        format!("/subscriptions/{sub_a}"),
        format!("/subscriptions/{sub_a}?quote=expand&seats=5"),
    ] {
        let (code, page, _) = status(
            agent()
                .get(&format!("{base}{path}"))
                .set("Cookie", &cookie_b)
                .call(),
        );
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains("alpha 公司"));
    }
    for (path, form) in [
        (
            "members",
            vec![
                ("name", "潜入者"),
                ("account", "spy"),
                ("password", "Zw-Passw0rd!9"),
            ],
        ),
        ("departments", vec![("name", "潜入部")]),
        (
            "members/bulk",
            vec![("action", "authorize"), ("all_matching", "yes")],
        ),
        (
            "members/bulk",
            vec![("action", "delete"), ("all_matching", "yes")],
        ),
        (
            "domains",
            vec![("action", "add"), ("name", "alpha-evil.cn")],
        ),
        (
            "mailboxes",
            vec![
                ("action", "close"),
                ("mailbox", "00000000-0000-0000-0000-000000000000"),
            ],
        ),
        (
            "settings",
            vec![("action", "dissolve"), ("confirm", "alpha")],
        ),
        (
            "settings",
            vec![
                ("action", "invite"),
                ("name", "间谍"),
                ("phone", "13900139999"),
                ("email", "spy@example.com"),
                ("hours", "24"),
            ],
        ),
        (
            "import",
            vec![("csv", "员工姓名,账号,密码\n潜入者,spy,Zw-Passw0rd!9\n")],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf_b));
        let (code, _, _) = status(
            agent()
                .post(&format!("{base}/organizations/{first}/{path}"))
                .set("Cookie", &cookie_b)
                .send_form(&form),
        );
        assert_eq!(code, 403, "{path}");
    }
    // An invitation link with a forged token makes no one an admin.
    let (code, _, _) = status(
        agent()
            .post(&format!("http://127.0.0.1:{port}/invitations/{some_id}"))
            .set("Cookie", &cookie_b)
            .send_form(&[("csrf", csrf_b.as_str()), ("token", "forged")]),
    );
    assert_eq!(code, 405, "the SMS link only leads to the console");
    let (code, page, _) = status(
        agent()
            .post(&format!("{base}/invitations/{some_id}"))
            .set("Cookie", &cookie_b)
            .send_form(&[("csrf", csrf_b.as_str()), ("token", "forged")]),
    );
    assert!((400..500).contains(&code), "{code} {page}");
    // A cookie-less 4 MiB form is refused on its headers, never read; a signed-in form
    // of more than 2,000 fields is refused, not decoded.
    let answer = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let size = 4 * 1024 * 1024;
        let head = format!(
            "POST /console/organizations/{first}/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The server may answer and hang up before the body is through (that is the
        // point): the body goes from another thread while this one reads the answer.
        let mut writer = stream.try_clone().unwrap();
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all("a=1&".repeat(size / 4).as_bytes());
        });
        let mut answer = [0u8; 64];
        let n = stream.read(&mut answer).unwrap_or(0);
        drop(stream);
        let _ = sending.join();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let many = format!("csrf={csrf_b}&{}", "member=x&".repeat(2_001));
    let (code, _, _) = status(
        agent()
            .post(&format!("{base}/organizations/{first}/members/bulk"))
            .set("Cookie", &cookie_b)
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_bytes(many.as_bytes()),
    );
    assert_eq!(code, 413);
    // An "invitation" whose id is a path renders no form that would post the CSRF token to
    // it, and the SMS link leads nowhere else.
    let traversal = "..%2F..%2Fconsole%2Flogout";
    let (code, page, _) = status(
        agent()
            .get(&format!("{base}/invitations/{traversal}?token=x"))
            .set("Cookie", &cookie_b)
            .call(),
    );
    assert_eq!(code, 404, "{page}");
    assert!(!page.contains(&csrf_b), "the CSRF token is on no such page");
    let (code, _, _) = status(
        agent()
            .get(&format!(
                "http://127.0.0.1:{port}/invitations/{traversal}?token=x"
            ))
            .call(),
    );
    assert_eq!(code, 404);
    // Another buyer's subscription: no price, no unsubscribing, no binding to B's organization.
    for form in [
        vec![("action", "unsubscribe")],
        vec![("action", "expand"), ("seats", "5")],
        vec![("action", "bind"), ("organization", second.as_str())],
    ] {
        let mut form = form;
        form.push(("csrf", &csrf_b));
        let (code, _, _) = status(
            agent()
                .post(&format!("{base}/subscriptions/{sub_a}"))
                .set("Cookie", &cookie_b)
                .send_form(&form),
        );
        assert_eq!(code, 403);
    }
    // The upload, as multipart, to A's organization.
    let body = format!(
        "--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf_b}\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.csv\"\r\nContent-Type: text/csv\r\n\r\n员工姓名,账号,密码\n潜入者,spy,Zw-Passw0rd!9\n\r\n--x--\r\n"
    );
    let (code, page, _) = status(
        agent()
            .post(&format!("{base}/organizations/{first}/import/preview"))
            .set("Cookie", &cookie_b)
            .set("Content-Type", "multipart/form-data; boundary=x")
            .send_string(&body),
    );
    assert_eq!(code, 403, "{page}");
    // Unknown and malformed ids tell nothing.
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(
        status(
            agent()
                .get(&format!("{base}/organizations/{unknown}"))
                .set("Cookie", &cookie_b)
                .call()
        )
        .0,
        403
    );
    assert_eq!(
        status(
            agent()
                .get(&format!("{base}/organizations/not-an-id"))
                .set("Cookie", &cookie_b)
                .call()
        )
        .0,
        404
    );

    // A's own form without its CSRF token, or with B's: refused, nothing written.
    let member = [
        ("name", "张三"),
        ("account", "zhangsan"),
        ("phone", "13900139000"),
        ("password", "Zw-Passw0rd!9"),
    ];
    for csrf in [None, Some(csrf_b.as_str()), Some("")] {
        let mut form = member.to_vec();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let (code, _, _) = status(
            agent()
                .post(&format!("{base}/organizations/{first}/members"))
                .set("Cookie", &cookie_a)
                .send_form(&form),
        );
        assert_eq!(code, 403);
    }
    assert!(members_named(port, "buyer-a", &first).is_empty());
    // Nothing B tried was written: A's organization still has no domain, invitation or
    // import, its subscription is still a trial with its seats.
    let q = "query($o: ID!) { organization(id: $o) { identifier domains { name } invitations { id } } }";
    let a = gql(
        port,
        &token("buyer-a", "account", None),
        q,
        json!({"o": first}),
    );
    assert_eq!(a["organization"]["identifier"], "alpha");
    assert_eq!(a["organization"]["domains"], json!([]));
    assert_eq!(a["organization"]["invitations"], json!([]));
    // With its token the same form writes.
    let mut form = member.to_vec();
    form.push(("csrf", &csrf_a));
    let (code, _, _) = status(
        agent()
            .post(&format!("{base}/organizations/{first}/members"))
            .set("Cookie", &cookie_a)
            .send_form(&form),
    );
    assert_eq!(code, 303);
    assert_eq!(members_named(port, "buyer-a", &first), ["张三"]);

    // A's ids through B's own organization's URLs: A's member is not found there, A's domain
    // is refused by the operation's own check; nothing changes.
    let a = token("buyer-a", "account", None);
    let q =
        "query($id: ID!) { organization(id: $id) { members(first: 1) { edges { node { id } } } } }";
    let member_a = gql(port, &a, q, json!({"id": first}))["organization"]["members"]["edges"][0]
        ["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = "mutation($o: ID!) { addDomain(organizationId: $o, name: \"alpha.cn\", mode: FULL) { id } }";
    let domain_a = gql(port, &a, add, json!({"o": first}))["addDomain"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _) = get(
        port,
        &cookie_b,
        &format!("/console/organizations/{second}/members/{member_a}"),
    );
    assert_eq!(code, 404);
    for (path, form) in [
        (format!("members/{member_a}"), vec![("action", "disable")]),
        (
            format!("members/{member_a}"),
            vec![("action", "password"), ("password", "Hj-Passw0rd!9")],
        ),
        (
            "members/bulk".to_owned(),
            vec![("action", "disable"), ("member", member_a.as_str())],
        ),
        (
            "domains".to_owned(),
            vec![("action", "remove"), ("domain", domain_a.as_str())],
        ),
        (
            "domains".to_owned(),
            vec![("action", "verify"), ("domain", domain_a.as_str())],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf_b));
        let (code, page, _) = status(
            agent()
                .post(&format!("{base}/organizations/{second}/{path}"))
                .set("Cookie", &cookie_b)
                .send_form(&form),
        );
        assert!(code == 403 || code == 404, "{path}: {code} {page}");
    }
    let q = "query($id: ID!) { organization(id: $id) { members(first: 5) { edges { node { status } } } domains { id status } } }";
    let after = gql(port, &a, q, json!({"id": first}));
    assert_eq!(
        after["organization"]["members"]["edges"][0]["node"]["status"],
        "ACTIVE"
    );
    assert_eq!(after["organization"]["domains"][0]["id"], domain_a.as_str());
    assert_eq!(
        after["organization"]["domains"][0]["status"], "PENDING",
        "never checked"
    );
    assert!(members_named(port, "buyer-b", &second).is_empty());

    // Signing out ends the session server-side: the old cookie opens nothing.
    let (code, _, _) = status(
        agent()
            .post(&format!("{base}/logout"))
            .set("Cookie", &cookie_a)
            .send_form(&[("csrf", &csrf_a)]),
    );
    assert_eq!(code, 303);
    let (code, _, _) = status(
        agent()
            .get(&format!("{base}/organizations/{first}"))
            .set("Cookie", &cookie_a)
            .call(),
    );
    assert_eq!(code, 401);
    let log = stop(server);
    assert!(!log.contains("Zw-Passw0rd!9"));
}

/// chromedriver on a free port, or the reason it cannot run.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Result<Driver, String> {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("chromedriver is not installed (apt-get install chromium chromium-driver)")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("chromedriver did not start: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("chromedriver did not listen".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Driver { child, port })
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=zh-CN",
                     format!("--user-data-dir={}", profile.display())],
            "prefs": {"intl.accept_languages": "zh-CN,zh"}
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("chromium did not start under chromedriver")
}

async fn screenshot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn submit(client: &Client, form: &str) {
    go(client, &format!("#{form} button[type=submit]")).await;
}

/// Marks the page, so that `navigated` can tell when the next one has loaded.
async fn mark(client: &Client) {
    client
        .execute("document.documentElement.dataset.old = '1'", vec![])
        .await
        .unwrap();
}

/// Waits until the marked page has been replaced by a loaded one.
async fn navigated(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = client
            .execute(
                "return document.readyState === 'complete' && !document.documentElement.dataset.old",
                vec![],
            )
            .await
            .map(|v| v == json!(true))
            .unwrap_or(false);
        if fresh {
            return;
        }
        assert!(Instant::now() < deadline, "the next page never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks what `css` finds and waits for the page it leads to.
async fn go(client: &Client, css: &str) {
    mark(client).await;
    click(client, css).await;
    navigated(client).await;
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!(
            "{css}: {e}\nat {}\n{}",
            client.current_url().await.unwrap(),
            client.source().await.unwrap_or_default()
        ),
    }
}

/// Clicks the element `css` finds.
async fn click(client: &Client, css: &str) {
    match client.find(Locator::Css(css)).await {
        Ok(e) => e.click().await.unwrap(),
        Err(e) => panic!(
            "{css}: {e}\nat {}\n{}",
            client.current_url().await.unwrap(),
            client.source().await.unwrap_or_default()
        ),
    }
}

/// Reloads the page until `css` finds an element whose text contains `wanted`.
async fn until_text(client: &Client, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            let text = e.text().await.unwrap_or_default();
            if text.contains(wanted) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {wanted:?}: {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.refresh().await.unwrap();
    }
}

/// Waits (without reloading) until `css` shows `wanted`: the page after a submit.
async fn soon_text(client: &Client, css: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            if e.text().await.unwrap_or_default().contains(wanted) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{css} never showed {wanted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The DNS lines that publish a domain's records as GraphQL lists them.
fn published_records(port: u16, buyer: &str, org: &str, domain: &str) -> Vec<String> {
    let q = "query($o: ID!) { organization(id: $o) { domains { name records { type host value priority } } } }";
    let data = gql(port, &token(buyer, "account", None), q, json!({"o": org}));
    let domains = data["organization"]["domains"].as_array().unwrap();
    let d = domains.iter().find(|d| d["name"] == domain).unwrap();
    dns_lines(domain, &d["records"])
}

/// Opens a console page of the server on `port`.
async fn open(client: &Client, port: u16, path: &str) {
    client
        .goto(&format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
}

/// The whole KooMail flow a buyer and admin do in the console, in Debian's chromium:
/// organization, binding, departments, members (a field error first), a CSV import with
/// a bad line, authorization, a domain verified against the test DNS server, a mailbox on
/// a real Dovecot until ACTIVE, the recycle bin and back, the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_does_the_whole_koomail_flow_in_chromium() {
    let driver = match chromedriver() {
        Ok(d) => d,
        Err(why) if std::env::var_os("MAILPLANE_SKIP_BROWSER").is_some() => {
            eprintln!("SKIPPED (MAILPLANE_SKIP_BROWSER is set): {why}");
            return;
        }
        Err(why) => {
            panic!("{why}; set MAILPLANE_SKIP_BROWSER=1 to skip the browser tests knowingly")
        }
    };
    let db = fresh_database().await;
    // Under /tmp, passable by Dovecot's `mail` user (the test may run as root).
    let dir =
        std::env::temp_dir().join(format!("mailplane-console-browser-{}", std::process::id()));
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
    // The marketplace sells a trial; everything after happens in the browser.
    let market = token("orders", "service", Some("marketplace"));
    gql(
        port,
        &market,
        PROVISION,
        json!({"input": {"buyerAccountId": "buyer-web", "orderId": "order-web", "edition": "standard", "seats": 5, "trial": true}}),
    );
    let client = browser(&driver, &dir.join("chromium")).await;

    // Sign in with the printed link: the page is in Chinese (the browser asks for it).
    client.goto(&console_link(port, "buyer-web")).await.unwrap();
    assert!(text_of(&client, "#link-account")
        .await
        .contains("buyer-web"));
    submit(&client, "sign-in-form").await;
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console"));
    assert!(text_of(&client, "h1").await.contains("管理后台"));

    // An organization: a bad identifier first, its sentence beside the field.
    fill(&client, "organization-name", "网络科技").await;
    fill(&client, "organization-identifier", "-bad").await;
    submit(&client, "create-organization").await;
    let error = text_of(&client, "#organization-identifier-error").await;
    assert!(error.starts_with("请检查此项"), "{error}");
    fill(&client, "organization-identifier", "webco").await;
    submit(&client, "create-organization").await;
    let org = client
        .current_url()
        .await
        .unwrap()
        .path()
        .split('/')
        .nth(3)
        .unwrap()
        .to_owned();
    assert_eq!(text_of(&client, "#identifier").await, "webco");

    // Bind the trial to it from the subscription's page.
    open(&client, port, "/console").await;
    screenshot(&client, "01-home").await;
    go(&client, "a[href^='/console/subscriptions/']").await;
    submit(&client, "bind-form").await;
    assert_eq!(text_of(&client, "#notice").await, "应用已绑定。");
    assert_eq!(text_of(&client, "#subscription-seats").await, "0 / 5");
    assert!(
        text_of(&client, "#refund").await.contains("当前无法退订"),
        "a trial has no refund"
    );
    screenshot(&client, "02-subscription").await;

    // A department.
    open(&client, port, &format!("/console/organizations/{org}")).await;
    fill(&client, "department-name", "研发部").await;
    go(&client, "aside form button[type=submit]").await;
    assert_eq!(text_of(&client, "#notice").await, "部门已创建。");
    assert!(text_of(&client, ".tree").await.contains("研发部"));

    // A member with a malformed phone: the sentence beside the phone field, nothing written.
    fill(&client, "member-name", "李四").await;
    fill(&client, "member-account", "lisi").await;
    fill(&client, "member-phone", "12").await;
    fill(&client, "member-password", "Zw-Passw0rd!9").await;
    client
        .find(Locator::Id("member-department"))
        .await
        .unwrap()
        .select_by_index(1)
        .await
        .unwrap();
    submit(&client, "member-form").await;
    let error = text_of(&client, "#member-phone-error").await;
    assert!(error.starts_with("请检查此项"), "{error}");
    let phone = client.find(Locator::Id("member-phone")).await.unwrap();
    assert_eq!(
        phone.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let name = client.find(Locator::Id("member-name")).await.unwrap();
    assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("李四"));
    let password = client.find(Locator::Id("member-password")).await.unwrap();
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
    screenshot(&client, "03-member-field-error").await;
    assert!(members_named(port, "buyer-web", &org).is_empty());
    fill(&client, "member-phone", "13800138000").await;
    fill(&client, "member-password", "Zw-Passw0rd!9").await;
    submit(&client, "member-form").await;
    assert_eq!(text_of(&client, "#notice").await, "成员已添加。");
    let row = text_of(&client, "tr[data-account=lisi]").await;
    assert!(row.contains("研发部") && row.contains("未授权"), "{row}");

    // A CSV import with one bad line (a phone already used): previewed, nothing written,
    // then imported with a live count and a report.
    let csv = dir.join("members.csv");
    std::fs::write(
        &csv,
        "员工姓名,账号,密码,手机号,邮箱,角色,部门\n\
         王五,wangwu,Ww-Passw0rd!9,13700137000,,成员,网络科技/研发部\n\
         赵六,zhaoliu,Zl-Passw0rd!9,13800138000,,成员,\n\
         钱七,qianqi,Qq-Passw0rd!9,,qianqi@example.com,,\n",
    )
    .unwrap();
    go(&client, "nav.tabs a[href$='/import']").await;
    client
        .find(Locator::Id("import-file"))
        .await
        .unwrap()
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    submit(&client, "upload-form").await;
    assert!(text_of(&client, "tr[data-line='2'] .verdict")
        .await
        .contains("将导入"));
    let bad = text_of(&client, "tr[data-line='3'] .verdict").await;
    assert!(bad.contains("该手机号已被本组织成员使用"), "{bad}");
    screenshot(&client, "04-import-preview").await;
    assert_eq!(
        members_named(port, "buyer-web", &org).len(),
        1,
        "a preview writes nothing"
    );
    submit(&client, "confirm-import").await;
    let done = until_text(&client, ".import", "已完成").await;
    assert!(done.contains("3 / 3"), "{done}");
    assert_eq!(text_of(&client, ".import .refused-count").await, "1");
    screenshot(&client, "05-import-done").await;
    let mut names = members_named(port, "buyer-web", &org);
    names.sort();
    assert_eq!(names, ["李四", "王五", "钱七"]);

    // Authorize every matching member.
    open(&client, port, &format!("/console/organizations/{org}")).await;
    click(&client, "input[name=all_matching]").await;
    submit(&client, "bulk").await;
    assert_eq!(text_of(&client, "#notice").await, "操作成功。");
    assert!(text_of(&client, "tr[data-account=lisi] .authorized")
        .await
        .contains("已授权"));
    assert_eq!(text_of(&client, "#seats").await, "3 / 5");
    screenshot(&client, "05b-members-authorized").await;

    // A domain: its records with copy buttons, verified against the test DNS server.
    open(
        &client,
        port,
        &format!("/console/organizations/{org}/domains"),
    )
    .await;
    fill(&client, "domain-name", "webco.cn").await;
    submit(&client, "domain-form").await;
    assert!(text_of(&client, "#notice").await.contains("域名已添加"));
    assert!(!client
        .find_all(Locator::Css("button.copy"))
        .await
        .unwrap()
        .is_empty());
    go(&client, ".verify-form button").await;
    assert!(
        text_of(&client, ".domain .verdict")
            .await
            .contains("未设置"),
        "nothing published yet"
    );
    let lines = published_records(port, "buyer-web", &org, "webco.cn");
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    go(&client, ".verify-form button").await;
    assert_eq!(
        client
            .find(Locator::Css(".domain h2 .badge"))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("VERIFIED")
    );
    screenshot(&client, "06-domain-verified").await;

    // A mailbox for 李四, opened from the members table, ACTIVE once Dovecot has it.
    open(
        &client,
        port,
        &format!("/console/organizations/{org}?q=lisi"),
    )
    .await;
    click(&client, "tr[data-account=lisi] input[name=member]").await;
    client
        .find(Locator::Id("action"))
        .await
        .unwrap()
        .select_by_value("open_mailboxes")
        .await
        .unwrap();
    submit(&client, "bulk").await;
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/mailboxes"));
    until_text(&client, "tr[data-address='lisi@webco.cn'] .status", "正常").await;
    // The live count says the same (htmx stops polling once nothing is provisioning).
    until_text(&client, "#mailbox-progress .active-count", "1").await;
    let progress = client.find(Locator::Id("mailbox-progress")).await.unwrap();
    assert_eq!(
        progress.attr("data-provisioning").await.unwrap().as_deref(),
        Some("0")
    );
    assert_eq!(progress.attr("hx-trigger").await.unwrap(), None);
    screenshot(&client, "07-mailbox-active").await;

    // Closed into the recycle bin (confirmed), 30 days left there, restored.
    mark(&client).await;
    click(&client, "tr[data-address='lisi@webco.cn'] button.close").await;
    client.accept_alert().await.unwrap();
    navigated(&client).await;
    soon_text(&client, "#notice", "回收站").await;
    go(&client, "nav.tabs a[href$='/recycle_bin']").await;
    assert_eq!(
        text_of(&client, "tr[data-address='lisi@webco.cn'] .days-left").await,
        "30"
    );
    screenshot(&client, "08-recycle-bin").await;
    go(&client, "tr[data-address='lisi@webco.cn'] button.restore").await;
    assert_eq!(text_of(&client, "#notice").await, "邮箱已恢复。");
    open(
        &client,
        port,
        &format!("/console/organizations/{org}/mailboxes"),
    )
    .await;
    until_text(&client, "tr[data-address='lisi@webco.cn'] .status", "正常").await;

    // The audit log, filtered by operation.
    open(
        &client,
        port,
        &format!("/console/organizations/{org}/audit_log"),
    )
    .await;
    assert!(text_of(&client, "#audit-table")
        .await
        .contains("MailboxRestored"));
    client
        .find(Locator::Id("audit-operation"))
        .await
        .unwrap()
        .select_by_value("MailboxClosed")
        .await
        .unwrap();
    submit(&client, "audit-filters").await;
    let rows = client
        .find_all(Locator::Css("#audit-table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(text_of(&client, "#audit-table tbody")
        .await
        .contains("account:buyer-web"));
    screenshot(&client, "09-audit-log").await;

    // An admin invited by SMS: the link in the message, opened by the invitee's own
    // account, makes them an admin of the organization.
    open(
        &client,
        port,
        &format!("/console/organizations/{org}/settings"),
    )
    .await;
    fill(&client, "invite-name", "周八").await;
    fill(&client, "invite-phone", "13600136000").await;
    fill(&client, "invite-email", "zhouba@example.com").await;
    submit(&client, "invite-form").await;
    assert_eq!(text_of(&client, "#notice").await, "邀请短信已发送。");
    assert!(text_of(&client, "#invitations").await.contains("周八"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let invitation_link = loop {
        let sms = std::fs::read_to_string(dir.join("sms.log")).unwrap_or_default();
        let link = sms
            .lines()
            .filter(|l| l.contains("13600136000"))
            .find_map(|l| {
                let text: serde_json::Value = serde_json::from_str(l).ok()?;
                let text = text["text"].as_str()?.to_owned();
                let start = text.find("http://")?;
                let link: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii() && !c.is_whitespace())
                    .collect();
                Some(link.trim_end_matches(['.', ',']).to_owned())
            });
        if let Some(link) = link {
            break link;
        }
        assert!(Instant::now() < deadline, "no invitation SMS: {sms}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        invitation_link.contains("/invitations/"),
        "{invitation_link}"
    );

    // The language switch is remembered.
    go(&client, "form[action='/console/language'] button").await;
    assert!(text_of(&client, "#invite-title")
        .await
        .starts_with("Invite an admin"));
    client.refresh().await.unwrap();
    assert!(text_of(&client, "#invite-title")
        .await
        .starts_with("Invite an admin"));
    open(&client, port, &format!("/console/organizations/{org}")).await;
    screenshot(&client, "10-members-english").await;

    // Sign out: the console asks to sign in again.
    go(&client, "form[action='/console/logout'] button").await;
    assert!(text_of(&client, "h1").await.contains("Sign in"));
    // The invitee signs in with their own account and accepts.
    client.goto(&console_link(port, "admin-2")).await.unwrap();
    submit(&client, "sign-in-form").await;
    client.goto(&invitation_link).await.unwrap();
    submit(&client, "accept-form").await;
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/settings"));
    assert!(text_of(&client, "#admins").await.contains("admin-2"));
    screenshot(&client, "11-invitation-accepted").await;
    // The creator is marked and cannot be removed; the invited admin can leave.
    assert!(text_of(&client, "li[data-admin='buyer-web']")
        .await
        .contains("Creator"));
    assert!(client
        .find(Locator::Css(
            "li[data-admin='buyer-web'] button.remove-admin"
        ))
        .await
        .is_err());
    // Dissolving asks for the SMS code first, refused while members are left.
    submit(&client, "dissolution-code-form").await;
    assert!(!text_of(&client, "#dissolve-error").await.is_empty());
    screenshot(&client, "12-settings-admins").await;
    // The same link again: the invitation is no longer pending.
    client.goto(&invitation_link).await.unwrap();
    submit(&client, "accept-form").await;
    assert!(!text_of(&client, "#invitation-error").await.is_empty());
    // The invited admin removes themselves (confirmed) and manages nothing any more.
    open(
        &client,
        port,
        &format!("/console/organizations/{org}/settings"),
    )
    .await;
    mark(&client).await;
    click(&client, "li[data-admin='admin-2'] button.remove-admin").await;
    client.accept_alert().await.unwrap();
    navigated(&client).await;
    let path = client.current_url().await.unwrap().path().to_owned();
    assert_eq!(path, "/console", "back to their own organizations");
    client.close().await.unwrap();
    let log = stop(server);
    for secret in ["Zw-Passw0rd!9", "Ww-Passw0rd!9", "Qq-Passw0rd!9"] {
        assert!(!log.contains(secret), "a password in the server's log");
    }
}

/// A multipart upload of `file` with the session's CSRF token.
fn upload(port: u16, org: &str, cookie: &str, csrf: &str, file: &[u8]) -> (u16, String) {
    let mut body = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"members.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let (code, page, _) = status(
        agent()
            .post(&format!(
                "http://127.0.0.1:{port}/console/organizations/{org}/import/preview"
            ))
            .set("Cookie", cookie)
            .set("Content-Type", "multipart/form-data; boundary=b0undary")
            .send_bytes(&body),
    );
    (code, page)
}

fn get(port: u16, cookie: &str, path: &str) -> (u16, String) {
    let (code, page, _) = status(
        agent()
            .get(&format!("http://127.0.0.1:{port}{path}"))
            .set("Cookie", cookie)
            .call(),
    );
    (code, page)
}

/// Bad files tried: empty, not UTF-8, without the template's columns, larger than 1 MiB,
/// a line whose phone another line's member already holds. None writes anything.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_counts_up_live_survives_a_reload_and_reports_every_line() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-console-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    let (_, org) = bound_organization(port, "buyer-imp", "impco", 200);
    let (cookie, csrf) = sign_in(port, "buyer-imp");

    // The template: KooMail's columns, UTF-8 with a BOM for Excel.
    let (code, template) = get(
        port,
        &cookie,
        &format!("/console/organizations/{org}/import/template.csv"),
    );
    assert_eq!(code, 200);
    assert!(
        template.starts_with("\u{feff}员工姓名,账号,密码,手机号,邮箱,角色,部门"),
        "{template}"
    );

    // Files that cannot be read are refused whole, with a sentence beside the file field.
    let huge = vec![b'x'; 3 * 1024 * 1024];
    for (file, says) in [
        (b"".as_slice(), "the file is empty"),
        (&[0xff, 0xfe, 0xfd][..], "not UTF-8"),
        (
            "姓名,手机\n张三,1\n".as_bytes(),
            "missing: 员工姓名, 账号, 密码",
        ),
        (&huge[..], "The upload is too large"),
    ] {
        let (code, page) = upload(port, &org, &cookie, &csrf, file);
        assert!(code == 422 || code == 413, "{code}");
        assert!(
            page.contains("import-file-error") && page.contains(says),
            "{says}: {page}"
        );
    }

    // 120 good lines and one whose phone line 2 holds: the preview writes nothing.
    let mut csv = String::from("员工姓名,账号,密码,手机号,邮箱\n");
    for i in 0..120 {
        csv.push_str(&format!("成员{i},m{i:03},Zw-Passw0rd!9,139{i:08},\n"));
    }
    csv.push_str("重号,dup,Zw-Passw0rd!9,13900000000,\n");
    let (code, preview) = upload(port, &org, &cookie, &csrf, csv.as_bytes());
    assert_eq!(code, 200);
    assert_eq!(preview.matches("data-line=").count(), 121);
    assert_eq!(preview.matches("class=\"refused\"").count(), 1);
    assert!(members_named(port, "buyer-imp", &org).is_empty());

    // Imported in the background: the count moves, a reload finds it, the report has
    // every line.
    let (code, _, _) = status(
        agent()
            .post(&format!(
                "http://127.0.0.1:{port}/console/organizations/{org}/import"
            ))
            .set("Cookie", &cookie)
            .send_form(&[("csrf", csrf.as_str()), ("csv", csv.as_str())]),
    );
    assert_eq!(code, 303);
    let (_, page) = get(
        port,
        &cookie,
        &format!("/console/organizations/{org}/import"),
    );
    let job = page
        .split("class=\"import\" id=\"import-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let progress = format!("/console/organizations/{org}/jobs/{job}/progress");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (code, fragment) = get(port, &cookie, &progress);
        assert_eq!(code, 200);
        let count = fragment
            .split("class=\"import-count\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned();
        let done: usize = count.split(" / ").next().unwrap().parse().unwrap();
        assert!(count.ends_with("/ 121"), "{count}");
        if seen.last() != Some(&done) {
            seen.push(done);
        }
        if fragment.contains("data-running=\"false\"") {
            assert_eq!(done, 121);
            assert!(!fragment.contains("hx-trigger"), "polling stops when done");
            break;
        }
        assert!(
            fragment.contains("hx-trigger=\"every 1s\""),
            "polled while running"
        );
        if seen.len() == 2 {
            // A reload of the page in the middle still shows it, still counting.
            let (_, page) = get(
                port,
                &cookie,
                &format!("/console/organizations/{org}/import"),
            );
            assert!(page.contains(&format!("id=\"import-{job}\"")));
        }
        assert!(
            Instant::now() < deadline,
            "the import never finished: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.iter().any(|d| *d > 1 && *d < 121),
        "a count between start and end: {seen:?}"
    );
    let (code, report) = get(
        port,
        &cookie,
        &format!("/console/organizations/{org}/jobs/{job}/report.csv"),
    );
    assert_eq!(code, 200);
    assert_eq!(report.lines().count(), 122, "a header and every line");
    assert_eq!(report.matches("\"DONE\"").count(), 120);
    assert!(report.contains("\"122\",\"dup\",\"REFUSED\""), "{report}");
    let q = "query($id: ID!) { organization(id: $id) { members(first: 1) { totalCount } } }";
    let data = gql(
        port,
        &token("buyer-imp", "account", None),
        q,
        json!({"id": org}),
    );
    assert_eq!(data["organization"]["members"]["totalCount"], 120);

    // Mailboxes for all 120, opened in the background a chunk at a time: the mailboxes
    // page counts them; the one member who has a mailbox already is refused in the report.
    let buyer = token("buyer-imp", "account", None);
    let add = "mutation($o: ID!) { addDomain(organizationId: $o, name: \"impco.cn\", mode: FULL) { id records { type host value priority } } }";
    let domain = gql(port, &buyer, add, json!({"o": org}))["addDomain"].clone();
    let lines = dns_lines("impco.cn", &domain["records"]);
    dns.serve(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let verify = "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }";
    let verified = gql(port, &buyer, verify, json!({"d": domain["id"]}));
    assert_eq!(verified["verifyDomain"]["status"], "VERIFIED");
    let bulk = format!("http://127.0.0.1:{port}/console/organizations/{org}/members/bulk");
    let post = |form: &[(&str, &str)]| {
        status(agent().post(&bulk).set("Cookie", &cookie).send_form(form)).0
    };
    let d = domain["id"].as_str().unwrap();
    let all = [
        ("csrf", csrf.as_str()),
        ("all_matching", "yes"),
        ("here", "size=20"),
    ];
    assert_eq!(post(&[&all[..], &[("action", "authorize")]].concat()), 303);
    let (_, page) = get(
        port,
        &cookie,
        &format!("/console/organizations/{org}?q=m000"),
    );
    let first = page
        .split("name=\"member\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let one = [
        ("csrf", csrf.as_str()),
        ("member", first.as_str()),
        ("action", "open_mailboxes"),
        ("domain", d),
    ];
    assert_eq!(post(&one), 303);
    let open = [&all[..], &[("action", "open_mailboxes"), ("domain", d)]].concat();
    let progress = format!("/console/organizations/{org}/mailboxes/progress");
    let opening = |fragment: &str| {
        fragment
            .split("class=\"opening-count\">")
            .nth(1)
            .map(|c| c.split('<').next().unwrap().to_owned())
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    // The single opening first (a job of its own), then all of them.
    while opening(&get(port, &cookie, &progress).1).is_some_and(|c| c != "1 / 1") {
        assert!(
            Instant::now() < deadline,
            "the single opening never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(post(&open), 303);
    let mut counts: Vec<String> = Vec::new();
    let fragment = loop {
        let (_, fragment) = get(port, &cookie, &progress);
        if let Some(c) = opening(&fragment) {
            if counts.last() != Some(&c) {
                counts.push(c.clone());
            }
            if c == "120 / 120" && fragment.contains("class=\"error\"") {
                break fragment;
            }
        }
        assert!(
            Instant::now() < deadline,
            "opening never finished: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        counts
            .iter()
            .any(|c| c.starts_with("25 /") || c.starts_with("50 /")),
        "{counts:?}"
    );
    assert!(
        fragment.contains("1 refused") || fragment.contains("1 项失败"),
        "{fragment}"
    );
    // No data plane in this test: they wait in PROVISIONING, and the page keeps polling.
    assert!(fragment.contains("data-provisioning=\"120\""), "{fragment}");
    assert!(fragment.contains("hx-trigger"));
    let report = fragment
        .split("href=\"")
        .find(|h| h.contains("/report.csv"))
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (_, report) = get(port, &cookie, report);
    assert_eq!(report.matches("\"DONE\"").count(), 119, "{report}");
    assert!(report.contains("\"m000\",\"REFUSED\""), "{report}");
    let log = stop(server);
    assert!(!log.contains("Zw-Passw0rd!9"));
}

#[tokio::test(flavor = "multi_thread")]
async fn select_all_matching_acts_on_every_matching_member_past_a_thousand() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-console-all-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    let (sub, org) = bound_organization(port, "buyer-all", "allco", 1_100);
    let buyer = token("buyer-all", "account", None);
    // 1,008 members, in two imports (1,000 rows at most each).
    let import = "mutation($o: ID!, $rows: [AddMemberRowInput!]!) { importMembers(organizationId: $o, rows: $rows) { imported } }";
    for range in [0..1_000, 1_000..1_008] {
        let rows: Vec<serde_json::Value> = range
            .map(|i| json!({"name": format!("成员{i}"), "account": format!("a{i:04}"), "email": format!("a{i}@example.com"), "password": "Zw-Passw0rd!9"}))
            .collect();
        gql(port, &buyer, import, json!({"o": org, "rows": rows}));
    }
    let (cookie, csrf) = sign_in(port, "buyer-all");
    let bulk = format!("http://127.0.0.1:{port}/console/organizations/{org}/members/bulk");
    // The answer's status and where it sends the browser (the notice counts).
    let post =
        |form: &[(&str, &str)]| match agent().post(&bulk).set("Cookie", &cookie).send_form(form) {
            Ok(r) => (r.status(), (), r.header("location").map(str::to_owned)),
            Err(ureq::Error::Status(code, r)) => {
                (code, (), r.header("location").map(str::to_owned))
            }
            Err(e) => panic!("transport error: {e}"),
        };
    let (code, _, location) = post(&[
        ("csrf", csrf.as_str()),
        ("all_matching", "yes"),
        ("here", "size=20"),
        ("action", "authorize"),
    ]);
    assert_eq!(code, 303);
    let location = location.unwrap_or_default();
    assert!(location.contains("ok=1008&refused=0"), "{location}");
    let seats = "query($s: ID!) { subscription(id: $s) { seatUsage { authorized } } }";
    assert_eq!(
        gql(port, &buyer, seats, json!({"s": sub}))["subscription"]["seatUsage"]["authorized"],
        1_008,
        "every matching member, not the first 1,000"
    );
    // Disabling all matching reaches the last ones too.
    let (code, _, location) = post(&[
        ("csrf", csrf.as_str()),
        ("all_matching", "yes"),
        ("here", "q=a100"),
        ("action", "disable"),
    ]);
    assert_eq!(code, 303);
    let location = location.unwrap_or_default();
    assert!(
        location.contains("ok=8&refused=0"),
        "a1000 to a1007, past the first thousand: {location}"
    );
    stop(server);
}
