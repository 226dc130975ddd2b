//! Operations against a real PostgreSQL: exactness under concurrency, nothing written on a
//! refusal.

use std::sync::Arc;

use app::auth::{Principal, PrincipalKind};
use app::dns::PublishedByOwner;
use app::secrets::SecretStore;
use app::{streams, App, AppError, ErrorCode, Request};
use domain::maildomain::{DnsAnswers, VerificationMode};
use domain::DomainError;
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use uuid::Uuid;

/// What a domain publishing the default provider's records answers.
fn published() -> DnsAnswers {
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

async fn application() -> App {
    let db = fresh_database().await;
    let pool = db.pool(40).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    App::new(
        EventStore::new(pool),
        secrets,
        Arc::new(PublishedByOwner(published())),
        Arc::new(app::SystemClock),
    )
}

fn buyer() -> Request {
    let principal = Principal {
        id: "buyer-1".into(),
        kind: PrincipalKind::Account,
        scope: None,
    };
    Request::client(Some(principal), Uuid::now_v7())
}

fn market() -> Request {
    let principal = Principal {
        id: "orders".into(),
        kind: PrincipalKind::Service,
        scope: Some("marketplace".into()),
    };
    Request::client(Some(principal), Uuid::now_v7())
}

/// Folds every read model up to the last event written (access checks read them).
async fn fold(a: &App) {
    projections::Runner::new(a.store().clone())
        .wait_for_all(std::time::Duration::from_secs(30))
        .await
        .unwrap();
}

/// Counted directly: `$all` reads wait for transactions of other tests in the cluster.
async fn event_count(a: &App) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(a.pool())
        .await
        .unwrap()
}

fn order(order_id: &str, seats: u32, trial: bool, months: Option<u32>) -> app::subscription::Order {
    app::subscription::Order {
        buyer_account_id: "buyer-1".into(),
        order_id: order_id.into(),
        edition: "standard".into(),
        seats,
        trial,
        months,
    }
}

fn organization(identifier: &str) -> app::organization::NewOrganization {
    app::organization::NewOrganization {
        name: "阿克米科技".into(),
        identifier: identifier.into(),
        as_reseller: false,
        creator_phone: None,
    }
}

/// A trial with `seats`, an organization bound to it, returning the organization id.
async fn organization_with_trial(a: &App, seats: u32) -> Uuid {
    let sub = app::subscription::provision(a, &market(), &order("O-1", seats, true, None))
        .await
        .unwrap()
        .answer;
    let org = app::organization::create(a, &buyer(), &organization("acme"))
        .await
        .unwrap()
        .answer;
    fold(a).await;
    app::organization::bind_app(a, &buyer(), sub, org)
        .await
        .unwrap();
    org
}

fn member(account: &str, phone: &str) -> app::member::NewMember {
    app::member::NewMember {
        name: "张伟".into(),
        account: account.into(),
        phone: Some(phone.into()),
        email: None,
        password: "Passw0rd!".into(),
        department_id: None,
        role: None,
        employment_type: None,
        hire_date: None,
    }
}

async fn add_members(a: &App, org: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let m = member(&format!("zw{i}"), &format!("138{i:08}"));
        ids.push(app::member::add(a, &buyer(), org, &m).await.unwrap().answer);
    }
    fold(a).await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_creates_of_one_identifier_let_exactly_one_win() {
    let a = application().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            app::organization::create(&a, &buyer(), &organization("ACME")).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e.code(), ErrorCode::IdentifierTaken, "{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(event_count(&a).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_authorizations_with_ten_seats_let_exactly_ten_win() {
    let a = application().await;
    let org = organization_with_trial(&a, 10).await;
    let members = add_members(&a, org, 50).await;
    let mut tasks = Vec::new();
    for m in members {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            app::member::authorize(&a, &buyer(), org, &[m], &[]).await
        }));
    }
    let (mut won, mut exhausted) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) if e.answer.authorized == 1 => won += 1,
            Err(AppError::Refused(DomainError::SeatsExhausted { available: 0, .. })) => {
                exhausted += 1
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((won, exhausted), (10, 40));
    let sub = domain::subscription::subscription_id_for_order("O-1");
    let seats = a
        .store()
        .read_stream(
            &streams::subscription(sub),
            eventstore::Direction::Forwards,
            eventstore::StreamPosition::Start,
            1000,
        )
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "SeatAssigned")
        .count();
    assert_eq!(seats, 10);
}

/// Across snapshots of the subscription stream (one every 64 events), seats stay exact and
/// the state loaded from a snapshot is the state of a full fold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seats_stay_exact_across_snapshots_and_a_snapshot_equals_the_full_fold() {
    use domain::subscription::Subscription;
    use domain::Decider;
    let a = application().await;
    let org = organization_with_trial(&a, 150).await;
    let members = add_members(&a, org, 200).await;
    // 16 at a time: two hundred writers of one stream at once would exhaust the retries,
    // and 32 did once on a loaded 2-core CI machine (30 conflicts in a row); what is tested
    // here is exactness across snapshots, with writers racing.
    let turns = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for m in members.clone() {
        let (a, turns) = (a.clone(), turns.clone());
        tasks.push(tokio::spawn(async move {
            let _turn = turns.acquire().await.unwrap();
            app::member::authorize(&a, &buyer(), org, &[m], &[]).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) if e.answer.authorized == 1 => won += 1,
            Err(AppError::Refused(DomainError::SeatsExhausted { available: 0, .. })) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 150);
    let sub = streams::subscription(domain::subscription::subscription_id_for_order("O-1"));
    let all = a
        .store()
        .read_stream(
            &sub,
            eventstore::Direction::Forwards,
            eventstore::StreamPosition::Start,
            10_000,
        )
        .await
        .unwrap();
    let events: Vec<domain::subscription::SubscriptionEvent> = all
        .iter()
        .map(|e| eventstore::decode_serde(e).unwrap())
        .collect();
    let full = Subscription::fold(&events);
    assert_eq!(full.seats_taken, 150);
    assert_eq!(full.available_seats(), 0);
    let kept: Option<i64> =
        sqlx::query_scalar("SELECT revision FROM snapshots WHERE stream_name = $1")
            .bind(sub.to_string())
            .fetch_optional(a.pool())
            .await
            .unwrap();
    assert!(
        kept.is_some_and(|r| r >= 64),
        "a snapshot is kept: {kept:?}"
    );
    let loaded = a.load::<Subscription>(&sub).await.unwrap();
    assert_eq!(loaded, full, "from the snapshot");
    // A snapshot is a cache: without it the same state comes from the log.
    sqlx::query("DELETE FROM snapshots")
        .execute(a.pool())
        .await
        .unwrap();
    assert_eq!(a.load::<Subscription>(&sub).await.unwrap(), full);
    // Revoking after a snapshot gives the seats back exactly.
    let revoked = app::member::revoke_authorization(&a, &buyer(), org, &members[..20])
        .await
        .unwrap()
        .answer;
    let loaded = a.load::<Subscription>(&sub).await.unwrap();
    assert_eq!(
        loaded.available_seats(),
        u32::try_from(revoked.revoked).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_opens_of_one_address_let_exactly_one_win() {
    let a = application().await;
    let org = organization_with_trial(&a, 20).await;
    let members = add_members(&a, org, 20).await;
    app::member::authorize(&a, &buyer(), org, &members, &[])
        .await
        .unwrap();
    let domain_id = app::maildomain::add(&a, &buyer(), org, "acme.cn", VerificationMode::Full)
        .await
        .unwrap()
        .answer;
    fold(&a).await;
    let verified = app::maildomain::verify(&a, &buyer(), domain_id)
        .await
        .unwrap();
    assert!(verified.answer.allows_mailboxes());

    let mut tasks = Vec::new();
    for m in members {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            app::mailbox::open(&a, &buyer(), m, domain_id, Some("boss".into())).await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) => won.push(e.answer),
            Err(e) => assert_eq!(e.code(), ErrorCode::AddressTaken, "{e}"),
        }
    }
    assert_eq!(won.len(), 1);
    let opened = a
        .load::<domain::mailbox::Mailbox>(&streams::mailbox(won[0]))
        .await
        .unwrap();
    assert_eq!(opened.address, "boss@acme.cn");
}

#[tokio::test]
async fn a_refused_command_writes_nothing() {
    let a = application().await;
    // Bad input: an empty name, an identifier starting with '-', one too short.
    for (name, identifier) in [("", "acme"), ("Acme", "-acme"), ("Acme", "a")] {
        let new = app::organization::NewOrganization {
            name: name.into(),
            identifier: identifier.into(),
            as_reseller: false,
            creator_phone: None,
        };
        let e = app::organization::create(&a, &buyer(), &new)
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation, "{name:?} {identifier:?}");
    }
    // An unknown edition.
    let mut platinum = order("O-9", 5, true, None);
    platinum.edition = "platinum".into();
    let e = app::subscription::provision(&a, &market(), &platinum)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    // The wrong principal for provisioning, and unknown ids for binding.
    let e = app::subscription::provision(&a, &buyer(), &order("O-9", 5, true, None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e = app::organization::bind_app(&a, &buyer(), Uuid::now_v7(), Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e =
        app::organization::bind_app(&a, &Request::system("test"), Uuid::now_v7(), Uuid::now_v7())
            .await
            .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert_eq!(event_count(&a).await, 0);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM claims")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(claims, 0);
}

#[tokio::test]
async fn an_empty_import_is_refused_like_the_rules_say() {
    let a = application().await;
    let org = organization_with_trial(&a, 5).await;
    let before = event_count(&a).await;
    let e = app::member::import(&a, &buyer(), org, &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    assert_eq!(e.field(), Some("rows"));
    let too_many: Vec<_> = (0..1001)
        .map(|i| member(&format!("u{i}"), &format!("139{i:08}")))
        .collect();
    let e = app::member::import(&a, &buyer(), org, &too_many)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ImportTooLarge);
    assert_eq!(event_count(&a).await, before);
    // Rows decided on their own: a bad phone fails its row only, a repeated account's
    // last row wins.
    let rows = [
        member("zw", "13800138000"),
        member("ln", "12345"),
        member("zw", "13800138001"),
    ];
    let report = app::member::import(&a, &buyer(), org, &rows).await.unwrap();
    assert_eq!(
        report.imported.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, 1);
    assert_eq!(report.failed[0].1.field(), Some("phone"));
}

#[tokio::test]
async fn provisioning_the_same_order_twice_is_one_subscription() {
    let a = application().await;
    let request = market();
    let first = app::subscription::provision(&a, &request, &order("O-1", 5, false, Some(12)))
        .await
        .unwrap();
    let again = app::subscription::provision(&a, &request, &order("O-1", 5, false, Some(12)))
        .await
        .unwrap();
    assert_eq!(first.answer, again.answer);
    assert!(again.written.is_empty(), "a repeated order writes nothing");
    assert_eq!(event_count(&a).await, 1);
    let recorded = a
        .store()
        .read_stream(
            &streams::subscription(first.answer),
            eventstore::Direction::Forwards,
            eventstore::StreamPosition::Start,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        recorded[0].metadata.actor.as_deref(),
        Some("service:marketplace/orders")
    );
    assert_eq!(
        recorded[0].metadata.correlation_id,
        Some(request.correlation_id())
    );
}

fn invitee(phone: &str) -> app::organization::Invitee {
    app::organization::Invitee {
        name: "李娜".into(),
        phone: phone.into(),
        email: "lina@acme.cn".into(),
        valid_hours: 24,
    }
}

#[tokio::test]
async fn texting_any_number_is_refused_without_a_bound_app_and_beyond_the_hourly_allowance() {
    let a = application().await;
    // No app bound: no invitation, no password reset, no text message.
    let unbound = app::organization::create(&a, &buyer(), &organization("beta"))
        .await
        .unwrap()
        .answer;
    fold(&a).await;
    let before = event_count(&a).await;
    let e = app::organization::invite_admin(&a, &buyer(), unbound, &invitee("13900000000"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SubscriptionInactive, "{e}");
    let stranger = app::member::add(&a, &buyer(), unbound, &member("x", "13900000001"))
        .await
        .unwrap()
        .answer;
    fold(&a).await;
    let before_reset = event_count(&a).await;
    let e = app::member::reset_password(&a, &buyer(), stranger, "N3w-Passw0rd")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SubscriptionInactive, "{e}");
    assert_eq!(event_count(&a).await, before_reset);
    assert!(before < before_reset, "only the member was added");

    // Bound: one phone gets at most 5 an hour, from every organization together...
    let a = a.with_settings(app::Settings {
        sms_per_organization_per_hour: 8,
        sms_per_phone_per_hour: 5,
        ..app::Settings::default()
    });
    let org = organization_with_trial(&a, 10).await;
    for _ in 0..5 {
        app::organization::invite_admin(&a, &buyer(), org, &invitee("13800138000"))
            .await
            .unwrap();
    }
    let written = event_count(&a).await;
    let e = app::organization::invite_admin(&a, &buyer(), org, &invitee("13800138000"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
    assert_eq!(e.code().http_status(), 429);
    // ...and a refused invitation (a bad phone) costs nothing.
    let e = app::organization::invite_admin(&a, &buyer(), org, &invitee("123"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    // One organization sends at most 8 an hour, to whatever numbers.
    let m = add_members(&a, org, 1).await[0];
    for n in 0..3 {
        app::organization::invite_admin(&a, &buyer(), org, &invitee(&format!("1370000000{n}")))
            .await
            .unwrap();
    }
    let e = app::member::reset_password(&a, &buyer(), m, "N3w-Passw0rd")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
    assert_eq!(
        event_count(&a).await,
        written + 3 + 1,
        "three invitations and the member"
    );
}

fn account(id: &str) -> Request {
    let principal = Principal {
        id: id.into(),
        kind: PrincipalKind::Account,
        scope: None,
    };
    Request::client(Some(principal), Uuid::now_v7())
}

/// An organization of `buyer` bound to a trial of its own.
async fn bound_organization_of(a: &App, buyer: &str, identifier: &str) -> Uuid {
    let order = app::subscription::Order {
        buyer_account_id: buyer.into(),
        order_id: format!("O-{identifier}"),
        edition: "standard".into(),
        seats: 5,
        trial: true,
        months: None,
    };
    let sub = app::subscription::provision(a, &market(), &order)
        .await
        .unwrap()
        .answer;
    let org = app::organization::create(a, &account(buyer), &organization(identifier))
        .await
        .unwrap()
        .answer;
    fold(a).await;
    app::organization::bind_app(a, &account(buyer), sub, org)
        .await
        .unwrap();
    fold(a).await;
    org
}

/// The `_dnsauth` value a domain asks for.
async fn token_of(a: &App, domain_id: Uuid) -> String {
    let state = a
        .load::<domain::maildomain::MailDomain>(&streams::maildomain(domain_id))
        .await
        .unwrap();
    state
        .records
        .iter()
        .find(|r| r.host == "_dnsauth")
        .unwrap()
        .value
        .clone()
}

#[tokio::test]
async fn a_squatter_neither_blocks_the_owner_nor_verifies_on_the_owners_records() {
    let base = application().await;
    // No bound app, no domain.
    let free = app::organization::create(&base, &account("free-1"), &organization("free"))
        .await
        .unwrap()
        .answer;
    fold(&base).await;
    let e = app::maildomain::add(
        &base,
        &account("free-1"),
        free,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SubscriptionInactive, "{e}");

    let squatter = bound_organization_of(&base, "squatter-1", "evil").await;
    let owner = bound_organization_of(&base, "owner-1", "acme").await;
    let squat = app::maildomain::add(
        &base,
        &account("squatter-1"),
        squatter,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap()
    .answer;
    // The squatter's pending claim does not stop the owner.
    let real = app::maildomain::add(
        &base,
        &account("owner-1"),
        owner,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .expect("an unverified claim blocks nobody")
    .answer;
    fold(&base).await;
    // The owner points the domain at us and publishes its own token.
    let mut answers = published();
    answers.dnsauth_txt = vec![token_of(&base, real).await];
    let a = base.with_dns(Arc::new(app::dns::FixedAnswers(answers)));
    let tried = app::maildomain::verify(&a, &account("squatter-1"), squat)
        .await
        .unwrap()
        .answer;
    assert_eq!(
        tried.status,
        domain::maildomain::DomainStatus::Failed,
        "the squatter's token is not published"
    );
    assert!(!tried.allows_mailboxes());
    let verified = app::maildomain::verify(&a, &account("owner-1"), real)
        .await
        .unwrap()
        .answer;
    assert!(verified.allows_mailboxes());
    // The squatter's claim is over at its next check, with a status that says why.
    let ended = app::maildomain::verify(&a, &account("squatter-1"), squat)
        .await
        .unwrap()
        .answer;
    assert_eq!(ended.status, domain::maildomain::DomainStatus::Taken);
    fold(&a).await;
    // Nobody else adds a verified name; removing it frees it for anyone.
    let third = bound_organization_of(&a, "third-1", "third").await;
    let e = app::maildomain::add(
        &a,
        &account("third-1"),
        third,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DomainTaken, "{e}");
    app::maildomain::remove(&a, &account("owner-1"), real)
        .await
        .unwrap();
    fold(&a).await;
    app::maildomain::add(
        &a,
        &account("third-1"),
        third,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .expect("a removed domain's name is free again");
    // The owner may claim it again too (its own earlier claim was released).
    app::maildomain::add(
        &a,
        &account("owner-1"),
        owner,
        "acme.cn",
        VerificationMode::Full,
    )
    .await
    .unwrap();
}

/// Bad rows tried: an account and a phone the organization holds, a password the rules
/// refuse, an account repeated (the last wins), a phone repeated within the file.
#[tokio::test]
async fn a_preview_decides_each_row_like_the_import_and_writes_nothing() {
    use app::member::RowVerdict;
    let a = application().await;
    let org = organization_with_trial(&a, 10).await;
    add_members(&a, org, 1).await; // zw0, 13800000000
    let mut short = member("a3", "13900000003");
    short.password = "short".into();
    let rows = vec![
        member("a1", "13900000001"),
        member("zw0", "13900000002"),
        member("a2", "13800000000"),
        short,
        member("a5", "13900000005"),
        member("a5", "13900000006"),
        member("a6", "13900000009"),
        member("a7", "13900000009"),
    ];
    let before = event_count(&a).await;
    let verdicts = app::member::preview_import(&a, &buyer(), org, &rows)
        .await
        .unwrap();
    assert_eq!(event_count(&a).await, before, "a preview writes nothing");
    let said: Vec<String> = verdicts
        .iter()
        .map(|v| match v {
            RowVerdict::Accepted => "ok".to_owned(),
            RowVerdict::Refused(e) => e.code().as_str().to_owned(),
            RowVerdict::Superseded { by } => format!("by {by}"),
        })
        .collect();
    assert_eq!(
        said,
        [
            "ok",
            "ACCOUNT_TAKEN",
            "PHONE_TAKEN",
            "VALIDATION",
            "by 5",
            "ok",
            "ok",
            "PHONE_TAKEN"
        ]
    );
    // The import agrees row by row.
    let report = app::member::import(&a, &buyer(), org, &rows).await.unwrap();
    let imported: Vec<usize> = report.imported.iter().map(|(row, _)| *row).collect();
    assert_eq!(imported, [0, 5, 6]);
    // Another organization's admin gets nothing.
    let stranger = account("buyer-2");
    let refused = app::member::preview_import(&a, &stranger, org, &rows).await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::Forbidden);
}

#[tokio::test]
async fn quotes_say_what_the_commands_would_charge_and_refund_and_write_nothing() {
    use app::subscription as s;
    let a = application().await;
    let sub = s::provision(&a, &market(), &order("O-Q", 10, true, None))
        .await
        .unwrap()
        .answer;
    fold(&a).await;
    let before = event_count(&a).await;
    // A trial: no refund, no expansion; a conversion has a price.
    let refund = s::quote_refund(&a, &buyer(), sub).await.unwrap_err();
    assert_eq!(refund.code(), ErrorCode::TrialNotAllowed);
    let expansion = s::quote_expansion(&a, &buyer(), sub, 5).await.unwrap_err();
    assert_eq!(expansion.code(), ErrorCode::TrialNotAllowed);
    let price = s::quote_conversion(&a, &buyer(), sub, 12).await.unwrap();
    assert!(price.amount > 0 && price.currency == "CNY", "{price:?}");
    assert_eq!(event_count(&a).await, before, "quotes write nothing");
    // Another buyer learns nothing.
    let stranger = account("buyer-2");
    for e in [
        s::quote_refund(&a, &stranger, sub).await.unwrap_err(),
        s::quote_conversion(&a, &stranger, sub, 12)
            .await
            .map(|_| ())
            .unwrap_err(),
        s::quote_expansion(&a, &stranger, sub, 5)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), ErrorCode::Forbidden);
    }
    // The commands charge what was quoted; the refund quote is what was paid.
    s::convert_trial(&a, &buyer(), sub, 12).await.unwrap();
    assert_eq!(s::state(&a, sub).await.unwrap().paid, price.amount);
    let quoted = s::quote_expansion(&a, &buyer(), sub, 5).await.unwrap();
    let charged = s::expand_seats(&a, &buyer(), sub, 5).await.unwrap().answer;
    assert_eq!(quoted, charged);
    let refund = s::quote_refund(&a, &buyer(), sub).await.unwrap();
    assert_eq!(refund.amount, price.amount + charged.amount);
    // Nonsense amounts are refused by the same rules as the commands.
    let zero = s::quote_expansion(&a, &buyer(), sub, 0).await.unwrap_err();
    assert_eq!(zero.code(), ErrorCode::Validation);
    let months = s::quote_conversion(&a, &buyer(), sub, 12)
        .await
        .unwrap_err();
    assert_eq!(months.code(), ErrorCode::NotTrial);
}

#[tokio::test]
async fn records_past_their_retention_are_pruned_and_younger_ones_kept() {
    let app = application().await;
    let pool = app.pool();
    let webhook = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhooks (id, url, created_by) VALUES ($1, 'https://billing.example/hook', 'operator:ops')",
    )
    .bind(webhook)
    .execute(pool)
    .await
    .unwrap();
    for age in ["31 days", "29 days"] {
        sqlx::query(&format!(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, position, event_type, attempt, duration_ms, outcome, attempted_at)
             VALUES ($1, $2, '1/1', 'TrialStarted', 1, 5, 'DELIVERED', now() - interval '{age}')"
        ))
        .bind(webhook)
        .bind(Uuid::now_v7())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(&format!(
            "INSERT INTO parked_events (consumer, event_id, stream_name, event_type, position, reason, parked_at)
             VALUES ('worker:sms', $1, 'member-x', 'MemberAuthorized', '1/1', 'no phone', now() - interval '{age}')"
        ))
        .bind(Uuid::now_v7())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(&format!(
            "INSERT INTO idempotency_keys (principal, key, operation, request_hash, answer, created_at, lease_until)
             VALUES ('account:b', $1, 'addMember', 'h', '{{}}', now() - interval '{age}', now() - interval '{age}')"
        ))
        .bind(format!("answered-{age}"))
        .execute(pool)
        .await
        .unwrap();
    }
    // Old, but its request is still running (a live lease): kept.
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, operation, request_hash, answer, created_at, lease_until)
         VALUES ('account:b', 'running', 'importMembers', 'h', NULL, now() - interval '40 days', now() + interval '1 minute')",
    )
    .execute(pool)
    .await
    .unwrap();

    let pruned = app::retention::prune(&app).await.unwrap();
    assert_eq!(
        pruned,
        app::retention::Pruned {
            webhook_deliveries: 1,
            parked_events: 1,
            idempotency_keys: 1
        }
    );
    let left: (i64, i64, Vec<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM parked_events),
                (SELECT array_agg(key ORDER BY key) FROM idempotency_keys)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        (1, 1, vec!["answered-29 days".into(), "running".into()])
    );
    // Again: nothing more to delete.
    assert_eq!(
        app::retention::prune(&app).await.unwrap(),
        app::retention::Pruned::default()
    );
}

#[tokio::test]
async fn one_phone_gets_exactly_its_hourly_allowance_from_organizations_racing() {
    let a = application().await.with_settings(app::Settings {
        sms_per_organization_per_hour: 50,
        sms_per_phone_per_hour: 5,
        ..app::Settings::default()
    });
    let mut organizations = Vec::new();
    for n in 0..8 {
        let buyer = format!("racer-{n}");
        organizations.push((
            buyer.clone(),
            bound_organization_of(&a, &buyer, &format!("race{n}")).await,
        ));
    }
    let before = event_count(&a).await;
    // Sixteen invitations to one phone at the same moment, two from each organization.
    let mut racing = tokio::task::JoinSet::new();
    for (buyer, org) in organizations.iter().chain(organizations.iter()).cloned() {
        let a = a.clone();
        racing.spawn(async move {
            app::organization::invite_admin(&a, &account(&buyer), org, &invitee("13800138999"))
                .await
                .map(|_| ())
                .map_err(|e| e.code())
        });
    }
    let (mut accepted, mut limited) = (0, 0);
    while let Some(outcome) = racing.join_next().await {
        match outcome.unwrap() {
            Ok(()) => accepted += 1,
            Err(ErrorCode::RateLimited) => limited += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((accepted, limited), (5, 11));
    assert_eq!(
        event_count(&a).await,
        before + 5,
        "only the five invitations"
    );
}

#[tokio::test]
async fn authorizing_a_department_beyond_the_seats_writes_nothing() {
    let a = application().await;
    let org = organization_with_trial(&a, 2).await;
    let east = app::organization::create_department(&a, &buyer(), org, "华东", None)
        .await
        .unwrap()
        .answer;
    fold(&a).await;
    for i in 0..3 {
        let mut m = member(&format!("east{i}"), &format!("1390000000{i}"));
        m.department_id = Some(east);
        app::member::add(&a, &buyer(), org, &m).await.unwrap();
    }
    fold(&a).await;
    let before = event_count(&a).await;
    // Bad inputs tried: three members in the department for two seats; the department
    // named with a member; an unknown department.
    let e = app::member::authorize(&a, &buyer(), org, &[], &[east])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SeatsExhausted, "{e}");
    let e = app::member::authorize(&a, &buyer(), org, &[Uuid::now_v7()], &[east])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
    let e = app::member::authorize(&a, &buyer(), org, &[], &[Uuid::now_v7()])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
    assert_eq!(
        event_count(&a).await,
        before,
        "no department authorized, no seat taken"
    );
    let state = a
        .load::<domain::organization::Organization>(&streams::organization(org))
        .await
        .unwrap();
    assert!(state.authorized_departments.is_empty());
}
