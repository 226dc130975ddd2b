//! Projections fold the log into tables; a rebuild gives identical tables.

use chrono::Utc;
use domain::mailbox::MailboxEvent;
use domain::maildomain::{MailDomainEvent, VerificationMode};
use domain::member::{EmploymentType, MemberEvent, RoleLabel};
use domain::migration::{
    CopyMode, FolderCount, MailProtocol, MailSource, MigrationEvent, NewMigrationAccount,
};
use domain::organization::OrganizationEvent;
use domain::subscription::SubscriptionEvent;
use eventstore::testkit::fresh_database;
use eventstore::{encode_serde, EventStore, ExpectedRevision, Metadata, Position};
use projections::{Projection, Runner};
use serde::Serialize;
use uuid::Uuid;

/// `$all` reads wait for transactions anywhere in the cluster; one test at a time keeps
/// the assertions about "everything folded" exact.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until each projection has folded the last event of its categories.
async fn settle(store: &EventStore, runner: &Runner) {
    for p in Projection::ALL {
        let cats: Vec<String> = p.categories().iter().map(|c| c.to_string()).collect();
        let last: Option<(i64, i64)> = sqlx::query_as(
            "SELECT tx_id, seq FROM events WHERE category = ANY($1) ORDER BY tx_id DESC, seq DESC LIMIT 1",
        )
        .bind(&cats)
        .fetch_optional(store.pool())
        .await
        .unwrap();
        if let Some((tx_id, seq)) = last {
            runner
                .wait_for(
                    p,
                    Position { tx_id, seq },
                    std::time::Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }
}

async fn append<E: Serialize>(store: &EventStore, stream: &str, events: &[E]) {
    let mut m = Metadata::new();
    m.actor = Some("account:buyer-1".into());
    let encoded: Vec<_> = events
        .iter()
        .map(|e| encode_serde(e, m.clone(), 1).unwrap())
        .collect();
    store
        .append(stream, ExpectedRevision::Any, &encoded)
        .await
        .unwrap();
    let each = FOLD_EACH.lock().unwrap().clone();
    if let Some(runner) = each {
        for p in Projection::ALL {
            runner.catch_up(p).await.unwrap();
        }
    }
}

/// When set, every append is folded at once (batches of one), as a live system sees a
/// slow trickle; a rebuild folds the same log in large batches.
static FOLD_EACH: std::sync::Mutex<Option<Runner>> = std::sync::Mutex::new(None);

/// A small but complete history: subscription, organization, members, domain, mailbox.
async fn history(store: &EventStore) -> (Uuid, Uuid) {
    let sub = Uuid::now_v7();
    let org = Uuid::now_v7();
    let dept = Uuid::now_v7();
    let now = Utc::now();
    append(
        store,
        &format!("subscription-{sub}"),
        &[SubscriptionEvent::TrialStarted {
            subscription_id: sub,
            order_id: "O-1".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats: 5,
            started_at: now,
            trial_ends_at: now + chrono::Duration::days(15),
        }],
    )
    .await;
    append(
        store,
        &format!("organization-{org}"),
        &[
            OrganizationEvent::OrganizationCreated {
                organization_id: org,
                name: "阿克米".into(),
                identifier: "acme".into(),
                creator_account: "reseller-1".into(),
                as_reseller: true,
            },
            OrganizationEvent::DepartmentCreated {
                department_id: dept,
                name: "销售部".into(),
                parent_id: None,
            },
            OrganizationEvent::AdminInvited {
                invitation_id: Uuid::from_u128(1),
                name: "李娜".into(),
                phone: "13800138000".into(),
                email: "lina@acme.cn".into(),
                token_hash: "h".into(),
                expires_at: now + chrono::Duration::hours(48),
                invited_by: "reseller-1".into(),
            },
            OrganizationEvent::InvitationAccepted {
                invitation_id: Uuid::from_u128(1),
                account: "lina".into(),
            },
            OrganizationEvent::AppBound {
                subscription_id: sub,
            },
        ],
    )
    .await;
    append(
        store,
        &format!("subscription-{sub}"),
        &[SubscriptionEvent::AppBound {
            organization_id: org,
        }],
    )
    .await;
    let mut members = Vec::new();
    for i in 0..6 {
        let id = Uuid::now_v7();
        members.push(id);
        append(
            store,
            &format!("member-{id}"),
            &[MemberEvent::MemberAdded {
                member_id: id,
                organization_id: org,
                name: format!("成员{i}"),
                account: format!("m{i}"),
                phone: Some(format!("1380000000{i}")),
                email: None,
                department_id: (i % 2 == 0).then_some(dept),
                role: RoleLabel::Member,
                employment_type: EmploymentType::FullTime,
                hire_date: None,
            }],
        )
        .await;
    }
    for id in &members[..3] {
        append(
            store,
            &format!("member-{id}"),
            &[MemberEvent::MemberAuthorized {
                subscription_id: sub,
                send_credentials_sms: true,
            }],
        )
        .await;
        append(
            store,
            &format!("subscription-{sub}"),
            &[SubscriptionEvent::SeatAssigned { member_id: *id }],
        )
        .await;
    }
    append(
        store,
        &format!("member-{}", members[5]),
        &[
            MemberEvent::MemberUpdated {
                name: Some("新名字".into()),
                phone: Some(None),
                email: Some(Some("x@acme.cn".into())),
                department_id: None,
                role: Some(RoleLabel::Admin),
                previous_phone: Some("13800000005".into()),
            },
            MemberEvent::MemberDisabled {},
            MemberEvent::MemberDeleted {
                account: "m5".into(),
                phone: None,
            },
        ],
    )
    .await;
    let domain = Uuid::now_v7();
    append(
        store,
        &format!("maildomain-{domain}"),
        &[
            MailDomainEvent::DomainAdded {
                domain_id: domain,
                organization_id: org,
                name: "acme.cn".into(),
                display_name: "acme.cn".into(),
                mode: VerificationMode::Full,
                records: vec![],
            },
            MailDomainEvent::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            },
        ],
    )
    .await;
    let mailbox = Uuid::now_v7();
    append(
        store,
        &format!("mailbox-{mailbox}"),
        &[
            MailboxEvent::MailboxOpened {
                mailbox_id: mailbox,
                organization_id: org,
                member_id: members[0],
                domain_id: domain,
                address: "chengyuan0@acme.cn".into(),
            },
            MailboxEvent::MailboxProvisioned {},
            MailboxEvent::MailboxClosed {
                reason: domain::mailbox::CloseReason::ByAdmin,
                closed_at: now,
                purge_after: now + chrono::Duration::days(30),
            },
        ],
    )
    .await;
    let migration = Uuid::now_v7();
    let account = Uuid::now_v7();
    append(
        store,
        &format!("migration-{migration}"),
        &[
            MigrationEvent::MigrationCreated {
                migration_id: migration,
                organization_id: org,
                source: MailSource {
                    host: "imap.old.cn".into(),
                    port: 993,
                    protocol: MailProtocol::Imap,
                    tls: true,
                },
                expires_at: now + chrono::Duration::days(30),
            },
            MigrationEvent::MigrationAccountsAdded {
                accounts: vec![NewMigrationAccount {
                    account_id: account,
                    line: 2,
                    old_account: "zhang@old.cn".into(),
                    mailbox_id: mailbox,
                    address: "chengyuan0@acme.cn".into(),
                }],
            },
            MigrationEvent::MigrationRunStarted {
                run: 1,
                accounts: vec![account],
            },
            MigrationEvent::AccountCheckStarted {
                account_id: account,
            },
            MigrationEvent::AccountCopyStarted {
                account_id: account,
                mode: CopyMode::Mirror,
                messages: 3,
            },
            MigrationEvent::AccountSucceeded {
                account_id: account,
                folders: vec![FolderCount {
                    name: "INBOX".into(),
                    total: 3,
                    copied: 3,
                    skipped: 0,
                    bytes: 900,
                }],
                sync_state: None,
            },
            MigrationEvent::MigrationCompleted {},
        ],
    )
    .await;
    (org, sub)
}

/// Every projection table as JSON, rows in a stable order.
async fn dump(store: &EventStore) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for p in Projection::ALL {
        for table in p.tables() {
            let rows: serde_json::Value = sqlx::query_scalar(&format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
            ))
            .fetch_one(store.pool())
            .await
            .unwrap();
            out.push((table.to_string(), rows));
        }
    }
    out
}

#[tokio::test]
async fn projections_fold_the_log_and_a_rebuild_gives_identical_tables() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(5).await);
    let (org, sub) = history(&store).await;
    let runner = Runner::new(store.clone());
    settle(&store, &runner).await;

    let (seats, authorized, status): (i32, i32, String) =
        sqlx::query_as("SELECT seats, authorized, status FROM subscriptions WHERE id = $1")
            .bind(sub)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((seats, authorized, status.as_str()), (5, 3, "TRIAL"));
    let admins: Vec<String> =
        sqlx::query_scalar("SELECT account FROM organization_admins WHERE organization_id = $1")
            .bind(org)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(admins, vec!["lina"]);
    let statuses: Vec<(String, bool)> =
        sqlx::query_as("SELECT status, authorized FROM members ORDER BY account")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(statuses.iter().filter(|(_, a)| *a).count(), 3);
    assert_eq!(statuses[5].0, "DELETED");
    let (address, status): (String, String) =
        sqlx::query_as("SELECT address, status FROM mailboxes")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        (address.as_str(), status.as_str()),
        ("chengyuan0@acme.cn", "CLOSED")
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE organization_id = $1")
            .bind(org)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // Every event but the trial's start (before the organization existed) is the organization's.
    assert_eq!(audited, total - 1);

    // Catching up again changes nothing: each event is folded once.
    let before = dump(&store).await;
    for p in Projection::ALL {
        assert_eq!(runner.catch_up(p).await.unwrap(), 0);
    }
    assert_eq!(dump(&store).await, before);

    for p in Projection::ALL {
        runner.rebuild(p).await.unwrap();
    }
    assert_eq!(dump(&store).await, before);
    // After the swap the live checkpoint continues from where the rebuild ended.
    for p in Projection::ALL {
        assert!(store.checkpoint(&p.consumer()).await.unwrap().unwrap() > Position::START);
        assert_eq!(runner.catch_up(p).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_mutation_can_wait_until_its_projection_passed_its_position() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(5).await);
    let runner = Runner::new(store.clone());
    let sub = Uuid::now_v7();
    let now = Utc::now();
    let e = encode_serde(
        &SubscriptionEvent::TrialStarted {
            subscription_id: sub,
            order_id: "O-2".into(),
            buyer_account_id: "b".into(),
            edition: "standard".into(),
            seats: 1,
            started_at: now,
            trial_ends_at: now,
        },
        Metadata::new(),
        1,
    )
    .unwrap();
    let appended = store
        .append(
            &format!("subscription-{sub}"),
            ExpectedRevision::NoStream,
            &[e],
        )
        .await
        .unwrap();
    runner
        .wait_for(
            Projection::Subscriptions,
            appended.position,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn concurrent_runners_fold_each_event_once() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(10).await);
    let (_, sub) = history(&store).await;
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let runner = Runner::new(store.clone());
            tokio::spawn(async move { runner.catch_up(Projection::Subscriptions).await.unwrap() })
        })
        .collect();
    let mut folded = 0;
    for r in runners {
        folded += r.await.unwrap();
    }
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE category = 'subscription'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(folded as i64, events);
    let authorized: i32 = sqlx::query_scalar("SELECT authorized FROM subscriptions WHERE id = $1")
        .bind(sub)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(authorized, 3);
}

#[tokio::test]
async fn folding_event_by_event_and_in_bulk_runs_gives_identical_tables() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let store = EventStore::new(db.pool(5).await);
    let runner = Runner::new(store.clone());
    *FOLD_EACH.lock().unwrap() = Some(runner.clone());
    history(&store).await;
    *FOLD_EACH.lock().unwrap() = None;
    let one_by_one = dump(&store).await;
    // The history has runs the batch path takes as one: six members added, three
    // authorized, three seats assigned, and every event through the audit log.
    for p in Projection::ALL {
        runner.rebuild(p).await.unwrap();
    }
    assert_eq!(dump(&store).await, one_by_one);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE organization_id IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(audited > 10, "{audited}");
}
