//! Operations against a real PostgreSQL: exactness under concurrency, nothing written on a
//! refusal.

use api::command::{CommandContext, CommandError, CommandHandler};
use api::operations::{self, streams};
use domain::maildomain::{DnsAnswers, MailDomainCommand, Provider, VerificationMode};
use domain::member::AddMember;
use domain::pricing::PriceList;
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use uuid::Uuid;

async fn handler() -> CommandHandler {
    let db = fresh_database().await;
    CommandHandler::new(EventStore::new(db.pool(40).await))
}

fn context() -> CommandContext {
    CommandContext {
        actor: "account:buyer-1".into(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
    }
}

/// Counted directly: `$all` reads wait for transactions of other tests in the cluster.
async fn event_count(h: &CommandHandler) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(h.store().pool())
        .await
        .unwrap()
}

/// A trial with `seats`, an organization bound to it, returning the organization id.
async fn organization_with_trial(h: &CommandHandler, seats: u32) -> Uuid {
    let ctx = context();
    let sub = operations::provision_subscription(
        h,
        &ctx,
        "buyer-1",
        "O-1",
        "standard",
        seats,
        true,
        None,
        &PriceList::default(),
    )
    .await
    .unwrap();
    let org = Uuid::now_v7();
    operations::create_organization(h, &ctx, org, "阿克米科技", "acme", "buyer-1", false)
        .await
        .unwrap();
    operations::bind_app(h, &ctx, sub.answer.id.unwrap(), org)
        .await
        .unwrap();
    org
}

async fn add_members(h: &CommandHandler, org: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        operations::add_member(
            h,
            &context(),
            org,
            AddMember {
                member_id: id,
                name: "张伟".into(),
                account: format!("zw{i}"),
                phone: Some(format!("138{i:08}")),
                password: "Passw0rd!".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_creates_of_one_identifier_let_exactly_one_win() {
    let h = handler().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            operations::create_organization(
                &h,
                &context(),
                Uuid::now_v7(),
                "Acme",
                "ACME",
                "buyer-1",
                false,
            )
            .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e.code(), "IDENTIFIER_TAKEN", "{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(event_count(&h).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_authorizations_with_ten_seats_let_exactly_ten_win() {
    let h = handler().await;
    let org = organization_with_trial(&h, 10).await;
    let members = add_members(&h, org, 50).await;
    let mut tasks = Vec::new();
    for m in members {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            operations::authorize_members(&h, &context(), org, &[m]).await
        }));
    }
    let (mut won, mut exhausted) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) if e.answer == 1 => won += 1,
            Err(CommandError::Domain(domain::DomainError::SeatsExhausted {
                available: 0, ..
            })) => exhausted += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((won, exhausted), (10, 40));
    let sub = domain::subscription::subscription_id_for_order("O-1");
    let seats = h
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_opens_of_one_address_let_exactly_one_win() {
    let h = handler().await;
    let org = organization_with_trial(&h, 20).await;
    let members = add_members(&h, org, 20).await;
    operations::authorize_members(&h, &context(), org, &members)
        .await
        .unwrap();
    let domain_id = Uuid::now_v7();
    operations::add_domain(
        &h,
        &context(),
        MailDomainCommand::Add {
            domain_id,
            organization_id: org,
            name: "acme.cn".into(),
            mode: VerificationMode::Full,
            domains_in_organization: 0,
            ownership_token: "t".into(),
            provider: Provider::default(),
        },
        domain_id,
    )
    .await
    .unwrap();
    let answers = DnsAnswers {
        mx: vec![
            (5, "mx1.mailplane.test".into()),
            (10, "mx2.mailplane.test".into()),
        ],
        txt: vec!["v=spf1 include:spf.mailplane.test -all".into()],
        cname: vec![("mp1._domainkey".into(), "dkim.mailplane.test".into())],
        dnsauth_txt: vec![],
    };
    let verified = operations::run_mail_domain(
        &h,
        &context(),
        domain_id,
        MailDomainCommand::Check {
            answers,
            provider: Provider::default(),
        },
    )
    .await
    .unwrap();
    assert!(verified.answer.allows_mailboxes());

    let mut tasks = Vec::new();
    for m in members {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let nobody = |_: &str| None;
            operations::open_mailbox(
                &h,
                &context(),
                m,
                domain_id,
                Uuid::now_v7(),
                Some("boss".into()),
                &nobody,
            )
            .await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) => won.push(e.answer),
            Err(e) => assert_eq!(e.code(), "ADDRESS_TAKEN", "{e}"),
        }
    }
    assert_eq!(won, vec!["boss@acme.cn".to_owned()]);
}

#[tokio::test]
async fn a_refused_command_writes_nothing() {
    let h = handler().await;
    let ctx = context();
    for (name, identifier) in [("", "acme"), ("Acme", "-acme"), ("Acme", "a")] {
        let e =
            operations::create_organization(&h, &ctx, Uuid::now_v7(), name, identifier, "b", false)
                .await
                .unwrap_err();
        assert_eq!(e.code(), "VALIDATION");
    }
    let e = operations::provision_subscription(
        &h,
        &ctx,
        "b",
        "O-9",
        "platinum",
        5,
        true,
        None,
        &PriceList::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "VALIDATION");
    let e = operations::bind_app(&h, &ctx, Uuid::now_v7(), Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    assert_eq!(event_count(&h).await, 0);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM claims")
        .fetch_one(h.store().pool())
        .await
        .unwrap();
    assert_eq!(claims, 0);
}

#[tokio::test]
async fn provisioning_the_same_order_twice_is_one_subscription() {
    let h = handler().await;
    let ctx = context();
    let first = operations::provision_subscription(
        &h,
        &ctx,
        "buyer-1",
        "O-1",
        "standard",
        5,
        false,
        Some(12),
        &PriceList::default(),
    )
    .await
    .unwrap();
    let again = operations::provision_subscription(
        &h,
        &ctx,
        "buyer-1",
        "O-1",
        "standard",
        5,
        false,
        Some(12),
        &PriceList::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.answer.id, again.answer.id);
    assert!(again.written.is_empty(), "a repeated order writes nothing");
    assert_eq!(event_count(&h).await, 1);
    let recorded = h
        .store()
        .read_stream(
            &streams::subscription(first.answer.id.unwrap()),
            eventstore::Direction::Forwards,
            eventstore::StreamPosition::Start,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        recorded[0].metadata.actor.as_deref(),
        Some("account:buyer-1")
    );
    assert_eq!(
        recorded[0].metadata.correlation_id,
        Some(ctx.correlation_id)
    );
}
