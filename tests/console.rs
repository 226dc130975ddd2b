//! The admin console through the real binary: in Debian's chromium driven over WebDriver
//! (chromium-driver), and as plain HTTP for what a browser would never send (another
//! organization's URLs, forms without their CSRF token, a sign-in link used twice).
//!
//! Bad inputs tried here: a member with a malformed phone (the sentence appears beside the
//! phone field, nothing is written), a taken account, a form posted without or with another
//! session's CSRF token, another organization's page and forms, an unknown organization id,
//! a malformed id, a used, a forged and a service sign-in token, a signed-out cookie.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::*;

const PROVISION: &str =
    "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
const CREATE_ORG: &str = "mutation($name: String!, $identifier: String!) { createOrganization(input: {name: $name, identifier: $identifier}) { id } }";
const BIND: &str =
    "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }";

/// A buyer with a bound trial of `seats` seats: answers the organization's id.
fn bound_organization(port: u16, buyer: &str, identifier: &str, seats: u32) -> String {
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
    org
}

fn console_link(port: u16, account: &str) -> String {
    let out = mailplane()
        .args(["console-link", "--sub", account])
        .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Plain HTTP without redirects, as an attacker's script would.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

fn status(r: Result<ureq::Response, ureq::Error>) -> (u16, String, Option<String>) {
    match r {
        Ok(r) => {
            let cookie = r.header("set-cookie").map(str::to_owned);
            (r.status(), r.into_string().unwrap_or_default(), cookie)
        }
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default(), None),
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Signs in over plain HTTP; answers the session cookie and the page's CSRF token.
fn sign_in(port: u16, account: &str) -> (String, String) {
    let (code, _, cookie) = status(agent().get(&console_link(port, account)).call());
    assert_eq!(code, 303);
    let cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
    let (code, page, _) = status(
        agent()
            .get(&format!("http://127.0.0.1:{port}/console"))
            .set("Cookie", &cookie)
            .call(),
    );
    assert_eq!(code, 200);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, csrf)
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
    let first = bound_organization(port, "buyer-a", "alpha", 5);
    let second = bound_organization(port, "buyer-b", "bravo", 5);
    let base = format!("http://127.0.0.1:{port}/console");

    // Without a session every page is the sign-in page (401) and no form is taken.
    let (code, page, _) = status(agent().get(&format!("{base}/organizations/{first}")).call());
    assert_eq!(code, 401);
    assert!(!page.contains("alpha"));

    // A link works once; a forged or a service token never.
    let link = console_link(port, "buyer-a");
    assert_eq!(status(agent().get(&link).call()).0, 303);
    assert_eq!(status(agent().get(&link).call()).0, 401, "a used link");
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

    // Tokens carry no nonce: a link minted in the same second as the used one is the same
    // token, and refused too.
    std::thread::sleep(Duration::from_millis(1100));
    let (cookie_a, csrf_a) = sign_in(port, "buyer-a");
    let (cookie_b, csrf_b) = sign_in(port, "buyer-b");
    // B's home lists only B's organization.
    let (_, home_b, _) = status(agent().get(&base).set("Cookie", &cookie_b).call());
    assert!(home_b.contains(&second) && !home_b.contains(&first));

    // B on every console URL of A: pages and forms are FORBIDDEN, nothing of A is shown.
    for path in [
        format!("/organizations/{first}"),
        format!("/organizations/{first}?q=a"),
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
    client
        .find(Locator::Css(&format!("#{form} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_builds_departments_and_members_in_chromium() {
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
    let dir =
        std::env::temp_dir().join(format!("mailplane-console-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dns = Dns::new(&dir);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    let org = bound_organization(port, "buyer-web", "webco", 3);
    let client = browser(&driver, &dir.join("chromium")).await;

    // Sign in with the printed link: the page is in Chinese (the browser asks for it).
    client.goto(&console_link(port, "buyer-web")).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console"));
    assert!(text_of(&client, "h1").await.contains("管理后台"));
    screenshot(&client, "01-home").await;
    client
        .find(Locator::LinkText("打开"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with(&org));

    // A department.
    fill(&client, "department-name", "研发部").await;
    client
        .find(Locator::Css("aside form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#notice").await, "部门已创建。");
    assert!(text_of(&client, ".tree").await.contains("研发部"));

    // A member with a malformed phone: the sentence beside the phone field, nothing written.
    fill(&client, "member-name", "李四").await;
    fill(&client, "member-account", "lisi").await;
    fill(&client, "member-phone", "12").await;
    fill(&client, "member-password", "Zw-Passw0rd!9").await;
    client
        .find(Locator::Css("#member-department option:nth-child(2)"))
        .await
        .unwrap()
        .click()
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
    // What was typed is kept, the password is not echoed.
    let name = client.find(Locator::Id("member-name")).await.unwrap();
    assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("李四"));
    let password = client.find(Locator::Id("member-password")).await.unwrap();
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
    screenshot(&client, "02-member-field-error").await;
    assert!(members_named(port, "buyer-web", &org).is_empty());

    fill(&client, "member-phone", "13800138000").await;
    fill(&client, "member-password", "Zw-Passw0rd!9").await;
    submit(&client, "member-form").await;
    assert_eq!(text_of(&client, "#notice").await, "成员已添加。");
    let row = text_of(&client, "tr[data-account=lisi]").await;
    assert!(row.contains("研发部") && row.contains("未授权"), "{row}");

    // Authorize every matching member from the keyboard-reachable bulk form.
    client
        .find(Locator::Css("input[name=all_matching]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&client, "bulk").await;
    assert_eq!(text_of(&client, "#notice").await, "操作成功。");
    assert!(text_of(&client, "tr[data-account=lisi] .authorized")
        .await
        .contains("已授权"));
    assert_eq!(text_of(&client, "#seats").await, "1 / 3");
    screenshot(&client, "03-members-authorized").await;

    // The language switch is remembered.
    client
        .find(Locator::Css("form[action='/console/language'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&client, "#members").await.starts_with("Members"));
    client.refresh().await.unwrap();
    assert!(text_of(&client, "#members").await.starts_with("Members"));
    screenshot(&client, "04-members-english").await;

    // Sign out: the console asks to sign in again.
    client
        .find(Locator::Css("form[action='/console/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&client, "h1").await.contains("Sign in"));
    client.close().await.unwrap();
    stop(server);
}
