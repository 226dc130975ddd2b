//! `mailplane bench eventstore`: append throughput against a raw INSERT baseline, `$all`
//! catch-up speed, and what sealing personal fields (crypto-shredding) costs appends and
//! catch-up reads, all in one run on one fresh database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use eventstore::{
    EventStore, ExpectedRevision, Keyring, Metadata, NewEvent, Personal, Position,
    SubscriptionFilter,
};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::config::Config;
use crate::database::Database;

const STREAMS: u64 = 1_000;
const CATCHUP_EVENTS: u64 = 100_000;

/// The bench's own master key (its data is made up).
pub(crate) const BENCH_KEY: [u8; 32] = [0x42; 32];

fn phase_seconds() -> u64 {
    std::env::var("MAILPLANE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(5)
}

/// Runs the event store benchmark and prints its figures.
pub async fn eventstore(mut config: Config) -> anyhow::Result<()> {
    let name = format!("mailplane_bench_{}", std::process::id());
    config.db_pool_size = 24;
    let (db, admin) = bench_database(&config, &name).await?;
    let result = run(&db.pool, &db.options).await;
    db.pool.close().await;
    if let Some(admin) = admin {
        // Local mode: the bench database is ours alone; drop it.
        let mut conn = PgConnection::connect_with(&admin).await?;
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}""#).as_str())
            .await?;
        conn.close().await?;
    }
    let closed = db.close().await;
    result?;
    closed
}

/// In local mode a database of its own in the private cluster; with DATABASE_URL, that one.
async fn bench_database(
    config: &Config,
    name: &str,
) -> anyhow::Result<(Database, Option<sqlx::postgres::PgConnectOptions>)> {
    if config.database_url.is_some() {
        let db = Database::open(config).await?;
        return Ok((db, None));
    }
    let db = Database::open_named(config, name).await?;
    let admin = db.options.clone().database("postgres");
    Ok((db, Some(admin)))
}

async fn run(pool: &PgPool, options: &sqlx::postgres::PgConnectOptions) -> anyhow::Result<()> {
    EventStore::migrate(pool).await?;
    pool.execute(
        "DROP TABLE IF EXISTS bench_raw;
         CREATE TABLE bench_raw (
             id bigserial PRIMARY KEY,
             stream_name text NOT NULL,
             event_type text NOT NULL,
             data jsonb NOT NULL,
             metadata jsonb NOT NULL,
             recorded_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .context("creating the raw baseline table")?;
    // Every phase appends with the keyring at hand; only events that name a person are
    // sealed. A fixed key: a second run on the same DATABASE_URL reads the first one's events.
    let store = EventStore::new(pool.clone()).with_keyring(Keyring::new(BENCH_KEY));
    let seconds = phase_seconds();
    let settings: (String, String) =
        sqlx::query_as("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
            .fetch_one(pool)
            .await?;
    println!(
        "bench eventstore: {seconds} s per phase, {STREAMS} streams, fsync={}, synchronous_commit={}",
        settings.0, settings.1
    );

    // Warm up both paths so the first measured phase does not pay for cold caches.
    measure(1, Duration::from_secs(1), |w| raw_writer(pool.clone(), w)).await?;
    measure(1, Duration::from_secs(1), |w| {
        append_writer(store.clone(), w, 1)
    })
    .await?;

    let phase = Duration::from_secs(seconds);
    let raw_1w = measure(1, phase, |w| raw_writer(pool.clone(), w)).await?;
    println!("raw_1w_per_s={raw_1w:.0}");
    let append_1w = measure(1, phase, |w| append_writer(store.clone(), w, 1)).await?;
    println!("append_1w_per_s={append_1w:.0}");
    // ABBA order: drift over the run (autovacuum, cache, table growth) weighs on both
    // sides alike.
    let raw_a = measure(8, phase, |w| raw_writer(pool.clone(), w)).await?;
    let append_a = measure(8, phase, |w| append_writer(store.clone(), w, 8)).await?;
    let append_b = measure(8, phase, |w| append_writer(store.clone(), w, 8)).await?;
    let raw_b = measure(8, phase, |w| raw_writer(pool.clone(), w)).await?;
    let raw_8w = (raw_a + raw_b) / 2.0;
    let append_8w = (append_a + append_b) / 2.0;
    println!("raw_8w_per_s={raw_8w:.0} ({raw_a:.0}, {raw_b:.0})");
    println!("append_8w_per_s={append_8w:.0} ({append_a:.0}, {append_b:.0})");

    // Two categories of their own, the same MemberAdded events in each, in clear and sealed
    // (the "member" category also holds the small events of the phases above).
    top_up(&store, "clear", CATCHUP_EVENTS, false).await?;
    top_up(&store, "sealed", CATCHUP_EVENTS, true).await?;
    let catchup = catch_up(&store, SubscriptionFilter::All, CATCHUP_EVENTS).await?;
    println!("catchup_events_per_s={catchup:.0} over {CATCHUP_EVENTS} events");
    let plain_read = SubscriptionFilter::categories(["clear"]);
    let sealed_read = SubscriptionFilter::categories(["sealed"]);
    let read_plain_a = catch_up(&store, plain_read.clone(), CATCHUP_EVENTS).await?;
    let read_sealed_a = catch_up(&store, sealed_read.clone(), CATCHUP_EVENTS).await?;
    let read_sealed_b = catch_up(&store, sealed_read, CATCHUP_EVENTS).await?;
    let read_plain_b = catch_up(&store, plain_read, CATCHUP_EVENTS).await?;
    let read_plain = (read_plain_a + read_plain_b) / 2.0;
    let read_sealed = (read_sealed_a + read_sealed_b) / 2.0;
    println!("catchup_plain_per_s={read_plain:.0} ({read_plain_a:.0}, {read_plain_b:.0})");
    println!("catchup_sealed_per_s={read_sealed:.0} ({read_sealed_a:.0}, {read_sealed_b:.0})");
    println!("sealed_catchup_ratio={:.2}", read_sealed / read_plain);
    crate::bench_personal::run(&store, options, phase).await?;

    println!(
        "append_1w_per_s={append_1w:.0} append_8w_per_s={append_8w:.0} raw_8w_per_s={raw_8w:.0} append_8w_ratio={:.2} catchup_events_per_s={catchup:.0}",
        append_8w / raw_8w
    );
    Ok(())
}

/// A writer loop: one operation per call of `step`, until told to stop; returns its count.
pub(crate) type Writer =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<u64>> + Send>>;

/// Runs `writers` loops for `duration` and returns operations per second over all of them.
pub(crate) async fn measure(
    writers: u64,
    duration: Duration,
    make: impl Fn(WriterCtx) -> Writer,
) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|index| {
            tokio::spawn(make(WriterCtx {
                index,
                stop: stop.clone(),
                done: done.clone(),
            }))
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await.context("a bench writer panicked")??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}

/// What a writer loop is told: its number, when to stop, where to count.
pub(crate) struct WriterCtx {
    pub index: u64,
    pub stop: Arc<AtomicBool>,
    pub done: Arc<AtomicU64>,
}

/// Small deterministic generator for stream picks.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn payload(n: u64) -> serde_json::Value {
    json!({"member_id": format!("m-{n}"), "account": "zhangwei", "seats": 10})
}

/// A `MemberAdded` as the product writes it (its data and metadata), about `person`; its
/// personal fields are sealed when `sealed`.
fn member_added(n: u64, person: String, sealed: bool) -> NewEvent {
    let data = json!({
        "member_id": uuid::Uuid::now_v7(), "organization_id": uuid::Uuid::now_v7(),
        "department_id": null, "name": "张伟", "account": format!("zhangwei{n}"),
        "phone": format!("138{:08}", n % 100_000_000), "email": format!("zhangwei{n}@example.cn"),
        "role": "MEMBER", "employment_type": "FULL_TIME", "hire_date": "2026-03-01",
    });
    let mut metadata = Metadata::new();
    metadata.correlation_id = Some(uuid::Uuid::now_v7());
    metadata.causation_id = Some(uuid::Uuid::now_v7());
    metadata.actor = Some("account:buyer-1".into());
    if sealed {
        metadata.personal = Some(Personal {
            subject: person,
            group: Some(format!("organization-{}", n % 100)),
            fields: ["name", "account", "phone", "email"]
                .map(String::from)
                .to_vec(),
        });
    }
    NewEvent::new("MemberAdded", data).with_metadata(metadata)
}

fn raw_writer(pool: PgPool, ctx: WriterCtx) -> Writer {
    Box::pin(async move {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (ctx.index + 1));
        let metadata = json!({"actor": "bench", "schema_version": 1});
        let mut n = 0;
        while !ctx.stop.load(Ordering::Relaxed) {
            let stream = format!("member-{}", rng.next(STREAMS));
            sqlx::query(
                "INSERT INTO bench_raw (stream_name, event_type, data, metadata) VALUES ($1, $2, $3, $4)",
            )
            .bind(&stream)
            .bind("MemberAdded")
            .bind(payload(n))
            .bind(&metadata)
            .execute(&pool)
            .await?;
            n += 1;
            ctx.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    })
}

/// Appends one event per call with the exact expected revision. Each writer owns the
/// streams whose number is its index modulo the writer count, so it always knows their
/// revisions; picks among them are random.
fn append_writer(store: EventStore, ctx: WriterCtx, writers: u64) -> Writer {
    Box::pin(async move {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ (ctx.index + 1));
        let mut revisions: HashMap<u64, Option<u64>> = HashMap::new();
        let owned = STREAMS / writers;
        let mut n = 0;
        while !ctx.stop.load(Ordering::Relaxed) {
            let number = rng.next(owned) * writers + ctx.index;
            let stream = format!("member-{number}-w{writers}");
            // A stream not seen yet is taken to be new; if it is not, the refusal says
            // where it is and the writer tries again with that (the miss is not counted).
            let known = revisions.get(&number).copied().flatten();
            let expected = known.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            let event = NewEvent::new("MemberAdded", payload(n));
            let result = match store.append(&stream, expected, &[event]).await {
                Ok(r) => r,
                Err(eventstore::Error::WrongExpectedVersion { actual, .. }) => {
                    revisions.insert(number, actual);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            revisions.insert(number, Some(result.next_expected));
            n += 1;
            ctx.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    })
}

/// Appends in batches until `category` holds at least `total` events; sealed ones name a
/// person per five events (a member's life in the log is a handful of events).
async fn top_up(
    store: &EventStore,
    category: &'static str,
    total: u64,
    sealed: bool,
) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE $1")
        .bind(format!("{category}-%"))
        .fetch_one(store.pool())
        .await?;
    let missing = total.saturating_sub(have as u64);
    let batches = missing.div_ceil(500);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for b in (w..batches).step_by(4) {
                let events: Vec<NewEvent> = (0..500)
                    .map(|i| {
                        let n = b * 500 + i;
                        member_added(n, format!("member-{category}{b}-{}", i / 5), sealed)
                    })
                    .collect();
                store
                    .append(
                        &format!("{category}-fill{b}"),
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

/// Reads from the start, page by page, as a catching-up subscriber (a rebuild) does.
async fn catch_up(
    store: &EventStore,
    filter: SubscriptionFilter,
    total: u64,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut sub = store
        .subscribe(filter, Position::START)
        .with_batch_size(1_000);
    let mut read = 0u64;
    let mut bytes = 0usize;
    while read < total {
        let e = sub.next().await?;
        bytes += e.event_type.len();
        read += 1;
    }
    std::hint::black_box(bytes);
    Ok(read as f64 / started.elapsed().as_secs_f64())
}
