//! The three outward channels — `GET /events` (with long-poll), the GraphQL `events` query,
//! and the GraphQL subscription over websocket — read while writers commit concurrently
//! (some in two-stream transactions held open): each delivers every published event once,
//! in the log's order, and never an internal one to billing.
//!
//! Bad inputs tried here: no token, a forged token, an account's token, a malformed cursor,
//! limit 0 and 5000, an over-long wait, an upper-case category.

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::graphql::{build_schema, Services};
use app::auth::{JwtKeys, Principal, PrincipalKind};
use app::secrets::SecretStore;
use eventstore::testkit::fresh_database;
use eventstore::{EventStore, ExpectedRevision, NewEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const SECRET: &[u8] = b"channels-test-secret-channels-test-secret";
const WRITERS: usize = 4;
const PER_WRITER: usize = 120;

struct Served {
    base: String,
    store: EventStore,
    schema: api::graphql::MailplaneSchema,
    jwt: Arc<JwtKeys>,
}

async fn serve() -> Served {
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let schema = build_schema(Services {
        app: app::App::new(
            store.clone(),
            secrets.clone(),
            Arc::new(app::dns::DnsLookup::new(Some("127.0.0.1:9".parse().unwrap())).unwrap()),
            Arc::new(app::SystemClock),
        ),
        runner: projections::Runner::new(store.clone()),
    });
    let jwt = Arc::new(JwtKeys::from_secret(SECRET).unwrap());
    let state = api::AppState {
        store: store.clone(),
        jwt: jwt.clone(),
        metrics: Arc::new(api::Metrics::new()),
        schema: schema.clone(),
        introspection: schema.clone(),
        http: api::HttpLimits::default(),
        sockets: api::SocketLimits::default(),
        open_sockets: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    // The database handle lives as long as the test process: leak it on purpose.
    std::mem::forget(db);
    Served {
        base,
        store,
        schema,
        jwt,
    }
}

fn token(jwt: &JwtKeys, sub: &str, kind: PrincipalKind, scope: Option<&str>) -> String {
    jwt.issue(
        sub,
        kind,
        scope,
        Duration::from_secs(600),
        chrono::Utc::now().timestamp(),
    )
    .unwrap()
}

/// Writers append published events (subscription) and internal ones (sms), some two
/// streams at a time in a transaction held open a moment.
async fn write(store: EventStore, writer: usize) {
    for i in 0..PER_WRITER {
        let published = NewEvent::new(
            "SeatAssigned",
            json!({"member_id": Uuid::now_v7(), "w": writer, "i": i}),
        );
        let internal = NewEvent::new("SmsSent", json!({"w": writer, "i": i}));
        if i % 4 == 0 {
            let mut tx = store.begin().await.unwrap();
            tx.append(
                &format!("subscription-{}", Uuid::now_v7()),
                ExpectedRevision::NoStream,
                &[published],
            )
            .await
            .unwrap();
            tx.append(
                &format!("sms-{}", Uuid::now_v7()),
                ExpectedRevision::NoStream,
                &[internal],
            )
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            tx.commit().await.unwrap();
        } else {
            store
                .append(
                    &format!("subscription-{}", Uuid::now_v7()),
                    ExpectedRevision::NoStream,
                    &[published],
                )
                .await
                .unwrap();
            if i % 3 == 0 {
                store
                    .append(
                        &format!("sms-{}", Uuid::now_v7()),
                        ExpectedRevision::NoStream,
                        &[internal],
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

const EXPECTED: usize = WRITERS * PER_WRITER;

/// Reads the HTTP feed (long-polling) until it has `EXPECTED` events: their positions.
async fn read_http(base: String, token: String) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < EXPECTED {
        assert!(
            Instant::now() < deadline,
            "the HTTP feed stalled at {}",
            seen.len()
        );
        let body: Value = client
            .get(format!(
                "http://{base}/events?after={cursor}&limit=37&wait=2s"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in body["events"].as_array().unwrap() {
            assert_eq!(
                e["type"], "SeatAssigned",
                "billing sees published events only: {e}"
            );
            seen.push(e["position"].as_str().unwrap().to_owned());
        }
        cursor = body["next"].as_str().unwrap().to_owned();
    }
    seen
}

/// Pages the GraphQL `events` query until it has `EXPECTED` events.
async fn read_query(schema: api::graphql::MailplaneSchema, billing: Principal) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < EXPECTED {
        assert!(
            Instant::now() < deadline,
            "the events query stalled at {}",
            seen.len()
        );
        let request = async_graphql::Request::new(
            "query($a: String) { events(after: $a, first: 50) { nodes { position type } pageInfo { endCursor hasNextPage } } }",
        )
        .variables(async_graphql::Variables::from_json(json!({"a": after})))
        .data(app::Request::client(Some(billing.clone()), Uuid::now_v7()));
        let answer = schema
            .execute(request)
            .await
            .into_result()
            .unwrap()
            .data
            .into_json()
            .unwrap();
        let page = &answer["events"];
        let nodes = page["nodes"].as_array().unwrap();
        for n in nodes {
            assert_eq!(n["type"], "SeatAssigned");
            seen.push(n["position"].as_str().unwrap().to_owned());
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    seen
}

/// Subscribes over websocket (graphql-transport-ws) until it has `EXPECTED` events.
async fn read_subscription(base: String, token: String) -> Vec<String> {
    let mut request = format!("ws://{base}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})))
        .await
        .unwrap();
    socket
        .send(send(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events { position type } }"}})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.len() < EXPECTED {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the subscription stalled at {}", seen.len()))
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        match v["type"].as_str().unwrap() {
            "connection_ack" | "ping" | "pong" => {}
            "next" => {
                let e = &v["payload"]["data"]["events"];
                assert_eq!(e["type"], "SeatAssigned");
                seen.push(e["position"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_channels_deliver_every_published_event_once_in_order_under_concurrent_writers() {
    let s = serve().await;
    let billing_token = token(&s.jwt, "billing", PrincipalKind::Service, Some("billing"));
    let billing = Principal {
        id: "billing".into(),
        kind: PrincipalKind::Service,
        scope: Some("billing".into()),
    };
    // Readers start first: they catch up, then follow live.
    let http = tokio::spawn(read_http(s.base.clone(), billing_token.clone()));
    let query = tokio::spawn(read_query(s.schema.clone(), billing));
    let ws = tokio::spawn(read_subscription(s.base.clone(), billing_token.clone()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(s.store.clone(), w)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let (http, query, ws) = (http.await.unwrap(), query.await.unwrap(), ws.await.unwrap());

    // The log's own order of published events, read after the writers finished.
    let all = s
        .store
        .read_filtered(
            &eventstore::SubscriptionFilter::categories(["subscription"]),
            eventstore::Position::START,
            10_000,
        )
        .await
        .unwrap();
    let expected: Vec<String> = all.iter().map(|e| e.position.to_string()).collect();
    assert_eq!(expected.len(), EXPECTED);
    assert_eq!(http, expected, "HTTP feed: complete, in order, no repeats");
    assert_eq!(
        query, expected,
        "events query: complete, in order, no repeats"
    );
    assert_eq!(ws, expected, "subscription: complete, in order, no repeats");

    // An operator sees internal events too.
    let operator = token(&s.jwt, "ops", PrincipalKind::Operator, None);
    let body: Value = reqwest::Client::new()
        .get(format!("http://{}/events?limit=1000&category=sms", s.base))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!body["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_http_feed_refuses_bad_requests_with_a_code() {
    let s = serve().await;
    let billing = token(&s.jwt, "billing", PrincipalKind::Service, Some("billing"));
    let account = token(&s.jwt, "buyer-1", PrincipalKind::Account, None);
    let client = reqwest::Client::new();
    let get = |query: &str, token: Option<&str>| {
        let mut r = client.get(format!("http://{}/events{query}", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    for (query, token, status, code, field) in [
        ("", None, 401, "UNAUTHENTICATED", None),
        ("", Some("forged.token.here"), 401, "UNAUTHENTICATED", None),
        ("", Some(account.as_str()), 403, "FORBIDDEN", None),
        (
            "?after=not-a-cursor",
            Some(billing.as_str()),
            400,
            "VALIDATION",
            Some("after"),
        ),
        (
            "?limit=0",
            Some(billing.as_str()),
            400,
            "VALIDATION",
            Some("limit"),
        ),
        (
            "?limit=5000",
            Some(billing.as_str()),
            400,
            "VALIDATION",
            Some("limit"),
        ),
        (
            "?wait=10m",
            Some(billing.as_str()),
            400,
            "VALIDATION",
            Some("wait"),
        ),
        (
            "?category=Subscription",
            Some(billing.as_str()),
            400,
            "VALIDATION",
            Some("category"),
        ),
    ] {
        let answer = get(query, token).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{query}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{query}: {body}");
    }
    // An empty feed answers at once without wait, and after the wait with it.
    let started = Instant::now();
    let body: Value = get("?wait=1s", Some(&billing))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(body["events"], json!([]));
    assert_eq!(body["next"], "0.0");
}
