//! 64 concurrent clients against the binary for a while: readers paging members, writers
//! adding departments and members and expanding seats, billing long-polling `/events`, and
//! GraphQL subscriptions over websocket. With the default pools nobody gets INTERNAL or a
//! 5xx: long-polls and subscriptions share one LISTEN connection, background work has its
//! own pool.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstore::testkit::fresh_database;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const RUN_FOR: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    bad: Mutex<Vec<String>>,
}

impl Tally {
    fn judge(&self, what: &str, status: u16, body: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let internal = body.contains("\"INTERNAL\"");
        if status >= 500 || internal {
            self.bad.lock().unwrap().push(format!(
                "{what}: HTTP {status} {}",
                &body[..body.len().min(300)]
            ));
        }
    }
}

fn post(port: u16, token: &str, query: &str, variables: Value) -> (u16, String) {
    match ureq::post(&format!("http://127.0.0.1:{port}/graphql"))
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(60))
        .send_json(json!({"query": query, "variables": variables}))
    {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (599, e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_mixing_reads_writes_long_polls_and_subscriptions_get_no_5xx() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    let market = token("orders", "service", Some("marketplace"));
    let billing = token("billing", "service", Some("billing"));
    // Twelve buyers, each with a paid subscription bound to an organization.
    let mut tenants = Vec::new();
    for b in 0..12 {
        let buyer_id = format!("buyer-{b}");
        let buyer = token(&buyer_id, "account", None);
        let input = json!({"buyerAccountId": buyer_id, "orderId": format!("LOAD-{b}"), "edition": "standard", "seats": 10, "trial": false, "months": 12});
        let sub = gql(port, &market, "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }", json!({"input": input}))["provisionSubscription"]["id"].clone();
        let org = gql(port, &buyer, "mutation($i: String!) { createOrganization(input: {name: \"负载\", identifier: $i}) { id } }", json!({"i": format!("load{b}")}))["createOrganization"]["id"].clone();
        gql(
            port,
            &buyer,
            "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
            json!({"s": sub, "o": org}),
        );
        tenants.push((buyer, sub, org));
    }
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + RUN_FOR;
    let mut threads = Vec::new();
    // 24 writers: seats, departments, members.
    for w in 0..24 {
        let (buyer, sub, org) = tenants[w % tenants.len()].clone();
        let tally = tally.clone();
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                let (what, query, vars) = match n % 3 {
                    0 => ("expandSeats", "mutation($s: ID!) { expandSeats(subscriptionId: $s, additionalSeats: 1) { newTotal } }", json!({"s": sub})),
                    1 => ("createDepartment", "mutation($o: ID!, $n: String!) { createDepartment(organizationId: $o, name: $n) { id } }", json!({"o": org, "n": format!("部门{w}-{n}")})),
                    _ => ("addMember", "mutation($o: ID!, $a: String!, $p: String!) { addMember(input: {organizationId: $o, name: \"张伟\", account: $a, phone: $p, password: \"Zw-Passw0rd!9\"}) { id } }", json!({"o": org, "a": format!("w{w}n{n}"), "p": format!("13{w:02}{n:07}")})),
                };
                let (status, body) = post(port, &buyer, query, vars);
                tally.judge(what, status, &body);
            }
        }));
    }
    // 24 readers: member pages with departments and mailboxes, subscriptions.
    for r in 0..24 {
        let (buyer, _, org) = tenants[r % tenants.len()].clone();
        let tally = tally.clone();
        threads.push(std::thread::spawn(move || {
            while Instant::now() < until {
                let (status, body) = post(port, &buyer, "query($o: ID!) { organization(id: $o) { members(first: 50) { totalCount nodes { id name department { name } mailbox { address } } } seats { purchased authorized } } subscriptions { nodes { id seats } } }", json!({"o": org}));
                tally.judge("read", status, &body);
            }
        }));
    }
    // 8 billing long-polls.
    for _ in 0..8 {
        let (tally, billing) = (tally.clone(), billing.clone());
        threads.push(std::thread::spawn(move || {
            let mut after = String::new();
            while Instant::now() < until {
                let url = format!("http://127.0.0.1:{port}/events?wait=3s&limit=100&after={after}");
                let (status, body) = match ureq::get(&url)
                    .set("Authorization", &format!("Bearer {billing}"))
                    .timeout(Duration::from_secs(60))
                    .call()
                {
                    Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                    Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
                    Err(e) => (599, e.to_string()),
                };
                tally.judge("events", status, &body);
                if let Ok(v) = serde_json::from_str::<Value>(&body) {
                    if let Some(next) = v["next"].as_str() {
                        after = next.to_owned();
                    }
                }
            }
        }));
    }
    // 8 GraphQL subscriptions.
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let (tally, billing) = (tally.clone(), billing.clone());
        sockets.push(tokio::spawn(async move {
            let mut request = format!("ws://127.0.0.1:{port}/graphql/ws").into_client_request().unwrap();
            request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let send = |v: Value| Message::Text(v.to_string().into());
            socket.send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {billing}")}}))).await.unwrap();
            socket.send(send(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events(categories: [\"subscription\"]) { position type } }"}}))).await.unwrap();
            let mut seen = 0;
            let deadline = tokio::time::Instant::now() + RUN_FOR;
            while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
                if let Message::Text(text) = message {
                    tally.judge("subscription", 200, &text);
                    if text.contains("\"next\"") {
                        seen += 1;
                    }
                    if text.contains("\"error\"") || text.contains("\"complete\"") {
                        tally.bad.lock().unwrap().push(format!("subscription ended: {text}"));
                        break;
                    }
                }
            }
            seen
        }));
    }
    tokio::task::block_in_place(|| {
        for t in threads {
            t.join().unwrap();
        }
    });
    let mut events_seen = 0;
    for s in sockets {
        events_seen += s.await.unwrap();
    }
    let bad = tally.bad.lock().unwrap().clone();
    eprintln!(
        "{} requests, {} subscription events, {} bad",
        tally.requests.load(Ordering::Relaxed),
        events_seen,
        bad.len()
    );
    assert!(bad.is_empty(), "{:#?}", &bad[..bad.len().min(10)]);
    assert!(events_seen > 0, "the subscriptions saw the seat expansions");
    let log = stop(server);
    assert!(!log.contains("pool timed out"), "the pool ran dry");
    let _ = std::fs::remove_dir_all(&dir);
}
