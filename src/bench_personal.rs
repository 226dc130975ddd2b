//! What sealing personal fields costs (part of `mailplane bench eventstore`): commands
//! appended with and without sealing, and every projection rebuilt from one log stored
//! sealed and in clear.
//!
//! The events are the product's own (`domain::member::MemberEvent`), with the personal
//! metadata the application gives them (`domain::catalog::personal_fields`).

use std::time::{Duration, Instant};

use anyhow::Context;
use domain::member::{EmploymentType, MemberEvent, RoleLabel};
use eventstore::{EventStore, ExpectedRevision, Keyring, Metadata, NewEvent, Personal};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::bench::{measure, Writer, WriterCtx};

/// Events of one member's life, as the product writes them: added, authorized, renamed,
/// password reset, phone changed. Three of the five hold personal fields; the first
/// introduces a person (a new key).
const LIFE: usize = 5;

/// Members in the log that the projections are rebuilt from, per second of a phase
/// (20,000 with 10-second phases; a one-second smoke run stays quick).
const REBUILD_MEMBERS_PER_PHASE_SECOND: u64 = 2_000;

fn life_event(step: usize, n: u64, member_id: Uuid, organization_id: Uuid) -> MemberEvent {
    match step {
        0 => MemberEvent::MemberAdded {
            member_id,
            organization_id,
            name: "张伟".into(),
            account: format!("zhangwei{n}"),
            phone: Some(format!("138{:08}", n % 100_000_000)),
            email: Some(format!("zhangwei{n}@example.cn")),
            department_id: None,
            role: RoleLabel::Member,
            employment_type: EmploymentType::FullTime,
            hire_date: None,
        },
        1 => MemberEvent::MemberAuthorized {
            subscription_id: organization_id,
            send_credentials_sms: true,
        },
        2 => MemberEvent::MemberUpdated {
            name: Some("张伟伟".into()),
            phone: None,
            email: Some(Some(format!("weiwei{n}@example.cn"))),
            department_id: None,
            role: None,
            previous_phone: None,
        },
        3 => MemberEvent::MemberPasswordReset {},
        _ => MemberEvent::MemberUpdated {
            name: None,
            phone: Some(Some(format!("139{:08}", n % 100_000_000))),
            email: None,
            department_id: None,
            role: None,
            previous_phone: Some(format!("138{:08}", n % 100_000_000)),
        },
    }
}

/// The event with the metadata a command gives it; its person named when `sealed`.
fn encoded(
    event: &MemberEvent,
    member_id: Uuid,
    organization_id: Uuid,
    sealed: bool,
) -> anyhow::Result<NewEvent> {
    let mut metadata = Metadata::new();
    metadata.correlation_id = Some(Uuid::now_v7());
    metadata.causation_id = Some(Uuid::now_v7());
    metadata.actor = Some("account:buyer-1".into());
    let mut new = eventstore::encode_serde(event, metadata, domain::SCHEMA_VERSION)?;
    let fields = domain::catalog::personal_fields("member", &new.event_type);
    if sealed && !fields.is_empty() {
        new.metadata.personal = Some(Personal {
            subject: format!("member-{member_id}"),
            group: Some(format!("{organization_id}")),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        });
    }
    Ok(new)
}

/// Commands as the application runs them, each in a transaction of its own: one member's
/// life after another (`life`), or only new members (`!life`: every append introduces a
/// person, the worst case).
fn command_writer(store: EventStore, ctx: WriterCtx, sealed: bool, life: bool) -> Writer {
    Box::pin(async move {
        let organization_id = Uuid::now_v7();
        let steps = if life { LIFE } else { 1 };
        let mut n = 0;
        while !ctx.stop.load(std::sync::atomic::Ordering::Relaxed) {
            let member_id = Uuid::now_v7();
            let stream = format!("member-{member_id}");
            for step in 0..steps {
                let event = life_event(step, n, member_id, organization_id);
                let event = encoded(&event, member_id, organization_id, sealed)?;
                let expected = match step {
                    0 => ExpectedRevision::NoStream,
                    s => ExpectedRevision::Exact(s as u64 - 1),
                };
                let mut tx = store.begin().await?;
                tx.append(&stream, expected, &[event]).await?;
                tx.commit().await?;
                n += 1;
                ctx.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok(n)
    })
}

/// Appends with and without sealing, ABBA; prints the figures and answers the ratio.
async fn compare_appends(
    store: &EventStore,
    phase: Duration,
    life: bool,
    label: &str,
) -> anyhow::Result<f64> {
    let plain_a = measure(8, phase, |w| command_writer(store.clone(), w, false, life)).await?;
    let sealed_a = measure(8, phase, |w| command_writer(store.clone(), w, true, life)).await?;
    let sealed_b = measure(8, phase, |w| command_writer(store.clone(), w, true, life)).await?;
    let plain_b = measure(8, phase, |w| command_writer(store.clone(), w, false, life)).await?;
    let plain = (plain_a + plain_b) / 2.0;
    let sealed = (sealed_a + sealed_b) / 2.0;
    println!("{label}_plain_per_s={plain:.0} ({plain_a:.0}, {plain_b:.0})");
    println!("{label}_sealed_per_s={sealed:.0} ({sealed_a:.0}, {sealed_b:.0})");
    Ok(sealed / plain)
}

/// Every figure of this part; `options` reach the bench database (its server hosts two
/// more for the rebuilds).
pub async fn run(
    store: &EventStore,
    options: &PgConnectOptions,
    phase: Duration,
) -> anyhow::Result<()> {
    let worst = compare_appends(store, phase, false, "append_new_person_8w").await?;
    let life = compare_appends(store, phase, true, "append_member_life_8w").await?;
    let members = REBUILD_MEMBERS_PER_PHASE_SECOND * phase.as_secs().max(1);
    let rebuild = match rebuild_ratio(options, members).await {
        Ok(ratio) => format!("{ratio:.2}"),
        Err(e) => {
            println!("rebuild comparison skipped: {e:#}");
            "n/a".into()
        }
    };
    println!(
        "sealed_append_ratio={life:.2} sealed_append_new_person_ratio={worst:.2} sealed_rebuild_ratio={rebuild}"
    );
    Ok(())
}

/// A database of its own on the bench database's server, dropped by [`drop_database`].
async fn scratch_database(options: &PgConnectOptions, name: &str) -> anyhow::Result<PgPool> {
    let mut admin = PgConnection::connect_with(options).await?;
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}""#).as_str())
        .await?;
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .with_context(|| format!("cannot create the database {name}"))?;
    admin.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .connect_with(options.clone().database(name))
        .await?;
    EventStore::migrate(&pool).await?;
    Ok(pool)
}

async fn drop_database(options: &PgConnectOptions, pool: PgPool, name: &str) -> anyhow::Result<()> {
    pool.close().await;
    let mut admin = PgConnection::connect_with(options).await?;
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}""#).as_str())
        .await?;
    admin.close().await?;
    Ok(())
}

/// The same members' lives written to two databases, sealed and in clear; every projection
/// rebuilt from each, ABBA. Answers sealed/plain events per second.
async fn rebuild_ratio(options: &PgConnectOptions, members: u64) -> anyhow::Result<f64> {
    let base = options.get_database().unwrap_or("mailplane").to_owned();
    let mut sides = Vec::new();
    for (side, sealed) in [("sealed", true), ("plain", false)] {
        let name = format!("{base}_rebuild_{side}");
        let pool = scratch_database(options, &name).await?;
        let store =
            EventStore::new(pool.clone()).with_keyring(Keyring::new(crate::bench::BENCH_KEY));
        fill(&store, sealed, members).await?;
        // A log as it usually is: settled (hint bits set, statistics known), not just written.
        pool.execute("VACUUM ANALYZE").await?;
        sides.push((side, name, pool, store));
    }
    let mut figures = [Vec::new(), Vec::new()];
    // The first rebuild of each side warms caches and makes the rebuild tables: not timed.
    for (index, timed) in [
        (0, false),
        (1, false),
        (0, true),
        (1, true),
        (1, true),
        (0, true),
    ] {
        let store = &sides[index].3;
        let started = Instant::now();
        let folded = projections::Runner::new(store.clone())
            .rebuild_all(&projections::Projection::ALL)
            .await
            .with_context(|| format!("rebuilding the {} log", sides[index].0))?;
        let events = (members as usize * LIFE) as f64;
        anyhow::ensure!(
            folded.iter().sum::<usize>() > 0,
            "the rebuild folded nothing"
        );
        if timed {
            figures[index].push(events / started.elapsed().as_secs_f64());
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (sealed, plain) = (mean(&figures[0]), mean(&figures[1]));
    println!(
        "rebuild_all_sealed_events_per_s={sealed:.0} ({:.0}, {:.0}) over {} events",
        figures[0][0],
        figures[0][1],
        members as usize * LIFE
    );
    println!(
        "rebuild_all_plain_events_per_s={plain:.0} ({:.0}, {:.0})",
        figures[1][0], figures[1][1]
    );
    for (_, name, pool, _) in sides {
        drop_database(options, pool, &name).await?;
    }
    Ok(sealed / plain)
}

/// Writes `members` lives, one append per member (the events of a life at once).
async fn fill(store: &EventStore, sealed: bool, members: u64) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let organization_id = Uuid::now_v7();
            for n in (w..members).step_by(4) {
                let member_id = Uuid::now_v7();
                let events = (0..LIFE)
                    .map(|step| {
                        let event = life_event(step, n, member_id, organization_id);
                        encoded(&event, member_id, organization_id, sealed)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                store
                    .append(
                        &format!("member-{member_id}"),
                        ExpectedRevision::NoStream,
                        &events,
                    )
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
