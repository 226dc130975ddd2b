//! The GraphQL websocket against sockets that never say who they are, tokens that expire
//! while connected, and one caller opening socket after socket.

use std::sync::Arc;
use std::time::Duration;

use api::graphql::Services;
use app::auth::{JwtKeys, PrincipalKind};
use app::secrets::SecretStore;
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &[u8] = b"socket-secret-socket-secret-socket-secret";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn served(sockets: api::SocketLimits) -> (String, Arc<JwtKeys>) {
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
    let mut state = api::AppState::new(services, jwt.clone(), api::HttpLimits::default());
    state.sockets = sockets;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    std::mem::forget(db);
    (base, jwt)
}

fn token(jwt: &JwtKeys, ttl: Duration) -> String {
    jwt.issue(
        "billing",
        PrincipalKind::Service,
        Some("billing"),
        ttl,
        chrono::Utc::now().timestamp(),
    )
    .unwrap()
}

async fn connect(base: &str) -> Socket {
    let mut request = format!("ws://{base}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn init(socket: &mut Socket, payload: Value) {
    let message = json!({"type": "connection_init", "payload": payload});
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text message's type, or "closed" when the server ends the socket.
async fn next_type(socket: &mut Socket, within: Duration) -> String {
    loop {
        match tokio::time::timeout(within, socket.next()).await {
            Err(_) => return "still open".into(),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return "closed".into()
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                let t = v["type"].as_str().unwrap_or_default().to_owned();
                if t != "ping" && t != "pong" {
                    return t;
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Waits past any refusal message for the socket to end.
async fn closes_within(socket: &mut Socket, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_type(socket, left).await.as_str() {
            "closed" => return true,
            "still open" => return false,
            _ => {}
        }
    }
}

fn quick() -> api::SocketLimits {
    api::SocketLimits {
        init_timeout: Duration::from_secs(1),
        per_principal: 2,
        total: 100,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_says_who_it_is_is_closed() {
    let (base, _) = served(quick()).await;
    let mut silent = connect(&base).await;
    assert!(closes_within(&mut silent, Duration::from_secs(5)).await);
    // Nor does an init without a token get in.
    let mut anonymous = connect(&base).await;
    init(&mut anonymous, json!({})).await;
    assert_ne!(
        next_type(&mut anonymous, Duration::from_secs(5)).await,
        "connection_ack"
    );
    assert!(closes_within(&mut anonymous, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_closed_when_its_token_expires() {
    let (base, jwt) = served(quick()).await;
    let mut socket = connect(&base).await;
    let short = token(&jwt, Duration::from_secs(2));
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {short}")}),
    )
    .await;
    assert_eq!(
        next_type(&mut socket, Duration::from_secs(5)).await,
        "connection_ack"
    );
    assert!(
        closes_within(&mut socket, Duration::from_secs(8)).await,
        "an expired token keeps its socket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_caller_holds_more_sockets_than_its_share() {
    let (base, jwt) = served(quick()).await;
    let t = token(&jwt, Duration::from_secs(600));
    let auth = json!({"Authorization": format!("Bearer {t}")});
    let mut first = connect(&base).await;
    init(&mut first, auth.clone()).await;
    assert_eq!(
        next_type(&mut first, Duration::from_secs(5)).await,
        "connection_ack"
    );
    let mut second = connect(&base).await;
    init(&mut second, auth.clone()).await;
    assert_eq!(
        next_type(&mut second, Duration::from_secs(5)).await,
        "connection_ack"
    );
    let mut third = connect(&base).await;
    init(&mut third, auth.clone()).await;
    assert_ne!(
        next_type(&mut third, Duration::from_secs(5)).await,
        "connection_ack"
    );
    // A place freed is a place taken again.
    first.close(None).await.unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = connect(&base).await;
    init(&mut fourth, auth).await;
    assert_eq!(
        next_type(&mut fourth, Duration::from_secs(5)).await,
        "connection_ack"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_over_the_socket_is_refused_in_milliseconds() {
    let (base, jwt) = served(quick()).await;
    let mut socket = connect(&base).await;
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {}", token(&jwt, Duration::from_secs(60)))}),
    )
    .await;
    assert_eq!(
        next_type(&mut socket, Duration::from_secs(5)).await,
        "connection_ack"
    );
    // Each fragment spreads the previous one twice, 26 times: 2^26 fields once expanded.
    let mut bomb =
        String::from("subscription { ...F26 }\nfragment F0 on Subscription { events { id } }\n");
    for i in 1..=26 {
        bomb.push_str(&format!(
            "fragment F{i} on Subscription {{ ...F{} ...F{} }}\n",
            i - 1,
            i - 1
        ));
    }
    let started = std::time::Instant::now();
    let message = json!({"id": "1", "type": "subscribe", "payload": {"query": bomb}});
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    let answer = loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["type"] != "ping" && v["type"] != "pong" {
                    break v;
                }
            }
            other => panic!("no answer to the bomb: {other:?}"),
        }
    };
    eprintln!("the bomb refused in {:?}", started.elapsed());
    let text = answer.to_string();
    assert!(text.contains("fields"), "{text}");
    assert!(text.contains("VALIDATION"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_bigger_than_a_request_ends_the_socket_unread() {
    let (base, _) = served(quick()).await;
    let mut socket = connect(&base).await;
    // 3 MiB of connection_init, before any token: the HTTP body limit is 2 MiB.
    let padding = "x".repeat(3 * 1024 * 1024);
    let _ = socket
        .send(Message::Text(
            json!({"type": "connection_init", "payload": {"p": padding}})
                .to_string()
                .into(),
        ))
        .await;
    assert!(closes_within(&mut socket, Duration::from_secs(5)).await);
}
