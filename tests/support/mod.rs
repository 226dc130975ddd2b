//! What the end-to-end tests share: the real binary, tokens, GraphQL over HTTP, and a
//! private DNS server (dnsmasq on loopback).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod console_http;
pub mod imap;
pub mod old_server;

pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-0123";
pub const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave its server running (and logging) forever; a server
        // already stopped and waited for is not signalled again.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn mailplane() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailplane"));
    cmd.env("MAILPLANE_JWT_SECRET", JWT_SECRET)
        .env("MAILPLANE_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("MAILPLANE_SECRET_KEY", SECRET_KEY)
        .env("MAILPLANE_LOG", "debug,sqlx=warn,hyper=warn")
        // No private Dovecot unless a test asks for one: tests run side by side.
        .env("MAILPLANE_DATAPLANE", "none");
    cmd
}

/// A private DNS server (dnsmasq on loopback) serving the records the test writes.
pub struct Dns {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Dns {
    pub fn new(dir: &std::path::Path) -> Dns {
        // dnsmasq listens on UDP and TCP. A port from the kernel's ephemeral range (what
        // binding port 0 gives) can be taken by any outgoing connection before a restart, so
        // the port comes from below that range, free on both.
        static TAKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nth = TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut seed = u64::from(std::process::id()).wrapping_mul(1000) + nth;
        let port = loop {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let candidate = 20_000 + (seed >> 33) as u16 % 12_000;
            let free = std::net::UdpSocket::bind(("127.0.0.1", candidate)).is_ok()
                && TcpListener::bind(("127.0.0.1", candidate)).is_ok();
            if free {
                break candidate;
            }
        };
        Dns {
            child: None,
            port,
            dir: dir.to_owned(),
        }
    }

    /// (Re)starts dnsmasq with these `--conf-file` lines; names it does not know are NXDOMAIN.
    pub fn serve(&mut self, lines: &[&str]) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let conf = self.dir.join("dnsmasq.conf");
        std::fs::write(&conf, format!("{}\nlocal=/#/\n", lines.join("\n"))).unwrap();
        let errors = self.dir.join("dnsmasq.err");
        // A restart on the same port can race the old process's socket: try a few times,
        // and say what dnsmasq said when it never comes up.
        for attempt in 1..=5 {
            let mut child = Command::new("dnsmasq")
                .args([
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--user=root",
                ])
                .arg(format!("--conf-file={}", conf.display()))
                .arg("--listen-address=127.0.0.1")
                .arg(format!("--port={}", self.port))
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(&errors).unwrap()))
                .spawn()
                .expect(
                    "dnsmasq is needed for this test: apt-get install -y dnsmasq-base (.ci/run does)",
                );
            // Listening once its port can no longer be bound by us.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if std::net::UdpSocket::bind(("127.0.0.1", self.port)).is_err() {
                    up = true;
                    break;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            let said = std::fs::read_to_string(&errors).unwrap_or_default();
            assert!(attempt < 5, "dnsmasq did not start listening: {said}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn start(url: &str, dir: &std::path::Path, dns: &Dns) -> Server {
    start_with(url, dir, dns, &[])
}

/// `serve` with these extra environment variables.
pub fn start_with(url: &str, dir: &std::path::Path, dns: &Dns, env: &[(&str, String)]) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join(format!("serve-{port}.log"));
    let mut command = mailplane();
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let child = command
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("MAILPLANE_DATA_DIR", dir)
        .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MAILPLANE_DNS", format!("127.0.0.1:{}", dns.port))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        // Its own process group, so a test can kill it with every child it started.
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = ureq::get(&format!("http://127.0.0.1:{port}/readyz")).call() {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "serve did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    Server { child, port, log }
}

pub fn stop(mut server: Server) -> String {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    assert!(server.child.wait().unwrap().success());
    let mut log = String::new();
    std::fs::File::open(&server.log)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

pub fn token(sub: &str, kind: &str, scope: Option<&str>) -> String {
    let mut cmd = mailplane();
    cmd.args(["token", "--sub", sub, "--kind", kind]);
    if let Some(s) = scope {
        cmd.args(["--scope", s]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs a GraphQL request; returns the body and the correlation id header.
pub fn call(
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (Value, Option<String>) {
    let mut req = ureq::post(&format!("http://127.0.0.1:{port}/graphql"));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    // A refusal at the HTTP edge (401 for a request without a token) still answers a
    // GraphQL body with its code.
    let r = match req.send_json(json!({"query": query, "variables": variables})) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let correlation = r.header("x-correlation-id").map(str::to_owned);
    (r.into_json().unwrap(), correlation)
}

pub fn gql(port: u16, token: &str, query: &str, variables: Value) -> Value {
    let (body, _) = call(port, Some(token), query, variables);
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The error code (and field) of a refused request.
pub fn refused(
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (String, Option<String>) {
    let (body, _) = call(port, token, query, variables);
    let e = &body["errors"][0];
    assert!(!e.is_null(), "expected an error: {body}");
    (
        e["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        e["extensions"]["field"].as_str().map(str::to_owned),
    )
}

/// A free loopback address for a listener.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `mailplane dataplane dovecot`, kept running across the server's restarts.
pub struct DovecotProcess(Child);

impl DovecotProcess {
    pub fn start(dir: &std::path::Path, imap: std::net::SocketAddr) -> DovecotProcess {
        let child = mailplane()
            .args(["dataplane", "dovecot", "--dir"])
            .arg(dir)
            .arg("--listen")
            .arg(imap.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(imap).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private Dovecot did not start (apt-get install -y dovecot-imapd)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        DovecotProcess(child)
    }
}

impl Drop for DovecotProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// The dnsmasq lines that publish a domain's records (as GraphQL lists them), and the DKIM
/// target they point at.
pub fn dns_lines(domain: &str, records: &Value) -> Vec<String> {
    let mut lines = vec!["host-record=dkim.mailplane.test,127.0.0.2".to_owned()];
    for r in records.as_array().unwrap() {
        let host = match r["host"].as_str().unwrap() {
            "@" => domain.to_owned(),
            h => format!("{h}.{domain}"),
        };
        let value = r["value"].as_str().unwrap();
        lines.push(match r["type"].as_str().unwrap() {
            "MX" => format!("mx-host={host},{value},{}", r["priority"]),
            "TXT" => format!("txt-record={host},\"{value}\""),
            _ => format!("cname={host},{value}"),
        });
    }
    lines
}

/// A trial of `seats` for buyer-1 (order `order_id`), an organization of theirs, the app bound
/// to it: the organization's id.
pub fn trial_organization(
    port: u16,
    order_id: &str,
    seats: u32,
    name: &str,
    identifier: &str,
) -> String {
    let market = token("orders", "service", Some("marketplace"));
    let buyer = token("buyer-1", "account", None);
    let provision = "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }";
    let input = json!({"buyerAccountId": "buyer-1", "orderId": order_id, "edition": "standard", "seats": seats, "trial": true});
    let sub = gql(port, &market, provision, json!({"input": input}))["provisionSubscription"]["id"]
        .clone();
    let create = "mutation($n: String!, $i: String!) { createOrganization(input: {name: $n, identifier: $i}) { id } }";
    let org = gql(port, &buyer, create, json!({"n": name, "i": identifier}))["createOrganization"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gql(
        port,
        &buyer,
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    );
    org
}
