//! What `bench api` runs against: a private DNS server (dnsmasq), `mailplane serve` as a
//! child on a database of its own, tokens, a GraphQL client, and latency figures.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Token lifetimes long enough for a long run.
const TOKEN_TTL: &str = "account=12h,service=12h";

/// A child killed with its whole process group when dropped.
pub struct Group(pub Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on the process group of our own child.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

/// dnsmasq on loopback, serving the lines it was last given.
pub struct Dns {
    pub port: u16,
    dir: PathBuf,
    child: Option<Group>,
}

impl Dns {
    /// A port below the ephemeral range, free for UDP and TCP.
    pub fn new(dir: &Path) -> anyhow::Result<Dns> {
        for offset in 0..2_000u32 {
            let port = u16::try_from(20_000 + (std::process::id() * 7 + offset) % 12_000)?;
            if UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                return Ok(Dns {
                    port,
                    dir: dir.to_owned(),
                    child: None,
                });
            }
        }
        bail!("no free port for dnsmasq")
    }

    /// (Re)starts dnsmasq with these configuration lines.
    pub fn serve(&mut self, lines: &[String]) -> anyhow::Result<()> {
        self.child = None;
        let conf = self.dir.join("dnsmasq.conf");
        std::fs::write(&conf, format!("{}\nlocal=/#/\n", lines.join("\n")))?;
        let child = Command::new("dnsmasq")
            .args(["--keep-in-foreground", "--no-resolv", "--no-hosts"])
            .args(["--bind-interfaces", "--listen-address=127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--conf-file={}", conf.display()))
            .args(if is_root() {
                &["--user=root"][..]
            } else {
                &[][..]
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("dnsmasq is needed: apt-get install -y dnsmasq-base")?;
        self.child = Some(Group(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", self.port)).is_ok() {
            if Instant::now() > deadline {
                bail!("dnsmasq did not start listening on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

use std::os::unix::process::CommandExt;

/// `mailplane serve` on `database_url`, with its own Dovecot under `dir`.
pub struct Server {
    pub port: u16,
    pub imap: SocketAddr,
    pub jwt_secret: String,
    /// The secret-table key, which also opens the log's sealed personal data.
    pub secret_key: String,
    _child: Group,
}

impl Server {
    pub async fn start(dir: &Path, database_url: &str, dns: &Dns) -> anyhow::Result<Server> {
        // Both held until both are chosen, so they differ.
        let (a, b) = (
            TcpListener::bind("127.0.0.1:0")?,
            TcpListener::bind("127.0.0.1:0")?,
        );
        let (listen, imap) = (a.local_addr()?, b.local_addr()?);
        drop((a, b));
        let jwt_secret = app::secrets::generate_key()?;
        let secret_key = app::secrets::generate_key()?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("MAILPLANE_DATA_DIR", dir.join("data"))
            .env("MAILPLANE_LISTEN", listen.to_string())
            .env("MAILPLANE_IMAP_LISTEN", imap.to_string())
            .env("MAILPLANE_DNS", format!("127.0.0.1:{}", dns.port))
            .env("MAILPLANE_JWT_SECRET", &jwt_secret)
            .env("MAILPLANE_SECRET_KEY", &secret_key)
            .env("MAILPLANE_TOKEN_MAX_TTL", TOKEN_TTL)
            .env("MAILPLANE_SMS", "log")
            .env("MAILPLANE_LOG", "warn")
            .env_remove("MAILPLANE_DATAPLANE")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()?;
        let mut server = Server {
            port: listen.port(),
            imap,
            jwt_secret,
            secret_key,
            _child: Group(child),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = client
                .get(format!("http://127.0.0.1:{}/readyz", server.port))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            let exited = server._child.0.try_wait()?.is_some();
            if exited || Instant::now() > deadline {
                bail!(
                    "serve did not become ready (see {}/serve.log)",
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A token for `sub` signed with the server's secret (`mailplane token`).
    pub fn token(&self, sub: &str, kind: &str, scope: Option<&str>) -> anyhow::Result<String> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["token", "--sub", sub, "--kind", kind, "--ttl", "12h"])
            .env("MAILPLANE_JWT_SECRET", &self.jwt_secret)
            .env("MAILPLANE_TOKEN_MAX_TTL", TOKEN_TTL);
        if let Some(scope) = scope {
            command.args(["--scope", scope]);
        }
        let out = command.output()?;
        if !out.status.success() {
            bail!("mailplane token: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }
}

/// A GraphQL client of one principal.
#[derive(Clone)]
pub struct Gql {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Gql {
    pub fn new(port: u16, token: String) -> Gql {
        Gql {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(128)
                .build()
                .unwrap_or_default(),
            url: format!("http://127.0.0.1:{port}/graphql"),
            token,
        }
    }

    /// The `data` of a query, or an error with what the server said.
    pub async fn call(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() || body.get("errors").is_some() {
            bail!("{status}: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Like `call`, timed.
    pub async fn timed(&self, query: &str, variables: Value) -> anyhow::Result<(Value, Duration)> {
        let started = Instant::now();
        let data = self.call(query, variables).await?;
        Ok((data, started.elapsed()))
    }
}

/// Median and 99th percentile of samples, in milliseconds.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// The dnsmasq lines that publish a domain's records (as GraphQL lists them).
pub fn dns_lines(domain: &str, records: &Value) -> Vec<String> {
    let mut lines = vec!["host-record=dkim.mailplane.test,127.0.0.2".to_owned()];
    for r in records.as_array().into_iter().flatten() {
        let host = match r["host"].as_str().unwrap_or("@") {
            "@" => domain.to_owned(),
            h => format!("{h}.{domain}"),
        };
        let value = r["value"].as_str().unwrap_or_default();
        lines.push(match r["type"].as_str().unwrap_or_default() {
            "MX" => format!("mx-host={host},{value},{}", r["priority"]),
            "TXT" => format!("txt-record={host},\"{value}\""),
            _ => format!("cname={host},{value}"),
        });
    }
    lines
}
