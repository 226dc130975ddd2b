//! Workers against a real PostgreSQL: SMS through a failing HTTP gateway (one delivery per
//! event), the data plane worker waiting out a data plane that is down, timers fired once
//! by two workers as the clock moves, and the process manager's reactions.
//!
//! Bad inputs tried here: a gateway answering 503 then 2xx, a gateway refusing (400), a
//! member without a phone, a data plane answering 503, a replay from the first event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::auth::{Principal, PrincipalKind};
use app::dns::{DnsLookup, PublishedByOwner};
use app::secrets::{Purpose, SecretStore};
use app::{streams, App, ManualClock, Request};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{Duration, Utc};
use domain::mailbox::{Mailbox, MailboxStatus};
use domain::maildomain::{DnsAnswers, VerificationMode};
use eventstore::testkit::fresh_database;
use eventstore::{Direction, EventStore, StreamPosition};
use projections::{Projection, Runner};
use serde_json::Value;
use uuid::Uuid;
use workers::consumer::drain;
use workers::dataplane::{DataPlaneWorker, HttpDataPlane};
use workers::managers::ProcessManager;
use workers::sms::{HttpProvider, SmsWorker};
use workers::timers::TimerWorker;
use workers::Failure;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const PASSWORD: &str = "Zw-Passw0rd!9";

/// Every test here reads `$all` to its end, which stops below the oldest open transaction
/// of the whole cluster: the tests of this binary run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct World {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    app: App,
    secrets: SecretStore,
    runner: Runner,
}

impl World {
    /// Folds every read model up to the last event (access checks and workers read them).
    async fn fold(&self) {
        self.runner
            .wait_for_all(std::time::Duration::from_secs(30))
            .await
            .unwrap();
    }

    /// The same application at `clock`'s time.
    fn at(&self, clock: &ManualClock) -> App {
        self.app.clone().with_clock(Arc::new(clock.clone()))
    }

    fn store(&self) -> &EventStore {
        self.app.store()
    }
}

async fn world() -> World {
    let serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let secrets = SecretStore::new(pool.clone(), KEY).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    // Domains "publish" the provider's records; tests of real lookups use a DNS server.
    let app = App::new(
        store.clone(),
        secrets.clone(),
        Arc::new(PublishedByOwner(published_records())),
        Arc::new(app::SystemClock),
    );
    World {
        _serial: serial,
        app,
        secrets,
        runner: Runner::new(store),
    }
}

fn account(id: &str) -> Request {
    let principal = Principal {
        id: id.into(),
        kind: PrincipalKind::Account,
        scope: None,
    };
    Request::client(Some(principal), Uuid::now_v7())
}

/// The buyer, who created and administers the organization.
fn buyer() -> Request {
    account("buyer-1")
}

fn market() -> Request {
    let principal = Principal {
        id: "orders".into(),
        kind: PrincipalKind::Service,
        scope: Some("marketplace".into()),
    };
    Request::client(Some(principal), Uuid::now_v7())
}

/// A trial with 10 seats bound to a new organization: (organization, subscription).
async fn organization(w: &World) -> (Uuid, Uuid) {
    bound_organization(w, None).await
}

/// An organization bound to a trial, or to a purchase of `months`.
async fn bound_organization(w: &World, months: Option<u32>) -> (Uuid, Uuid) {
    let order = app::subscription::Order {
        buyer_account_id: "buyer-1".into(),
        order_id: "O-1".into(),
        edition: "standard".into(),
        seats: 10,
        trial: months.is_none(),
        months,
    };
    let sub = app::subscription::provision(&w.app, &market(), &order)
        .await
        .unwrap()
        .answer;
    let new = app::organization::NewOrganization {
        name: "阿克米科技".into(),
        identifier: "acme".into(),
        as_reseller: false,
        creator_phone: Some("13900139000".into()),
    };
    let org = app::organization::create(&w.app, &buyer(), &new)
        .await
        .unwrap()
        .answer;
    w.fold().await;
    app::organization::bind_app(&w.app, &buyer(), sub, org)
        .await
        .unwrap();
    w.fold().await;
    (org, sub)
}

/// An authorized member (the operation keeps its password for the SMS and the mailbox).
async fn member(w: &World, org: Uuid, account: &str, phone: Option<&str>) -> Uuid {
    let new = app::member::NewMember {
        name: "张伟".into(),
        account: account.into(),
        phone: phone.map(Into::into),
        email: phone.is_none().then(|| format!("{account}@example.net")),
        password: PASSWORD.into(),
        department_id: None,
        role: None,
        employment_type: None,
        hire_date: None,
    };
    let id = app::member::add(&w.app, &buyer(), org, &new)
        .await
        .unwrap()
        .answer;
    app::member::authorize(&w.app, &buyer(), org, &[id], &[])
        .await
        .unwrap();
    w.fold().await;
    id
}

/// An unverified domain of the organization.
async fn add_domain(w: &World, org: Uuid, name: &str) -> Uuid {
    let id = app::maildomain::add(&w.app, &buyer(), org, name, VerificationMode::Full)
        .await
        .unwrap()
        .answer;
    w.fold().await;
    id
}

/// What DNS answers once the provider's records are published.
fn published_records() -> DnsAnswers {
    DnsAnswers {
        mx: vec![
            (5, "mx1.mailplane.test".into()),
            (10, "mx2.mailplane.test".into()),
        ],
        txt: vec!["v=spf1 include:spf.mailplane.test -all".into()],
        cname: vec![("mp1._domainkey".into(), "dkim.mailplane.test".into())],
        dnsauth_txt: vec![],
    }
}

/// A verified domain `acme.cn` of the organization.
async fn domain(w: &World, org: Uuid) -> Uuid {
    let id = add_domain(w, org, "acme.cn").await;
    app::maildomain::verify(&w.app, &buyer(), id).await.unwrap();
    w.fold().await;
    id
}

async fn open_as(w: &World, member: Uuid, domain: Uuid, local_part: Option<&str>) -> Uuid {
    let id = app::mailbox::open(&w.app, &buyer(), member, domain, local_part.map(Into::into))
        .await
        .unwrap()
        .answer;
    w.fold().await;
    id
}

async fn open(w: &World, member: Uuid, domain: Uuid) -> Uuid {
    open_as(w, member, domain, None).await
}

async fn types(w: &World, stream: &str) -> Vec<String> {
    w.store()
        .read_stream(stream, Direction::Forwards, StreamPosition::Start, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn mailbox_status(w: &World, id: Uuid) -> MailboxStatus {
    w.app
        .load::<Mailbox>(&streams::mailbox(id))
        .await
        .unwrap()
        .status
}

/// A local HTTP server; answers what `respond` says and remembers every request.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<(String, HeaderMap, Value)>>>,
    tries: Arc<Mutex<HashMap<String, u32>>>,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A DNS server on loopback that answers every query NXDOMAIN at once (the domain's
/// owner published nothing); the end-to-end test serves real records with dnsmasq.
async fn nxdomain_server() -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if n < 12 {
                continue;
            }
            // The query itself, flagged as a response (QR) with RCODE 3 (NXDOMAIN).
            buf[2] |= 0x80;
            buf[3] = (buf[3] & 0xf0) | 3;
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    address
}

#[tokio::test]
async fn sms_reaches_the_gateway_once_per_event_through_failures() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let sent = member(&w, org, "zw", Some("13800138000")).await;
    let refused = member(&w, org, "li", Some("13900000000")).await;
    let phoneless = member(&w, org, "wang", None).await;

    // The gateway fails each message's first two tries, refuses one number outright, and
    // counts deliveries per idempotency key.
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route(
            "/sms",
            axum::routing::post(|State(r): State<Receiver>, headers: HeaderMap, Json(body): Json<Value>| async move {
                let id = headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned();
                assert_eq!(body["id"], Value::String(id.clone()));
                if body["to"] == "13900000000" {
                    return StatusCode::BAD_REQUEST;
                }
                let tries = {
                    let mut t = r.tries.lock().unwrap();
                    let n = t.entry(id).or_default();
                    *n += 1;
                    *n
                };
                if tries <= 2 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                r.requests.lock().unwrap().push(("POST /sms".into(), headers, body));
                StatusCode::OK
            }),
        )
        .with_state(receiver.clone());
    let url = serve(app).await;
    let worker = SmsWorker::new(
        w.app.clone(),
        Box::new(
            HttpProvider::new(format!("{url}/sms"))
                .with_retries(5, std::time::Duration::from_millis(1)),
        ),
        "企业邮箱",
        "https://console.example",
    );
    drain(w.store(), &worker).await.unwrap();

    let delivered = receiver.requests.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1, "one delivery for one authorization");
    assert_eq!(
        delivered[0].2["text"],
        "尊敬的张伟，您好。阿克米科技已为您开通企业邮箱应用。您的账号名：zw@acme，密码：Zw-Passw0rd!9。"
    );
    assert_eq!(
        w.secrets.get(Purpose::InitialPassword, sent).await.unwrap(),
        None,
        "the password is deleted once sent"
    );
    assert_eq!(
        w.secrets
            .get(Purpose::InitialPassword, refused)
            .await
            .unwrap(),
        None,
        "a refused message cannot use it later either"
    );
    let outcomes: Vec<(String, String)> = sqlx::query_as("SELECT event_type, data::text FROM events WHERE stream_name LIKE 'sms-%' ORDER BY tx_id, seq")
        .fetch_all(w.store().pool())
        .await
        .unwrap();
    let kinds: Vec<&str> = outcomes.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["SmsSent", "SmsFailed", "SmsFailed"]);
    assert!(outcomes[1].1.contains("400"), "{}", outcomes[1].1);
    assert!(outcomes[2].1.contains("no phone"), "{}", outcomes[2].1);
    let all: Vec<String> = sqlx::query_scalar("SELECT data::text || metadata::text FROM events")
        .fetch_all(w.store().pool())
        .await
        .unwrap();
    assert!(
        all.iter().all(|e| !e.contains(PASSWORD)),
        "no password in any event"
    );

    // Replaying every event from the start sends nothing again.
    sqlx::query("DELETE FROM checkpoints WHERE consumer = 'worker:sms'")
        .execute(w.store().pool())
        .await
        .unwrap();
    drain(w.store(), &worker).await.unwrap();
    assert_eq!(receiver.requests.lock().unwrap().len(), 1);
    let _ = phoneless;
}

#[tokio::test]
async fn the_data_plane_worker_waits_while_the_data_plane_is_down() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let m = member(&w, org, "zw", Some("13800138000")).await;
    let d = domain(&w, org).await;
    let mailbox = open(&w, m, d).await;

    let receiver = Receiver::default();
    let down = Arc::new(Mutex::new(true));
    let app = axum::Router::new()
        .fallback({
            let down = down.clone();
            move |State(r): State<Receiver>, request: axum::extract::Request| async move {
                let line = format!("{} {}", request.method(), request.uri().path());
                let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                    .await
                    .unwrap();
                if *down.lock().unwrap() {
                    return (StatusCode::SERVICE_UNAVAILABLE, "maintenance".to_owned());
                }
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                r.requests
                    .lock()
                    .unwrap()
                    .push((line.clone(), HeaderMap::new(), json));
                let answer = if line.ends_with("/usage") {
                    r#"{"bytes": 0}"#
                } else {
                    "{}"
                };
                (StatusCode::OK, answer.to_owned())
            }
        })
        .with_state(receiver.clone());
    let url = serve(app).await;
    let worker = DataPlaneWorker::new(
        w.app.clone(),
        Arc::new(HttpDataPlane::new(url)),
        w.runner.clone(),
    );

    let e = drain(w.store(), &worker).await.unwrap_err();
    assert!(
        matches!(e, Failure::Transient(ref r) if r.contains("503")),
        "{e}"
    );
    assert_eq!(
        mailbox_status(&w, mailbox).await,
        MailboxStatus::Failed,
        "shown as failed while down"
    );
    let again = drain(w.store(), &worker).await.unwrap_err();
    assert!(matches!(again, Failure::Transient(_)));
    assert_eq!(
        types(&w, &streams::mailbox(mailbox)).await,
        ["MailboxOpened", "MailboxProvisioningFailed"],
        "the failure is recorded once"
    );

    *down.lock().unwrap() = false;
    drain(w.store(), &worker).await.unwrap();
    assert_eq!(mailbox_status(&w, mailbox).await, MailboxStatus::Active);
    let requests = receiver.requests.lock().unwrap().clone();
    let lines: Vec<&str> = requests.iter().map(|(l, _, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "PUT /domains/acme.cn".to_owned(),
            format!("PUT /mailboxes/{mailbox}")
        ]
    );
    let created = &requests[1].2;
    assert_eq!(created["address"], "zhangwei@acme.cn");
    assert!(created["passwordHash"]
        .as_str()
        .unwrap()
        .starts_with("{ARGON2ID}$argon2id$"));
    assert!(
        !created.to_string().contains(PASSWORD),
        "no plaintext reaches the data plane"
    );

    // Closing and purging act on the data plane, once each.
    app::mailbox::close(&w.app, &buyer(), mailbox)
        .await
        .unwrap();
    app::mailbox::purge(&w.app, &buyer(), mailbox)
        .await
        .unwrap();
    drain(w.store(), &worker).await.unwrap();
    let lines: Vec<String> = receiver
        .requests
        .lock()
        .unwrap()
        .iter()
        .skip(2)
        .map(|(l, _, _)| l.clone())
        .collect();
    assert_eq!(
        lines,
        [
            format!("POST /mailboxes/{mailbox}/suspend"),
            format!("DELETE /mailboxes/{mailbox}")
        ]
    );
}

#[tokio::test]
async fn timers_fire_once_across_two_workers_as_the_clock_moves() {
    let w = world().await;
    let (org, sub) = organization(&w).await;
    let m = member(&w, org, "zw", Some("13800138000")).await;
    let d = domain(&w, org).await;
    let mailbox = open(&w, m, d).await;
    for p in Projection::ALL {
        w.runner.catch_up(p).await.unwrap();
    }
    let clock = ManualClock::new(Utc::now());
    let timers = |clock: &ManualClock| TimerWorker::new(w.at(clock));
    let manager = ProcessManager::new(w.at(&clock), w.runner.clone());
    let due: Vec<String> = sqlx::query_scalar("SELECT kind FROM timers ORDER BY kind")
        .fetch_all(w.store().pool())
        .await
        .unwrap();
    assert_eq!(
        due,
        ["subscription_expiry"],
        "the verified domain needs no re-check"
    );
    assert_eq!(
        timers(&clock).fire_due().await.unwrap(),
        0,
        "nothing is due yet"
    );

    // Day 16: the trial ends. Two workers race for the timer; it fires once.
    clock.advance(Duration::days(16));
    let (first, second) = (timers(&clock), timers(&clock));
    let (a, b) = tokio::join!(first.fire_due(), second.fire_due());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        types(&w, &streams::subscription(sub))
            .await
            .iter()
            .filter(|t| *t == "TrialExpired")
            .count(),
        1
    );

    // The process manager closes the organization's mailboxes; the data purge is due at
    // once for a trial: every mailbox is purged, then the purge is recorded.
    drain(w.store(), &manager).await.unwrap();
    assert_eq!(mailbox_status(&w, mailbox).await, MailboxStatus::Closed);
    w.runner.catch_up(Projection::Timers).await.unwrap();
    assert_eq!(
        timers(&clock).fire_due().await.unwrap(),
        1,
        "the data purge"
    );
    assert_eq!(mailbox_status(&w, mailbox).await, MailboxStatus::Purged);
    let sub_events = types(&w, &streams::subscription(sub)).await;
    assert_eq!(
        sub_events.last().map(String::as_str),
        Some("SubscriptionDataPurged")
    );
    w.runner.catch_up(Projection::Timers).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM timers")
        .fetch_one(w.store().pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "every timer was fired or cancelled");
}

#[tokio::test]
async fn the_recycle_bin_empties_at_day_thirty_and_pending_domains_are_rechecked() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let m = member(&w, org, "zw", Some("13800138000")).await;
    let d = domain(&w, org).await;
    let mailbox = open(&w, m, d).await;
    let clock = ManualClock::new(Utc::now());
    app::mailbox::close(&w.at(&clock), &buyer(), mailbox)
        .await
        .unwrap();
    // A second, pending domain whose records nobody published: re-checked every 10 minutes.
    let pending = add_domain(&w, org, "acme.net").await;
    w.runner.catch_up(Projection::Timers).await.unwrap();
    // The DNS server knows no name: every record is missing, the domain stays unverified.
    let dns = DnsLookup::new(Some(nxdomain_server().await)).unwrap();
    let timers = TimerWorker::new(w.at(&clock).with_dns(Arc::new(dns)));

    clock.advance(Duration::minutes(11));
    assert_eq!(timers.fire_due().await.unwrap(), 1, "the first re-check");
    assert_eq!(
        types(&w, &streams::maildomain(pending)).await,
        ["DomainAdded", "DomainVerificationChecked"]
    );
    assert_eq!(
        timers.fire_due().await.unwrap(),
        0,
        "the next one is ten minutes later"
    );
    clock.advance(Duration::minutes(10));
    assert_eq!(timers.fire_due().await.unwrap(), 1);

    clock.advance(Duration::days(29));
    let fired = timers.fire_due().await.unwrap();
    assert_eq!(
        mailbox_status(&w, mailbox).await,
        MailboxStatus::Closed,
        "day 29: still in the recycle bin"
    );
    assert_eq!(
        fired, 2,
        "the trial's end (day 15) and the last re-check: 48 hours are over"
    );
    clock.advance(Duration::days(1));
    assert_eq!(timers.fire_due().await.unwrap(), 1);
    assert_eq!(mailbox_status(&w, mailbox).await, MailboxStatus::Purged);
    let left: Vec<String> = sqlx::query_scalar("SELECT kind FROM timers")
        .fetch_all(w.store().pool())
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn deleting_a_member_closes_its_mailbox() {
    let w = world().await;
    let (org, sub) = organization(&w).await;
    let m = member(&w, org, "zw", Some("13800138000")).await;
    let d = domain(&w, org).await;
    let mailbox = open(&w, m, d).await;
    let manager = ProcessManager::new(w.app.clone(), w.runner.clone());
    app::member::disable(&w.app, &buyer(), m).await.unwrap();
    app::member::delete(&w.app, &buyer(), m).await.unwrap();
    let seats = app::subscription::state(&w.app, sub).await.unwrap();
    assert_eq!(seats.available_seats(), 10, "the seat is free again");
    drain(w.store(), &manager).await.unwrap();
    let state = w
        .app
        .load::<Mailbox>(&streams::mailbox(mailbox))
        .await
        .unwrap();
    assert_eq!(state.status, MailboxStatus::Closed);
    // Handled again (a restart before the checkpoint): nothing more happens.
    sqlx::query("DELETE FROM checkpoints WHERE consumer = 'worker:process-manager'")
        .execute(w.store().pool())
        .await
        .unwrap();
    drain(w.store(), &manager).await.unwrap();
    // Disabled first (logins refused, mail kept), then into the recycle bin.
    assert_eq!(
        types(&w, &streams::mailbox(mailbox)).await,
        ["MailboxOpened", "MailboxSuspended", "MailboxClosed"]
    );
}

#[tokio::test]
async fn an_invited_admin_gets_link_and_token_by_sms_and_the_invitation_expires() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let invitee = app::organization::Invitee {
        name: "李娜".into(),
        phone: "13800138009".into(),
        email: "lina@acme.cn".into(),
        valid_hours: 72,
    };
    let now = Utc::now();
    let invitation = app::organization::invite_admin(&w.app, &buyer(), org, &invitee)
        .await
        .unwrap()
        .answer;
    // The operation made the one-time token and kept it for the message only.
    let token = w
        .secrets
        .get(Purpose::InvitationToken, invitation)
        .await
        .unwrap()
        .unwrap();
    let logged: Vec<String> = sqlx::query_scalar("SELECT data::text FROM events")
        .fetch_all(w.store().pool())
        .await
        .unwrap();
    assert!(
        logged.iter().all(|e| !e.contains(&token)),
        "no token in events"
    );

    let file = std::env::temp_dir().join(format!("mailplane-sms-{}.log", Uuid::now_v7()));
    let worker = SmsWorker::new(
        w.app.clone(),
        Box::new(workers::sms::LogProvider::new(file.clone())),
        "企业邮箱",
        "https://console.example/",
    );
    drain(w.store(), &worker).await.unwrap();
    let written = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    let message: Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(message["to"], "13800138009");
    assert_eq!(
        message["text"],
        format!("尊敬的李娜，您好。阿克米科技邀请您成为管理员，请在3天内打开链接接受邀请：https://console.example/invitations/{invitation}?token={token}")
    );
    assert_eq!(
        w.secrets
            .get(Purpose::InvitationToken, invitation)
            .await
            .unwrap(),
        None
    );

    // Three days later the invitation expires by itself.
    w.runner.catch_up(Projection::Timers).await.unwrap();
    let clock = ManualClock::new(now);
    let timers = TimerWorker::new(w.at(&clock));
    clock.advance(Duration::hours(71));
    assert_eq!(timers.fire_due().await.unwrap(), 0);
    clock.advance(Duration::hours(2));
    assert_eq!(timers.fire_due().await.unwrap(), 1);
    let org_events = types(&w, &streams::organization(org)).await;
    assert_eq!(
        org_events.last().map(String::as_str),
        Some("InvitationExpired")
    );
}

#[tokio::test]
async fn an_expired_term_closes_mailboxes_and_a_renewal_in_time_gives_them_back() {
    let w = world().await;
    let (org, sub) = bound_organization(&w, Some(1)).await;
    let d = domain(&w, org).await;
    let kept = open(&w, member(&w, org, "zw", Some("13800138000")).await, d).await;
    let li = member(&w, org, "li", Some("13800138001")).await;
    let closed_by_admin = open_as(&w, li, d, Some("li")).await;
    // Five days in, an admin closes one mailbox (its recycle-bin purge is at day 35).
    let clock = ManualClock::new(Utc::now());
    clock.advance(Duration::days(5));
    app::mailbox::close(&w.at(&clock), &buyer(), closed_by_admin)
        .await
        .unwrap();
    w.fold().await;
    let timers = TimerWorker::new(w.at(&clock));
    let manager = ProcessManager::new(w.at(&clock), w.runner.clone());

    // At day 32 the month's term has lapsed: mail is suspended.
    clock.advance(Duration::days(27));
    assert_eq!(timers.fire_due().await.unwrap(), 1);
    drain(w.store(), &manager).await.unwrap();
    assert_eq!(mailbox_status(&w, kept).await, MailboxStatus::Closed);

    // Renewed within the 30 days: the expiry's closures are undone, the admin's is not,
    // and the data deletion is called off.
    app::subscription::renew(&w.at(&clock), &market(), sub, 1)
        .await
        .unwrap();
    drain(w.store(), &manager).await.unwrap();
    assert_eq!(mailbox_status(&w, kept).await, MailboxStatus::Active);
    assert_eq!(
        mailbox_status(&w, closed_by_admin).await,
        MailboxStatus::Closed
    );
    w.runner.catch_up(Projection::Timers).await.unwrap();
    let purges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM timers WHERE kind = 'subscription_data_purge'")
            .fetch_one(w.store().pool())
            .await
            .unwrap();
    assert_eq!(purges, 0);
}

#[tokio::test]
async fn replacing_a_domain_renames_its_mailboxes() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let d = domain(&w, org).await;
    let mailbox = open(&w, member(&w, org, "zw", Some("13800138000")).await, d).await;
    app::maildomain::replace(&w.app, &buyer(), d, "acme.com.cn")
        .await
        .unwrap();
    let manager = ProcessManager::new(w.app.clone(), w.runner.clone());
    drain(w.store(), &manager).await.unwrap();
    let state = w
        .app
        .load::<Mailbox>(&streams::mailbox(mailbox))
        .await
        .unwrap();
    assert_eq!(state.address, "zhangwei@acme.com.cn");
    // The old address is free, the new one taken.
    let claims: Vec<String> =
        sqlx::query_scalar("SELECT key FROM claims WHERE scope = 'mailbox_address'")
            .fetch_all(w.store().pool())
            .await
            .unwrap();
    assert_eq!(claims, ["zhangwei@acme.com.cn"]);
}

/// Counts how often each event was handled.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<HashMap<Uuid, u32>>>);

impl workers::Handler for Counter {
    fn name(&self) -> &'static str {
        "test:counter"
    }

    fn filter(&self) -> eventstore::SubscriptionFilter {
        eventstore::SubscriptionFilter::categories(["counted"])
    }

    async fn handle(&self, event: &eventstore::RecordedEvent) -> Result<(), Failure> {
        *self.0.lock().unwrap().entry(event.event_id).or_default() += 1;
        Ok(())
    }
}

async fn append_counted(w: &World, n: usize) {
    for i in 0..n {
        let event = eventstore::NewEvent::new("Counted", serde_json::json!({ "i": i }));
        w.store()
            .append(
                &format!("counted-{}", Uuid::now_v7()),
                eventstore::ExpectedRevision::NoStream,
                &[event],
            )
            .await
            .unwrap();
    }
}

async fn handled_all(counter: &Counter, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counter.0.lock().unwrap().len() < n {
        assert!(std::time::Instant::now() < deadline, "events not handled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Time for a second consumer, if one were running, to handle them again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn one_consumer_runs_at_a_time_and_a_standby_takes_over() {
    let w = world().await;
    let counter = Counter::default();
    let run = |stopped| {
        tokio::spawn(workers::consumer::run(
            w.store().clone(),
            counter.clone(),
            stopped,
        ))
    };
    let (stop_first, stopped) = tokio::sync::watch::channel(false);
    let first = run(stopped);
    append_counted(&w, 10).await;
    handled_all(&counter, 10).await;

    // A second process of the same worker waits as a standby: nothing is handled twice.
    let (stop_second, stopped) = tokio::sync::watch::channel(false);
    let second = run(stopped);
    append_counted(&w, 10).await;
    handled_all(&counter, 20).await;
    assert!(
        counter.0.lock().unwrap().values().all(|n| *n == 1),
        "two processes handled the same events"
    );

    // The first stops; the standby takes over from the checkpoint.
    stop_first.send(true).unwrap();
    first.await.unwrap();
    append_counted(&w, 10).await;
    handled_all(&counter, 30).await;
    assert!(counter.0.lock().unwrap().values().all(|n| *n == 1));
    stop_second.send(true).unwrap();
    second.await.unwrap();
}

#[tokio::test]
async fn a_mailbox_without_a_kept_password_fails_and_is_parked_not_blocking_the_rest() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let d = domain(&w, org).await;
    let kept = member(&w, org, "zw", Some("13800138000")).await;
    let lost = member(&w, org, "li", Some("13800138001")).await;
    // The password hash was lost (the crash window between command and secret).
    sqlx::query("DELETE FROM secrets WHERE subject = $1")
        .bind(lost)
        .execute(w.store().pool())
        .await
        .unwrap();
    let broken = open_as(&w, lost, d, Some("li")).await;
    let fine = open(&w, kept, d).await;
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .fallback(
            |State(r): State<Receiver>, request: axum::extract::Request| async move {
                let line = format!("{} {}", request.method(), request.uri().path());
                r.requests
                    .lock()
                    .unwrap()
                    .push((line, HeaderMap::new(), Value::Null));
                (StatusCode::OK, "{}")
            },
        )
        .with_state(receiver.clone());
    let url = serve(app).await;
    let worker = DataPlaneWorker::new(
        w.app.clone(),
        Arc::new(HttpDataPlane::new(url)),
        w.runner.clone(),
    );
    drain(w.store(), &worker).await.unwrap();
    let broken_state = w
        .app
        .load::<Mailbox>(&streams::mailbox(broken))
        .await
        .unwrap();
    assert_eq!(broken_state.status, MailboxStatus::Failed);
    assert!(broken_state.failure.unwrap().contains("password"));
    assert_eq!(
        mailbox_status(&w, fine).await,
        MailboxStatus::Active,
        "the next one went on"
    );
    let parked: Vec<(String, String)> =
        sqlx::query_as("SELECT consumer, event_type FROM parked_events")
            .fetch_all(w.store().pool())
            .await
            .unwrap();
    assert_eq!(
        parked,
        [("worker:dataplane".to_owned(), "MailboxOpened".to_owned())]
    );
}

/// An organization of `buyer_id` bound to a trial of its own.
async fn organization_of(w: &World, buyer_id: &str, identifier: &str) -> Uuid {
    let order = app::subscription::Order {
        buyer_account_id: buyer_id.into(),
        order_id: format!("O-{identifier}"),
        edition: "standard".into(),
        seats: 5,
        trial: true,
        months: None,
    };
    let sub = app::subscription::provision(&w.app, &market(), &order)
        .await
        .unwrap()
        .answer;
    let new = app::organization::NewOrganization {
        name: "别家".into(),
        identifier: identifier.into(),
        as_reseller: false,
        creator_phone: Some("13900139000".into()),
    };
    let org = app::organization::create(&w.app, &account(buyer_id), &new)
        .await
        .unwrap()
        .answer;
    w.fold().await;
    app::organization::bind_app(&w.app, &account(buyer_id), sub, org)
        .await
        .unwrap();
    w.fold().await;
    org
}

#[tokio::test]
async fn the_first_to_verify_ends_every_other_claim_and_a_dissolved_organization_lets_go() {
    let w = world().await;
    let (owner, _) = organization(&w).await;
    let squatter = organization_of(&w, "squatter-1", "evil").await;
    let leaver = organization_of(&w, "leaver-1", "gone").await;
    let squat = app::maildomain::add(
        &w.app,
        &account("squatter-1"),
        squatter,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap()
    .answer;
    let left = app::maildomain::add(
        &w.app,
        &account("leaver-1"),
        leaver,
        "left.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap()
    .answer;
    w.fold().await;
    // The owner verifies; the process manager ends the squatter's claim at once.
    let real = domain(&w, owner).await;
    let manager = ProcessManager::new(w.app.clone(), w.runner.clone());
    drain(w.store(), &manager).await.unwrap();
    w.fold().await;
    let status: String = sqlx::query_scalar("SELECT status FROM mail_domains WHERE id = $1")
        .bind(squat)
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(status, "TAKEN");
    let kept: String = sqlx::query_scalar("SELECT status FROM mail_domains WHERE id = $1")
        .bind(real)
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(kept, "VERIFIED", "the owner's claim stays");
    // A dissolved organization's domains release their names.
    let code = dissolution_code(&w, leaver, "leaver-1").await;
    app::organization::dissolve(&w.app, &account("leaver-1"), leaver, "gone", &code)
        .await
        .unwrap();
    drain(w.store(), &manager).await.unwrap();
    w.fold().await;
    let removed: bool = sqlx::query_scalar("SELECT removed FROM mail_domains WHERE id = $1")
        .bind(left)
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert!(removed);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM claims WHERE stream_name = $1")
        .bind(format!("maildomain-{left}"))
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(
        claims, 0,
        "nothing of the dissolved organization's domain is held"
    );
    // Draining again does nothing twice.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    drain(w.store(), &manager).await.unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(before, after);
}

/// Asks for the dissolution code as `buyer` and reads it where the SMS worker would.
async fn dissolution_code(w: &World, organization_id: Uuid, buyer: &str) -> String {
    app::organization::request_dissolution_code(&w.app, &account(buyer), organization_id)
        .await
        .unwrap();
    w.app
        .secrets()
        .get(app::secrets::Purpose::DissolutionCode, organization_id)
        .await
        .unwrap()
        .expect("the code waits for the SMS worker")
}
