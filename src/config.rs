//! Configuration from `MAILPLANE_*` environment variables (and `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};

/// Everything the binary reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL to use; unset = a private cluster in `data_dir/postgres`.
    pub database_url: Option<String>,
    /// Local state: the private cluster, the generated JWT secret.
    pub data_dir: PathBuf,
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// HS256 secret for tokens; unset = generated once into `data_dir/jwt-secret`.
    pub jwt_secret: Option<String>,
    /// Issuer, audience and longest lifetimes tokens must have (`MAILPLANE_JWT_ISSUER`,
    /// `MAILPLANE_JWT_AUDIENCE`, `MAILPLANE_TOKEN_MAX_TTL`).
    pub token_policy: app::auth::TokenPolicy,
    /// Most database connections the process opens for requests.
    pub db_pool_size: u32,
    /// Most database connections of projections and workers (`MAILPLANE_DB_BACKGROUND_POOL_SIZE`).
    pub db_background_pool_size: u32,
    /// PostgreSQL server binaries for the private cluster; unset = search for them.
    pub pg_bin_dir: Option<PathBuf>,
    /// Where the private PostgreSQL and Dovecot keep their files; unset = the data folder,
    /// or (as root, when the servers' users cannot reach it) `/var/lib/mailplane/<hash>`.
    pub server_dir: Option<PathBuf>,
    /// AES-256 key (64 hex characters) for the secret table; unset = generated once into
    /// `data_dir/secret-key`.
    pub secret_key: Option<String>,
    /// The DNS resolver for domain verification (ip:port); unset = the system's.
    pub dns: Option<SocketAddr>,
    /// Where text messages go.
    pub sms: SmsSetting,
    /// Which mail data plane the workers drive.
    pub dataplane: DataPlaneSetting,
    /// The private Dovecot's IMAP address (`dovecot` data plane).
    pub imap_listen: SocketAddr,
    /// The app's name in the credentials message.
    pub app_name: String,
    /// Where invitation links point; unset = this server's address.
    pub console_url: Option<String>,
    /// Limits and allowances of the use cases (`MAILPLANE_WEBHOOK_ALLOW_PRIVATE`, …).
    pub settings: app::Settings,
    /// Request bodies and GraphiQL (`MAILPLANE_MAX_BODY_BYTES`, `MAILPLANE_GRAPHIQL`).
    pub http: api::HttpLimits,
    /// Connections and deadlines (`MAILPLANE_MAX_CONNECTIONS`, `MAILPLANE_HEADER_TIMEOUT`,
    /// `MAILPLANE_REQUEST_TIMEOUT`).
    pub server: api::ServerLimits,
    /// Websockets (`MAILPLANE_WS_INIT_TIMEOUT`, `MAILPLANE_WS_PER_PRINCIPAL`, `MAILPLANE_WS_MAX`).
    pub sockets: api::SocketLimits,
    /// The migration worker (`MAILPLANE_MIGRATION_CONCURRENCY`, `MAILPLANE_MIGRATION_LEASE`,
    /// `MAILPLANE_MIGRATION_BACKOFF`).
    pub migration: workers::migration::MigrationSettings,
    /// Console sessions (`MAILPLANE_CONSOLE_IDLE_TIMEOUT`, `MAILPLANE_CONSOLE_SESSION_TTL`;
    /// the cookie is `Secure` when `MAILPLANE_CONSOLE_URL` is https).
    pub console: console::SessionLimits,
}

/// `MAILPLANE_SMS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSetting {
    /// Append messages to `data_dir/sms.log` (local mode).
    Log,
    /// POST them to an SMS gateway.
    Http(String),
}

/// `MAILPLANE_DATAPLANE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlaneSetting {
    /// Start and drive a private Dovecot in `data_dir/dovecot` (the default when Dovecot
    /// is installed; otherwise the workers say what is missing and leave mailboxes waiting).
    Dovecot,
    /// Drive a Dovecot whose files `mailplane dataplane dovecot --dir` made.
    DovecotExternal(PathBuf),
    /// Any data plane speaking schema/dataplane.md.
    Http(String),
    /// No data plane: mailboxes stay PROVISIONING until one is configured.
    None,
}

fn http_url(name: &str, value: &str, url: &str) -> anyhow::Result<String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        bail!("{name}={value:?}: the URL after http: must start with http:// or https://")
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let listen = get("MAILPLANE_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen.parse().with_context(|| {
            format!("MAILPLANE_LISTEN={listen:?} is not an address like 127.0.0.1:8080")
        })?;
        let db_pool_size = match get("MAILPLANE_DB_POOL_SIZE") {
            None => 16,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => bail!("MAILPLANE_DB_POOL_SIZE={v:?} must be a number from 1 to 1000"),
            },
        };
        let mut token_policy = app::auth::TokenPolicy::default();
        if let Some(v) = get("MAILPLANE_JWT_ISSUER") {
            token_policy.issuer = v;
        }
        if let Some(v) = get("MAILPLANE_JWT_AUDIENCE") {
            token_policy.audience = v;
        }
        if let Some(v) = get("MAILPLANE_TOKEN_MAX_TTL") {
            token_policy = token_policy.with_max_lifetimes(&v)?;
        }
        Ok(Config {
            database_url: get("DATABASE_URL"),
            token_policy,
            data_dir: PathBuf::from(
                get("MAILPLANE_DATA_DIR").unwrap_or_else(|| ".mailplane".into()),
            ),
            listen,
            jwt_secret: get("MAILPLANE_JWT_SECRET"),
            db_pool_size,
            db_background_pool_size: number(&get, "MAILPLANE_DB_BACKGROUND_POOL_SIZE", 24, 4..=1000)? as u32,
            pg_bin_dir: get("MAILPLANE_PG_BINDIR").map(PathBuf::from),
            server_dir: get("MAILPLANE_SERVER_DIR").map(PathBuf::from),
            secret_key: get("MAILPLANE_SECRET_KEY"),
            dns: match get("MAILPLANE_DNS") {
                None => None,
                Some(v) => Some(v.parse().with_context(|| {
                    format!("MAILPLANE_DNS={v:?} is not a resolver address like 127.0.0.1:53")
                })?),
            },
            sms: match get("MAILPLANE_SMS") {
                None => SmsSetting::Log,
                Some(v) if v == "log" => SmsSetting::Log,
                Some(v) => match v.strip_prefix("http:") {
                    Some(url) => SmsSetting::Http(http_url("MAILPLANE_SMS", &v, url)?),
                    None => bail!("MAILPLANE_SMS={v:?} must be `log` or `http:<url>`"),
                },
            },
            dataplane: match get("MAILPLANE_DATAPLANE") {
                None => DataPlaneSetting::Dovecot,
                Some(v) => match v.split_once(':') {
                    None if v == "dovecot" => DataPlaneSetting::Dovecot,
                    None if v == "none" => DataPlaneSetting::None,
                    Some(("dovecot-external", dir)) if !dir.is_empty() => {
                        DataPlaneSetting::DovecotExternal(PathBuf::from(dir))
                    }
                    Some(("http", url)) => {
                        DataPlaneSetting::Http(http_url("MAILPLANE_DATAPLANE", &v, url)?)
                    }
                    _ => bail!(
                        "MAILPLANE_DATAPLANE={v:?} must be `dovecot`, `dovecot-external:<dir>`, `http:<url>` or `none`"
                    ),
                },
            },
            imap_listen: {
                let v = get("MAILPLANE_IMAP_LISTEN").unwrap_or_else(|| "127.0.0.1:10143".into());
                v.parse().with_context(|| {
                    format!("MAILPLANE_IMAP_LISTEN={v:?} is not an address like 127.0.0.1:10143")
                })?
            },
            app_name: get("MAILPLANE_APP_NAME").unwrap_or_else(|| "企业邮箱".into()),
            console_url: get("MAILPLANE_CONSOLE_URL"),
            console: console::SessionLimits {
                idle: duration(&get, "MAILPLANE_CONSOLE_IDLE_TIMEOUT", "30m")?,
                absolute: duration(&get, "MAILPLANE_CONSOLE_SESSION_TTL", "12h")?,
                secure_cookie: get("MAILPLANE_CONSOLE_URL").is_some_and(|u| u.starts_with("https://")),
            },
            http: api::HttpLimits {
                max_body_bytes: number(&get, "MAILPLANE_MAX_BODY_BYTES", 2 * 1024 * 1024, 16 * 1024..=64 * 1024 * 1024)?,
                graphiql: flag(&get, "MAILPLANE_GRAPHIQL")?,
            },
            server: api::ServerLimits {
                max_connections: number(&get, "MAILPLANE_MAX_CONNECTIONS", 1024, 1..=100_000)?,
                header_read_timeout: duration(&get, "MAILPLANE_HEADER_TIMEOUT", "10s")?,
                request_timeout: duration(&get, "MAILPLANE_REQUEST_TIMEOUT", "30s")?,
                ..api::ServerLimits::default()
            },
            sockets: api::SocketLimits {
                init_timeout: duration(&get, "MAILPLANE_WS_INIT_TIMEOUT", "10s")?,
                per_principal: number(&get, "MAILPLANE_WS_PER_PRINCIPAL", 8, 1..=10_000)?,
                total: number(&get, "MAILPLANE_WS_MAX", 1024, 1..=100_000)?,
            },
            migration: workers::migration::MigrationSettings {
                concurrency: number(&get, "MAILPLANE_MIGRATION_CONCURRENCY", 4, 1..=256)? as usize,
                lease: duration(&get, "MAILPLANE_MIGRATION_LEASE", "60s")?,
                backoff: duration(&get, "MAILPLANE_MIGRATION_BACKOFF", "30s")?,
                ..Default::default()
            },
            settings: app::Settings {
                webhook_targets: match flag(&get, "MAILPLANE_WEBHOOK_ALLOW_PRIVATE")? {
                    true => app::webhook::Targets::AnyAddress,
                    false => app::webhook::Targets::PublicOnly,
                },
                migration_sources: match flag(&get, "MAILPLANE_MIGRATION_ALLOW_PRIVATE")? {
                    true => app::webhook::Targets::AnyAddress,
                    false => app::webhook::Targets::PublicOnly,
                },
                sms_per_organization_per_hour: number(&get, "MAILPLANE_SMS_PER_ORGANIZATION_HOUR", 30, 1..=1_000_000)? as u32,
                sms_per_phone_per_hour: number(&get, "MAILPLANE_SMS_PER_PHONE_HOUR", 5, 1..=10_000)? as u32,
                retention: chrono::Duration::days(number(&get, "MAILPLANE_RETENTION_DAYS", 30, 1..=3_650)? as i64),
            },
        })
    }

    /// The JWT secret: configured, or read from (first created in) the data folder.
    pub fn jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                bail!("MAILPLANE_JWT_SECRET must be at least 32 characters");
            }
            return Ok(secret.as_bytes().to_vec());
        }
        let path = self.data_dir.join("jwt-secret");
        if let Ok(secret) = std::fs::read_to_string(&path) {
            return Ok(secret.trim().as_bytes().to_vec());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).context("no randomness for the JWT secret")?;
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&path, &secret)?;
        tracing::info!(path = %path.display(), "generated a JWT secret");
        Ok(secret.into_bytes())
    }
}

impl Config {
    /// The folder the private servers' files live in (see [`crate::server_dir`]).
    pub fn servers_dir(&self) -> anyhow::Result<PathBuf> {
        crate::server_dir::resolve(&self.data_dir, self.server_dir.as_deref())
    }

    /// The keys that sign and check tokens, with the configured policy.
    /// Where the console is reached from a browser: `MAILPLANE_CONSOLE_URL`, else this
    /// server's own address.
    pub fn console_base(&self) -> String {
        match &self.console_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn jwt_keys(&self) -> anyhow::Result<app::auth::JwtKeys> {
        Ok(app::auth::JwtKeys::with_policy(
            &self.jwt_secret()?,
            self.token_policy.clone(),
        )?)
    }

    /// The secret-table key: configured, or read from (first created in) the data folder.
    pub fn secret_key(&self) -> anyhow::Result<String> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        let path = self.data_dir.join("secret-key");
        if let Ok(key) = std::fs::read_to_string(&path) {
            return Ok(key.trim().to_owned());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let key = app::secrets::generate_key()?;
        write_private(&path, &key)?;
        tracing::info!(path = %path.display(), "generated a secret-table key");
        Ok(key)
    }

    /// The event store on `pool`, able to open the personal data sealed under the secret key.
    pub fn event_store(&self, pool: &sqlx::PgPool) -> anyhow::Result<eventstore::EventStore> {
        let secrets = app::secrets::SecretStore::new(pool.clone(), &self.secret_key()?)
            .context("MAILPLANE_SECRET_KEY")?;
        Ok(eventstore::EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring()))
    }
}

/// A whole number within `range`, or `default` when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<usize> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => bail!(
                "{name}={v:?} must be a number from {} to {}",
                range.start(),
                range.end()
            ),
        },
    }
}

/// A duration like `10s`, `2m` (at least a second).
fn duration(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> anyhow::Result<std::time::Duration> {
    let v = get(name).unwrap_or_else(|| default.to_owned());
    app::auth::parse_ttl(&v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{name}={v:?} must be a duration like 10s or 2m"))
}

/// A yes/no variable: unset, `0`, `false`, `no` are no; `1`, `true`, `yes` are yes.
fn flag(get: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<bool> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(v) => bail!("{name}={v:?} must be true or false"),
    }
}

/// Writes a file only its owner can read, without ever leaving it readable by others.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from(".mailplane"));
        assert!(c.database_url.is_none());
        assert_eq!(c.db_pool_size, 16);
        assert_eq!(c.settings.retention, chrono::Duration::days(30));
        let c = config(&[("MAILPLANE_RETENTION_DAYS", "7")]).unwrap();
        assert_eq!(c.settings.retention, chrono::Duration::days(7));
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("MAILPLANE_SMS", "carrier-pigeon"),
            ("MAILPLANE_SMS", "http:ftp://x"),
            ("MAILPLANE_DATAPLANE", "exchange"),
            ("MAILPLANE_DATAPLANE", "dovecot-external:"),
            ("MAILPLANE_IMAP_LISTEN", "imap"),
            ("MAILPLANE_RETENTION_DAYS", "0"),
            ("MAILPLANE_RETENTION_DAYS", "forever"),
            ("MAILPLANE_RETENTION_DAYS", "3651"),
        ] {
            let e = config(&[(name, value)]).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
        let c = config(&[
            ("MAILPLANE_SMS", "http:http://127.0.0.1:9/sms"),
            ("MAILPLANE_DATAPLANE", "dovecot-external:/srv/dovecot"),
        ])
        .unwrap();
        assert_eq!(c.sms, SmsSetting::Http("http://127.0.0.1:9/sms".into()));
        assert_eq!(
            c.dataplane,
            DataPlaneSetting::DovecotExternal("/srv/dovecot".into())
        );
        let e = config(&[("MAILPLANE_LISTEN", "localhost")]).unwrap_err();
        assert!(e.to_string().contains("MAILPLANE_LISTEN"));
        let e = config(&[("MAILPLANE_DB_POOL_SIZE", "0")]).unwrap_err();
        assert!(e.to_string().contains("MAILPLANE_DB_POOL_SIZE"));
        let c = config(&[("MAILPLANE_JWT_SECRET", "short")]).unwrap();
        assert!(c.jwt_secret().is_err());
    }

    #[test]
    fn a_generated_secret_is_kept_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("mailplane-config-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = config(&[("MAILPLANE_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        let first = c.jwt_secret().unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(c.jwt_secret().unwrap(), first);
        let mode = std::fs::metadata(dir.join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
