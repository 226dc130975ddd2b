//! The read side under load: the members page at 1 and 64 clients, projection rebuilds.

use super::*;

/// The members page (50, with department and mailbox): first and past member 40,000,
/// by 1 and by 64 clients at once.
pub(super) async fn members_page(
    server: &Server,
    big: &Org,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let deep = big.deep_cursor();
    for clients in [1usize, 64] {
        for (label, cursor) in [("first", None), ("deep", Some(deep.clone()))] {
            let per_client = if clients == 1 { 300 } else { 20 };
            let token = server.token("buyer-bench", "account", None)?;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let gql = Gql::new(server.port, token.clone());
                let (org, cursor) = (big.id.clone(), cursor.clone());
                tasks.push(tokio::spawn(async move {
                    let mut times = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let (data, t) = gql
                            .timed(org::MEMBERS_PAGE, json!({"o": org, "after": cursor}))
                            .await?;
                        anyhow::ensure!(
                            data["organization"]["members"]["edges"]
                                .as_array()
                                .is_some_and(|e| e.len() == 50),
                            "a page of 50"
                        );
                        times.push(t);
                    }
                    Ok::<_, anyhow::Error>(times)
                }));
            }
            let mut times = Vec::new();
            for t in tasks {
                times.extend(t.await??);
            }
            let elapsed = started.elapsed().as_secs_f64();
            let (p50, p99) = percentiles(&mut times);
            let key = format!("members_page_{label}_{clients}c");
            figures.put(
                &format!("{key}_per_s"),
                format!("{:.0}", times.len() as f64 / elapsed),
            );
            figures.ms(&format!("{key}_p50_ms"), p50);
            figures.ms(&format!("{key}_p99_ms"), p99);
        }
    }
    Ok(())
}

/// Every projection rebuilt from the whole log, beside a bare read of the log.
pub(super) async fn rebuild(
    db: &Database,
    secret_key: &str,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let keyring = app::secrets::SecretStore::new(db.pool.clone(), secret_key)?.personal_keyring();
    let store = eventstore::EventStore::new(db.pool.clone()).with_keyring(keyring);
    let started = Instant::now();
    let mut after = eventstore::Position::START;
    let mut events = 0usize;
    loop {
        let page = store.read_all(after, 1_000).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        events += page.len();
    }
    let read = started.elapsed().as_secs_f64();
    figures.put("log_events", events);
    figures.put(
        "baseline_read_log_events_per_s",
        format!("{:.0}", events as f64 / read),
    );
    let runner = projections::Runner::new(store);
    // One after another, each from the first event.
    let started = Instant::now();
    for p in projections::Projection::ALL {
        let one = Instant::now();
        let n = runner
            .rebuild(p)
            .await
            .with_context(|| format!("rebuilding {}", p.name()))?;
        let seconds = one.elapsed().as_secs_f64();
        figures.put(
            &format!("rebuild_{}_events_per_s", p.name()),
            format!("{:.0}", n as f64 / seconds),
        );
    }
    let sequential = started.elapsed().as_secs_f64();
    figures.put("rebuild_all_sequential_s", format!("{sequential:.2}"));
    figures.put(
        "rebuild_all_sequential_log_events_per_s",
        format!("{:.0}", events as f64 / sequential),
    );
    // All side by side, as `mailplane projections rebuild` does.
    let started = Instant::now();
    runner.rebuild_all(&projections::Projection::ALL).await?;
    let parallel = started.elapsed().as_secs_f64();
    figures.put("rebuild_all_s", format!("{parallel:.2}"));
    figures.put(
        "rebuild_all_log_events_per_s",
        format!("{:.0}", events as f64 / parallel),
    );
    Ok(())
}
