//! Workers against a real PostgreSQL: SMS through a failing HTTP gateway (one delivery per
//! event), the data plane worker waiting out a data plane that is down, timers fired once
//! by two workers as the clock moves, and the process manager's reactions.
//!
//! Bad inputs tried here: a gateway answering 503 then 2xx, a gateway refusing (400), a
//! member without a phone, a data plane answering 503, a replay from the first event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use api::command::{CommandContext, CommandHandler};
use api::operations::{self, streams};
use api::secrets::{Purpose, SecretStore};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{Duration, Utc};
use domain::mailbox::{Mailbox, MailboxStatus};
use domain::maildomain::{DnsAnswers, MailDomainCommand, Provider, VerificationMode};
use domain::member::{AddMember, Member, MemberCommand};
use domain::pricing::PriceList;
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
use workers::{Clock, Failure, ManualClock};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const PASSWORD: &str = "Zw-Passw0rd!9";

/// Every test here reads `$all` to its end, which stops below the oldest open transaction
/// of the whole cluster: the tests of this binary run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct World {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    h: CommandHandler,
    secrets: SecretStore,
    runner: Runner,
}

async fn world() -> World {
    let serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(20).await;
    let store = EventStore::new(pool.clone());
    World {
        _serial: serial,
        h: CommandHandler::new(store.clone()),
        secrets: SecretStore::new(pool, KEY).unwrap(),
        runner: Runner::new(store),
    }
}

fn context() -> CommandContext {
    CommandContext {
        actor: "account:buyer-1".into(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
    }
}

/// A trial with 10 seats bound to a new organization: (organization, subscription).
async fn organization(w: &World) -> (Uuid, Uuid) {
    bound_organization(w, None).await
}

/// An organization bound to a trial, or to a purchase of `months`.
async fn bound_organization(w: &World, months: Option<u32>) -> (Uuid, Uuid) {
    let ctx = context();
    let sub = operations::provision_subscription(
        &w.h,
        &ctx,
        "buyer-1",
        "O-1",
        "standard",
        10,
        months.is_none(),
        months,
        &PriceList::default(),
    )
    .await
    .unwrap()
    .answer
    .id
    .unwrap();
    let org = Uuid::now_v7();
    operations::create_organization(&w.h, &ctx, org, "阿克米科技", "acme", "buyer-1", false)
        .await
        .unwrap();
    operations::bind_app(&w.h, &ctx, sub, org).await.unwrap();
    (org, sub)
}

/// An authorized member whose password is kept as the mutation keeps it.
async fn member(w: &World, org: Uuid, account: &str, phone: Option<&str>) -> Uuid {
    let id = Uuid::now_v7();
    let add = AddMember {
        member_id: id,
        name: "张伟".into(),
        account: account.into(),
        phone: phone.map(Into::into),
        email: phone.is_none().then(|| format!("{account}@example.net")),
        password: PASSWORD.into(),
        ..Default::default()
    };
    operations::add_member(&w.h, &context(), org, add)
        .await
        .unwrap();
    w.secrets
        .put(Purpose::InitialPassword, id, PASSWORD)
        .await
        .unwrap();
    let hash = api::secrets::mail_password_hash(PASSWORD).unwrap();
    w.secrets
        .put(Purpose::MailboxPasswordHash, id, &hash)
        .await
        .unwrap();
    operations::authorize_members(&w.h, &context(), org, &[id])
        .await
        .unwrap();
    id
}

/// An unverified domain of the organization.
async fn add_domain(w: &World, org: Uuid, name: &str, domains_in_organization: u32) -> Uuid {
    let id = Uuid::now_v7();
    let add = MailDomainCommand::Add {
        domain_id: id,
        organization_id: org,
        name: name.into(),
        mode: VerificationMode::Full,
        domains_in_organization,
        ownership_token: "t".into(),
        provider: Provider::default(),
    };
    operations::add_domain(&w.h, &context(), add, id)
        .await
        .unwrap();
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
    let id = add_domain(w, org, "acme.cn", 0).await;
    let check = MailDomainCommand::Check {
        answers: published_records(),
        provider: Provider::default(),
    };
    operations::run_mail_domain(&w.h, &context(), id, check)
        .await
        .unwrap();
    id
}

async fn open(w: &World, member: Uuid, domain: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let nobody = |_: &str| None;
    operations::open_mailbox(&w.h, &context(), member, domain, id, None, &nobody)
        .await
        .unwrap();
    id
}

async fn types(w: &World, stream: &str) -> Vec<String> {
    w.h.store()
        .read_stream(stream, Direction::Forwards, StreamPosition::Start, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn mailbox_status(w: &World, id: Uuid) -> MailboxStatus {
    w.h.load_state::<Mailbox>(&streams::mailbox(id))
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
        w.h.clone(),
        w.secrets.clone(),
        Box::new(
            HttpProvider::new(format!("{url}/sms"))
                .with_retries(5, std::time::Duration::from_millis(1)),
        ),
        "企业邮箱",
        "https://console.example",
    );
    drain(w.h.store(), &worker).await.unwrap();

    let delivered = receiver.requests.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1, "one delivery for one authorization");
    assert_eq!(
        delivered[0].2["text"],
        "尊敬的张伟，您好。阿克米科技已为您开通企业邮箱应用。您的账号名：zw，密码：Zw-Passw0rd!9。"
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
        .fetch_all(w.h.store().pool())
        .await
        .unwrap();
    let kinds: Vec<&str> = outcomes.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["SmsSent", "SmsFailed", "SmsFailed"]);
    assert!(outcomes[1].1.contains("400"), "{}", outcomes[1].1);
    assert!(outcomes[2].1.contains("no phone"), "{}", outcomes[2].1);
    let all: Vec<String> = sqlx::query_scalar("SELECT data::text || metadata::text FROM events")
        .fetch_all(w.h.store().pool())
        .await
        .unwrap();
    assert!(
        all.iter().all(|e| !e.contains(PASSWORD)),
        "no password in any event"
    );

    // Replaying every event from the start sends nothing again.
    sqlx::query("DELETE FROM checkpoints WHERE consumer = 'worker:sms'")
        .execute(w.h.store().pool())
        .await
        .unwrap();
    drain(w.h.store(), &worker).await.unwrap();
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
    let clock: Arc<dyn Clock> = Arc::new(workers::SystemClock);
    let worker = DataPlaneWorker::new(
        w.h.clone(),
        w.secrets.clone(),
        Arc::new(HttpDataPlane::new(url)),
        clock,
        w.runner.clone(),
    );

    let e = drain(w.h.store(), &worker).await.unwrap_err();
    assert!(
        matches!(e, Failure::Transient(ref r) if r.contains("503")),
        "{e}"
    );
    assert_eq!(
        mailbox_status(&w, mailbox).await,
        MailboxStatus::Failed,
        "shown as failed while down"
    );
    let again = drain(w.h.store(), &worker).await.unwrap_err();
    assert!(matches!(again, Failure::Transient(_)));
    assert_eq!(
        types(&w, &streams::mailbox(mailbox)).await,
        ["MailboxOpened", "MailboxProvisioningFailed"],
        "the failure is recorded once"
    );

    *down.lock().unwrap() = false;
    drain(w.h.store(), &worker).await.unwrap();
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
    let now = Utc::now();
    operations::run_mailbox(
        &w.h,
        &context(),
        mailbox,
        domain::mailbox::MailboxCommand::Close {
            reason: domain::mailbox::CloseReason::ByAdmin,
        },
        now,
    )
    .await
    .unwrap();
    operations::run_mailbox(
        &w.h,
        &context(),
        mailbox,
        domain::mailbox::MailboxCommand::Purge,
        now,
    )
    .await
    .unwrap();
    drain(w.h.store(), &worker).await.unwrap();
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
    let dns = api::dns::DnsLookup::new(Some("127.0.0.1:9".parse().unwrap())).unwrap();
    let timers = |clock: &ManualClock| {
        TimerWorker::new(
            w.h.clone(),
            dns.clone(),
            Provider::default(),
            Arc::new(clock.clone()),
        )
    };
    let manager = ProcessManager::new(w.h.clone(), w.runner.clone(), Arc::new(clock.clone()));
    let due: Vec<String> = sqlx::query_scalar("SELECT kind FROM timers ORDER BY kind")
        .fetch_all(w.h.store().pool())
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
    drain(w.h.store(), &manager).await.unwrap();
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
        .fetch_one(w.h.store().pool())
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
    operations::run_mailbox(
        &w.h,
        &context(),
        mailbox,
        domain::mailbox::MailboxCommand::Close {
            reason: domain::mailbox::CloseReason::ByAdmin,
        },
        clock.now(),
    )
    .await
    .unwrap();
    // A second, pending domain whose records nobody published: re-checked every 10 minutes.
    let pending = add_domain(&w, org, "acme.net", 1).await;
    w.runner.catch_up(Projection::Timers).await.unwrap();
    // The DNS server knows no name: every record is missing, the domain stays unverified.
    let dns = api::dns::DnsLookup::new(Some(nxdomain_server().await)).unwrap();
    let timers = TimerWorker::new(
        w.h.clone(),
        dns,
        Provider::default(),
        Arc::new(clock.clone()),
    );

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
        .fetch_all(w.h.store().pool())
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
    let clock = workers::SystemClock;
    let manager = ProcessManager::new(w.h.clone(), w.runner.clone(), Arc::new(clock));
    operations::run_decider::<Member>(
        &w.h,
        &context(),
        &streams::member(m),
        MemberCommand::Disable,
        Utc::now(),
        operations::no_claims,
    )
    .await
    .unwrap();
    operations::delete_member(&w.h, &context(), org, m, Some(sub))
        .await
        .unwrap();
    drain(w.h.store(), &manager).await.unwrap();
    let state =
        w.h.load_state::<Mailbox>(&streams::mailbox(mailbox))
            .await
            .unwrap();
    assert_eq!(state.status, MailboxStatus::Closed);
    // Handled again (a restart before the checkpoint): nothing more happens.
    sqlx::query("DELETE FROM checkpoints WHERE consumer = 'worker:process-manager'")
        .execute(w.h.store().pool())
        .await
        .unwrap();
    drain(w.h.store(), &manager).await.unwrap();
    assert_eq!(
        types(&w, &streams::mailbox(mailbox)).await,
        ["MailboxOpened", "MailboxClosed"]
    );
}

#[tokio::test]
async fn an_invited_admin_gets_link_and_token_by_sms_and_the_invitation_expires() {
    let w = world().await;
    let (org, _) = organization(&w).await;
    let invitation = Uuid::now_v7();
    let token = "tok-3f9a1c";
    w.secrets
        .put(Purpose::InvitationToken, invitation, token)
        .await
        .unwrap();
    let invite = domain::organization::OrganizationCommand::InviteAdmin {
        invitation_id: invitation,
        name: "李娜".into(),
        phone: "13800138009".into(),
        email: "lina@acme.cn".into(),
        valid_hours: 72,
        token_hash: domain::organization::token_hash(token),
        actor: "buyer-1".into(),
    };
    let now = Utc::now();
    operations::run_decider::<domain::organization::Organization>(
        &w.h,
        &context(),
        &streams::organization(org),
        invite,
        now,
        operations::no_claims,
    )
    .await
    .unwrap();

    let file = std::env::temp_dir().join(format!("mailplane-sms-{}.log", Uuid::now_v7()));
    let worker = SmsWorker::new(
        w.h.clone(),
        w.secrets.clone(),
        Box::new(workers::sms::LogProvider::new(file.clone())),
        "企业邮箱",
        "https://console.example/",
    );
    drain(w.h.store(), &worker).await.unwrap();
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
    let dns = api::dns::DnsLookup::new(Some(nxdomain_server().await)).unwrap();
    let timers = TimerWorker::new(
        w.h.clone(),
        dns,
        Provider::default(),
        Arc::new(clock.clone()),
    );
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
    let ctx = context();
    let (org, sub) = bound_organization(&w, Some(1)).await;
    let d = domain(&w, org).await;
    let kept = open(&w, member(&w, org, "zw", Some("13800138000")).await, d).await;
    let li = member(&w, org, "li", Some("13800138001")).await;
    let closed_by_admin = Uuid::now_v7();
    let nobody = |_: &str| None;
    operations::open_mailbox(
        &w.h,
        &ctx,
        li,
        d,
        closed_by_admin,
        Some("li".into()),
        &nobody,
    )
    .await
    .unwrap();
    // Five days in, an admin closes one mailbox (its recycle-bin purge is at day 35).
    let clock = ManualClock::new(Utc::now());
    clock.advance(Duration::days(5));
    operations::run_mailbox(
        &w.h,
        &ctx,
        closed_by_admin,
        domain::mailbox::MailboxCommand::Close {
            reason: domain::mailbox::CloseReason::ByAdmin,
        },
        clock.now(),
    )
    .await
    .unwrap();
    for p in Projection::ALL {
        w.runner.catch_up(p).await.unwrap();
    }
    let dns = api::dns::DnsLookup::new(Some(nxdomain_server().await)).unwrap();
    let timers = TimerWorker::new(
        w.h.clone(),
        dns,
        Provider::default(),
        Arc::new(clock.clone()),
    );
    let manager = ProcessManager::new(w.h.clone(), w.runner.clone(), Arc::new(clock.clone()));

    // At day 32 the month's term has lapsed: mail is suspended.
    clock.advance(Duration::days(27));
    assert_eq!(timers.fire_due().await.unwrap(), 1);
    drain(w.h.store(), &manager).await.unwrap();
    assert_eq!(mailbox_status(&w, kept).await, MailboxStatus::Closed);

    // Renewed within the 30 days: the expiry's closures are undone, the admin's is not,
    // and the data deletion is called off.
    operations::run_decider::<domain::subscription::Subscription>(
        &w.h,
        &ctx,
        &streams::subscription(sub),
        domain::subscription::SubscriptionCommand::Renew {
            months: 1,
            price_list: PriceList::default(),
        },
        clock.now(),
        operations::no_claims,
    )
    .await
    .unwrap();
    drain(w.h.store(), &manager).await.unwrap();
    assert_eq!(mailbox_status(&w, kept).await, MailboxStatus::Active);
    assert_eq!(
        mailbox_status(&w, closed_by_admin).await,
        MailboxStatus::Closed
    );
    w.runner.catch_up(Projection::Timers).await.unwrap();
    let purges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM timers WHERE kind = 'subscription_data_purge'")
            .fetch_one(w.h.store().pool())
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
    let replace = MailDomainCommand::Replace {
        name: "acme.com.cn".into(),
        answers: published_records(),
        provider: Provider::default(),
    };
    operations::run_mail_domain(&w.h, &context(), d, replace)
        .await
        .unwrap();
    let manager = ProcessManager::new(
        w.h.clone(),
        w.runner.clone(),
        Arc::new(workers::SystemClock),
    );
    drain(w.h.store(), &manager).await.unwrap();
    let state =
        w.h.load_state::<Mailbox>(&streams::mailbox(mailbox))
            .await
            .unwrap();
    assert_eq!(state.address, "zhangwei@acme.com.cn");
    // The old address is free, the new one taken.
    let claims: Vec<String> =
        sqlx::query_scalar("SELECT key FROM claims WHERE scope = 'mailbox_address'")
            .fetch_all(w.h.store().pool())
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
        w.h.store()
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
            w.h.store().clone(),
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
        .execute(w.h.store().pool())
        .await
        .unwrap();
    let nobody = |_: &str| None;
    let broken = Uuid::now_v7();
    operations::open_mailbox(
        &w.h,
        &context(),
        lost,
        d,
        broken,
        Some("li".into()),
        &nobody,
    )
    .await
    .unwrap();
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
        w.h.clone(),
        w.secrets.clone(),
        Arc::new(HttpDataPlane::new(url)),
        Arc::new(workers::SystemClock),
        w.runner.clone(),
    );
    drain(w.h.store(), &worker).await.unwrap();
    let broken_state =
        w.h.load_state::<Mailbox>(&streams::mailbox(broken))
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
            .fetch_all(w.h.store().pool())
            .await
            .unwrap();
    assert_eq!(
        parked,
        [("worker:dataplane".to_owned(), "MailboxOpened".to_owned())]
    );
}
