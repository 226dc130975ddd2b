//! Webhook deliveries to a local receiver that verifies Standard Webhooks signatures (its
//! verifier is checked against the specification's test vector), fails at random, and
//! records what it accepted: with writers committing concurrently, the accepted sequence is
//! every published event, in order, without duplicates the receiver did not cause. Then a
//! receiver that always fails: the endpoint is flagged, the event given up and logged;
//! rotation signs with two secrets; pause stops deliveries; replay delivers again.
//!
//! Bad inputs tried here: wrong signatures and stale timestamps (the verifier refuses them),
//! a bad URL and a bad category at registration.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::secrets::SecretStore;
use app::webhook::{self, Targets};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use eventstore::testkit::fresh_database;
use eventstore::{EventStore, ExpectedRevision, NewEvent};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;
use workers::webhooks::{WebhookSettings, WebhookWorker};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The tests of this binary read `$all` to its end: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Verifies a delivery as the Standard Webhooks specification says a receiver must: some
/// `v1,` signature in the header matches HMAC-SHA256(secret, "id.timestamp.body") and the
/// timestamp is within five minutes of now.
fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > 300 {
        return false;
    }
    let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|given| {
            let Ok(given) = STANDARD.decode(given) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        })
}

#[test]
fn the_receivers_verifier_follows_the_specifications_test_vector() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let body = br#"{"test": 2432232314}"#;
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert!(verify(
        secret,
        id,
        "1614265330",
        signature,
        body,
        1_614_265_330
    ));
    assert!(verify(
        secret,
        id,
        "1614265330",
        &format!("v1,bm90IGl0 {signature}"),
        body,
        1_614_265_330
    ));
    assert!(!verify(
        secret,
        id,
        "1614265330",
        signature,
        br#"{"test": 2432232315}"#,
        1_614_265_330
    ));
    assert!(!verify(
        secret,
        "msg_other",
        "1614265330",
        signature,
        body,
        1_614_265_330
    ));
    assert!(
        !verify(
            secret,
            id,
            "1614265330",
            signature,
            body,
            1_614_265_330 + 301
        ),
        "stale"
    );
    // And mailplane's signer produces what the verifier accepts.
    let key = webhook::decode_secret(secret).unwrap();
    assert_eq!(webhook::sign(&[key], id, 1_614_265_330, body), signature);
}

#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    /// Ids answered 2xx, in order.
    accepted: Arc<Mutex<Vec<String>>>,
    /// Ids answered with a failure.
    refused: Arc<Mutex<Vec<String>>>,
    /// 0–100: the share of deliveries failed on purpose.
    fail_percent: Arc<Mutex<u128>>,
    signature_headers: Arc<Mutex<Vec<String>>>,
    /// Ids whose signature did not verify.
    forged: Arc<Mutex<Vec<String>>>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    r.signature_headers.lock().unwrap().push(signature.clone());
    let secret = r.secret.lock().unwrap().clone();
    if !verify(
        &secret,
        &id,
        &timestamp,
        &signature,
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        r.forged.lock().unwrap().push(id);
        return StatusCode::UNAUTHORIZED;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["id"], json!(id), "webhook-id is the event id");
    if Uuid::new_v4().as_u128() % 100 < *r.fail_percent.lock().unwrap() {
        r.refused.lock().unwrap().push(id);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.accepted.lock().unwrap().push(id);
    StatusCode::NO_CONTENT
}

async fn receiver(r: Receiver) -> String {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn fast() -> WebhookSettings {
    WebhookSettings {
        first_retry: Duration::from_millis(5),
        max_retry: Duration::from_millis(40),
        poll: Duration::from_millis(100),
        targets: Targets::AnyAddress,
        ..WebhookSettings::default()
    }
}

async fn write(store: EventStore, writer: usize, n: usize) {
    for i in 0..n {
        let published = NewEvent::new(
            "SeatAssigned",
            json!({"member_id": Uuid::now_v7(), "w": writer, "i": i}),
        );
        store
            .append(
                &format!("subscription-{}", Uuid::now_v7()),
                ExpectedRevision::NoStream,
                &[published],
            )
            .await
            .unwrap();
        if i % 5 == 0 {
            let internal = NewEvent::new("SmsSent", json!({"w": writer}));
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

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_published_event_arrives_once_in_order_through_random_failures() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let secrets = SecretStore::new(pool.clone(), KEY).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let r = Receiver::default();
    *r.fail_percent.lock().unwrap() = 30;
    let url = receiver(r.clone()).await;

    // Bad registrations are refused and write nothing.
    for (url, categories) in [
        ("ftp://x/hook", vec![]),
        (url.as_str(), vec!["Subscription".to_owned()]),
    ] {
        assert!(webhook::register(
            &pool,
            &secrets,
            url,
            categories,
            "operator:ops",
            Targets::AnyAddress
        )
        .await
        .is_err());
    }
    assert!(webhook::list(&pool).await.unwrap().is_empty());
    let (endpoint, secret) = webhook::register(
        &pool,
        &secrets,
        &url,
        vec![],
        "operator:ops",
        Targets::AnyAddress,
    )
    .await
    .unwrap();
    assert!(secret.starts_with("whsec_"));
    *r.secret.lock().unwrap() = secret;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker =
        tokio::spawn(WebhookWorker::new(store.clone(), secrets.clone(), fast()).run(stopped));
    let writers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(write(store.clone(), w, 60)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    until("180 accepted deliveries", || {
        r.accepted.lock().unwrap().len() >= 180
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    worker.await.unwrap();

    let published = store
        .read_filtered(
            &eventstore::SubscriptionFilter::categories(["subscription"]),
            eventstore::Position::START,
            1000,
        )
        .await
        .unwrap();
    let expected: Vec<String> = published.iter().map(|e| e.event_id.to_string()).collect();
    let accepted = r.accepted.lock().unwrap().clone();
    assert_eq!(accepted, expected, "complete, in order, no duplicates");
    let refused = r.refused.lock().unwrap().clone();
    assert!(!refused.is_empty(), "the receiver failed some deliveries");
    assert!(
        r.forged.lock().unwrap().is_empty(),
        "every signature verified"
    );
    // Every failure was redelivered, and nothing else was sent twice.
    let log = webhook::deliveries(&pool, endpoint.id, 10_000)
        .await
        .unwrap();
    let delivered = log.iter().filter(|d| d.outcome == "DELIVERED").count();
    let failed = log.iter().filter(|d| d.outcome == "FAILED").count();
    assert_eq!(delivered, 180);
    assert_eq!(failed, refused.len());
    // The delivery log pages newest first by attempt number, the whole of it exactly once.
    let total = webhook::delivery_count(&pool, endpoint.id).await.unwrap();
    assert_eq!(total as usize, log.len());
    let (mut paged, mut before) = (Vec::new(), None);
    loop {
        let page = webhook::delivery_page(&pool, endpoint.id, before, 50)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        before = Some(*last);
        paged.extend(page.into_iter().map(|(_, d)| d));
    }
    assert_eq!(paged, log, "the pages are the log, newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_flagged_gives_up_and_can_be_paused_rotated_and_replayed() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let secrets = SecretStore::new(pool.clone(), KEY).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let r = Receiver::default();
    *r.fail_percent.lock().unwrap() = 100;
    let url = receiver(r.clone()).await;
    let (endpoint, secret) = webhook::register(
        &pool,
        &secrets,
        &url,
        vec!["subscription".into()],
        "operator:ops",
        Targets::AnyAddress,
    )
    .await
    .unwrap();
    *r.secret.lock().unwrap() = secret;
    write(store.clone(), 0, 3).await;

    let settings = WebhookSettings {
        flag_after: 3,
        give_up_after: chrono::Duration::milliseconds(400),
        ..fast()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker =
        tokio::spawn(WebhookWorker::new(store.clone(), secrets.clone(), settings).run(stopped));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = webhook::get(&pool, endpoint.id).await.unwrap();
        if e.status == webhook::EndpointStatus::Failing {
            assert!(e.failing_since.is_some());
            break;
        }
        assert!(Instant::now() < deadline, "never flagged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each event fails until it is given up; the endpoint then moves on to the next.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = webhook::deliveries(&pool, endpoint.id, 1000).await.unwrap();
        if log.iter().filter(|d| d.outcome == "GAVE_UP").count() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "events were not given up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Paused: nothing is sent. Rotated: two signatures, both verify. Replayed from the
    // start after the receiver recovers: the three events arrive again, in order.
    webhook::set_paused(&pool, endpoint.id, true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_while_paused = r.signature_headers.lock().unwrap().len();
    // The receiver switches to the new secret at once; the old one still signs too.
    let rotated = webhook::rotate(&pool, &secrets, endpoint.id).await.unwrap();
    *r.secret.lock().unwrap() = rotated;
    *r.fail_percent.lock().unwrap() = 0;
    write(store.clone(), 1, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.signature_headers.lock().unwrap().len(),
        sent_while_paused,
        "paused: nothing sent"
    );
    webhook::replay(&pool, endpoint.id, eventstore::Position::START)
        .await
        .unwrap();
    webhook::set_paused(&pool, endpoint.id, false)
        .await
        .unwrap();
    until("4 accepted deliveries", || {
        r.accepted.lock().unwrap().len() >= 4
    })
    .await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    let last = r.signature_headers.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last.split(' ').count(),
        2,
        "old and new secret sign during the rotation"
    );
    assert!(
        r.forged.lock().unwrap().is_empty(),
        "the new secret verifies"
    );
    assert_eq!(r.accepted.lock().unwrap().len(), 4);
    let e = webhook::get(&pool, endpoint.id).await.unwrap();
    assert_eq!(
        e.status,
        webhook::EndpointStatus::Active,
        "a success clears the flag"
    );
}

/// A redirect to `to`, counting the requests it gets.
async fn redirector(to: String, hits: Arc<Mutex<u32>>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let to = to.clone();
            let hits = hits.clone();
            async move {
                *hits.lock().unwrap() += 1;
                (StatusCode::TEMPORARY_REDIRECT, [("location", to)])
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_webhook_aimed_at_loopback_or_redirected_there_reaches_nothing() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let secrets = SecretStore::new(pool.clone(), KEY).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    // A receiver on loopback stands for our own network or the metadata service.
    let inside = Receiver::default();
    let inside_url = receiver(inside.clone()).await;
    assert!(
        webhook::register(
            &pool,
            &secrets,
            &inside_url,
            vec![],
            "operator:ops",
            Targets::PublicOnly
        )
        .await
        .is_err(),
        "refused at registration"
    );
    // Registered while private targets were allowed, delivered after they no longer are.
    let (direct, _) = webhook::register(
        &pool,
        &secrets,
        &inside_url,
        vec![],
        "operator:ops",
        Targets::AnyAddress,
    )
    .await
    .unwrap();
    // And one that answers with a redirect to the inside.
    let hits = Arc::new(Mutex::new(0));
    let bounce = redirector(inside_url.clone(), hits.clone()).await;
    write(store.clone(), 0, 1).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let public_only = WebhookSettings {
        targets: Targets::PublicOnly,
        ..fast()
    };
    let worker =
        tokio::spawn(WebhookWorker::new(store.clone(), secrets.clone(), public_only).run(stopped));
    let deadline = Instant::now() + Duration::from_secs(30);
    while webhook::deliveries(&pool, direct.id, 10)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no attempt logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    let log = webhook::deliveries(&pool, direct.id, 10).await.unwrap();
    assert!(
        log[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("public address"),
        "{log:?}"
    );
    assert!(
        inside.signature_headers.lock().unwrap().is_empty(),
        "never called"
    );

    // Redirects are not followed, even where private targets are allowed.
    webhook::delete(&pool, direct.id).await.unwrap();
    let (bounced, _) = webhook::register(
        &pool,
        &secrets,
        &bounce,
        vec![],
        "operator:ops",
        Targets::AnyAddress,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker =
        tokio::spawn(WebhookWorker::new(store.clone(), secrets.clone(), fast()).run(stopped));
    until("the redirect answered", || *hits.lock().unwrap() >= 2).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert!(
        inside.signature_headers.lock().unwrap().is_empty(),
        "the redirect was not followed"
    );
    let log = webhook::deliveries(&pool, bounced.id, 10).await.unwrap();
    assert!(
        log.iter()
            .all(|d| d.status_code == Some(307) && d.outcome == "FAILED"),
        "{log:?}"
    );
}
