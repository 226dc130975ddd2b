//! The HTTP edge against careless and hostile callers, through a real socket: content types
//! a browser form can send, bodies larger than allowed (read only up to the limit, before
//! and after the token), headers that never finish, more connections than allowed, slow
//! answers; introspection for tools and not for strangers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::graphql::Services;
use app::auth::{JwtKeys, PrincipalKind};
use app::secrets::SecretStore;
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use serde_json::{json, Value};

const SECRET: &[u8] = b"limits-secret-limits-secret-limits-secret";

struct Served {
    address: SocketAddr,
    token: String,
    pool: sqlx::PgPool,
}

async fn served(limits: api::ServerLimits) -> Served {
    let db = fresh_database().await;
    let pool = db.pool(10).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let services = Services {
        app: app::App::new(
            store.clone(),
            secrets.clone(),
            Arc::new(app::dns::DnsLookup::new(Some("127.0.0.1:9".parse().unwrap())).unwrap()),
            Arc::new(app::SystemClock),
        ),
        runner: projections::Runner::new(store),
    };
    let jwt = Arc::new(JwtKeys::from_secret(SECRET).unwrap());
    let token = jwt
        .issue(
            "buyer-1",
            PrincipalKind::Account,
            None,
            Duration::from_secs(600),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    let state = api::AppState::new(services, jwt, api::HttpLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(api::server::serve(
        listener,
        api::router(state),
        limits,
        std::future::pending(),
    ));
    std::mem::forget(db);
    Served {
        address,
        token,
        pool,
    }
}

/// Sends raw bytes, answers the status and the body (empty when the server hung up).
fn raw(address: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn post(
    address: SocketAddr,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        request.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    raw(address, &bytes)
}

fn code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

async fn events(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

const CREATE: &str = r#"{"query":"mutation { createOrganization(input: {name: \"A\", identifier: \"acme\"}) { id } }"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_text_plain_post_is_refused_before_it_runs() {
    let s = served(api::ServerLimits::default()).await;
    let token = s.token.clone();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = tokio::task::spawn_blocking({
            let token = token.clone();
            move || post(s.address, Some(&token), content_type, CREATE.as_bytes())
        })
        .await
        .unwrap();
        assert_eq!(status, 415, "{content_type}: {body}");
        assert_eq!(code(&body), "VALIDATION");
    }
    assert_eq!(events(&s.pool).await, 0, "nothing written");
    let (status, body) = tokio::task::spawn_blocking(move || {
        post(
            s.address,
            Some(&token),
            "application/json; charset=utf-8",
            CREATE.as_bytes(),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("createOrganization"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_body_is_refused_without_being_read_whole() {
    let s = served(api::ServerLimits::default()).await;
    let token = s.token.clone();
    let address = s.address;
    let answers = tokio::task::spawn_blocking(move || {
        // Anonymous: refused before the body is read, whatever it holds.
        let padding = "x".repeat(20 * 1024);
        let anonymous =
            format!(r#"{{"query":"{{ me {{ kind }} }}","variables":{{"p":"{padding}"}}}}"#);
        let a = post(address, None, "application/json", anonymous.as_bytes());
        // With a token: 2 MiB.
        let padding = "x".repeat(3 * 1024 * 1024);
        let big = format!(r#"{{"query":"{{ me {{ kind }} }}","variables":{{"p":"{padding}"}}}}"#);
        let b = post(address, Some(&token), "application/json", big.as_bytes());
        // A body that is no GraphQL request at all.
        let c = post(
            address,
            Some(&token),
            "application/json",
            b"\x00\xff{not json",
        );
        (a, b, c)
    })
    .await
    .unwrap();
    assert_eq!(answers.0 .0, 401, "{}", answers.0 .1);
    assert_eq!(code(&answers.0 .1), "UNAUTHENTICATED");
    assert_eq!(answers.1 .0, 413, "{}", answers.1 .1);
    assert_eq!(code(&answers.1 .1), "REQUEST_TOO_LARGE");
    assert_eq!(answers.2 .0, 400, "{}", answers.2 .1);
    assert_eq!(code(&answers.2 .1), "VALIDATION");
    assert_eq!(events(&s.pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_finish_are_cut_off() {
    let s = served(api::ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        ..api::ServerLimits::default()
    })
    .await;
    let address = s.address;
    let (took, answer) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let answer = raw(address, b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        (started.elapsed(), answer)
    })
    .await
    .unwrap();
    assert!(took < Duration::from_secs(10), "held for {took:?}");
    assert!(answer.0 == 408 || answer.0 == 0, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let s = served(api::ServerLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(3),
        ..api::ServerLimits::default()
    })
    .await;
    let address = s.address;
    let waited = tokio::task::spawn_blocking(move || {
        // Two idle connections take both places until their header deadline ends them.
        let idle: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let answer = raw(
            address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        drop(idle);
        (started.elapsed(), answer)
    })
    .await
    .unwrap();
    assert_eq!(waited.1 .0, 200, "{:?}", waited.1);
    assert!(
        waited.0 >= Duration::from_secs(2),
        "answered after {:?}, while both places were taken",
        waited.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_get_no_schema_and_tools_get_all_of_it() {
    let s = served(api::ServerLimits::default()).await;
    let token = s.token.clone();
    let address = s.address;
    let query = json!({ "query": STANDARD_INTROSPECTION }).to_string();
    let (anonymous, authenticated) = tokio::task::spawn_blocking(move || {
        (
            post(address, None, "application/json", query.as_bytes()),
            post(address, Some(&token), "application/json", query.as_bytes()),
        )
    })
    .await
    .unwrap();
    let a: Value = serde_json::from_str(&anonymous.1).unwrap();
    assert!(a["data"]["__schema"].is_null(), "{a}");
    assert_eq!(code(&anonymous.1), "UNAUTHENTICATED", "{a}");
    let b: Value = serde_json::from_str(&authenticated.1).unwrap();
    assert!(b.get("errors").is_none(), "{b}");
    let types = b["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Organization"));
    // The deeper limit is for introspection only: data queries keep the normal one.
    let token = s.token.clone();
    let deep = json!({"query": format!("{{ __schema {{ queryType {{ name }} }} organizations(first: 1) {{ nodes {{ {} }} }} }}", "members(first: 1) { nodes { mailbox { member { mailbox { member { mailbox { member { mailbox { member { id } } } } } } } } } }")}).to_string();
    let (_, body) = tokio::task::spawn_blocking(move || {
        post(address, Some(&token), "application/json", deep.as_bytes())
    })
    .await
    .unwrap();
    assert!(body.contains("nested too deep"), "{body}");
    assert_eq!(
        code(&body),
        "VALIDATION",
        "a refused query says so with a code"
    );
}

/// graphql-core's `get_introspection_query()` (what GraphiQL, code generators, Postman and
/// schemathesis send).
const STANDARD_INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description
        args { ...InputValue }
        type { ...TypeRef }
        isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_answers_a_retryable_unavailable() {
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = api::ServerLimits {
        request_timeout: Duration::from_millis(300),
        ..api::ServerLimits::default()
    };
    tokio::spawn(api::server::serve(
        listener,
        slow,
        limits,
        std::future::pending(),
    ));
    let (status, body) = tokio::task::spawn_blocking(move || {
        raw(
            address,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(code(&body), "UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_and_an_alias_flood_are_refused_in_milliseconds() {
    let s = served(api::ServerLimits::default()).await;
    let token = s.token.clone();
    let address = s.address;
    let mut bomb = String::from("query { ...F26 }\nfragment F0 on Query { me { kind } }\n");
    for i in 1..=26 {
        bomb.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i - 1,
            i - 1
        ));
    }
    let flood: String = (0..3_000)
        .map(|i| format!("a{i}: __schema {{ types {{ fields {{ description }} }} }} "))
        .collect();
    let anonymous_bomb = json!({ "query": bomb }).to_string();
    let bomb = json!({ "query": bomb }).to_string();
    let flood = json!({ "query": format!("{{ {flood} }}") }).to_string();
    let started = std::time::Instant::now();
    let answers = tokio::task::spawn_blocking(move || {
        (
            post(address, None, "application/json", anonymous_bomb.as_bytes()),
            post(address, Some(&token), "application/json", bomb.as_bytes()),
            post(address, Some(&token), "application/json", flood.as_bytes()),
        )
    })
    .await
    .unwrap();
    // Refused, not expanded: the figure is for the log (timing belongs to benchmarks).
    eprintln!("three refusals in {:?}", started.elapsed());
    assert_eq!(answers.0 .0, 401, "{}", answers.0 .1);
    assert_eq!(code(&answers.0 .1), "UNAUTHENTICATED");
    for (what, (_, body)) in [("the bomb", &answers.1), ("the flood", &answers.2)] {
        assert_eq!(code(body), "VALIDATION", "{what}: {body}");
        assert!(body.len() < 2_000, "{what} answered {} bytes", body.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_no_referrer_and_no_sniffing() {
    let s = served(api::ServerLimits::default()).await;
    let address = s.address;
    let answers = tokio::task::spawn_blocking(move || {
        ["GET /healthz", "GET /no-such-path", "POST /graphql"]
            .map(|line| {
                let mut stream = TcpStream::connect(address).unwrap();
                let request = format!(
                    "{line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                );
                stream.write_all(request.as_bytes()).unwrap();
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                String::from_utf8_lossy(&answer).to_ascii_lowercase()
            })
    })
    .await
    .unwrap();
    for answer in answers {
        let head = answer.split("\r\n\r\n").next().unwrap_or_default();
        assert!(head.contains("referrer-policy: no-referrer"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_http_methods_do_not_grow_the_metrics() {
    let s = served(api::ServerLimits::default()).await;
    let address = s.address;
    let scrape = tokio::task::spawn_blocking(move || {
        for i in 0..20 {
            raw(
                address,
                format!("M{i}XYZ /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
        raw(
            address,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .1
    })
    .await
    .unwrap();
    assert!(
        !scrape.contains("M0XYZ") && !scrape.contains("M19XYZ"),
        "{scrape}"
    );
    assert!(scrape.contains("method=\"OTHER\""), "{scrape}");
}
