//! The GraphQL API and the HTTP feed fuzzed by schemathesis (from the API's own
//! introspection and from schema/openapi/feed.yaml) through the binary: random values,
//! huge strings, deep nesting, every operation, as several principals. No 5xx (but a
//! retryable 503), every error with a code, none INTERNAL (tests/fuzz/mailplane_checks.py);
//! a caller who may do nothing writes nothing.
//!
//! Needs schemathesis (`pip install schemathesis`; .ci/run installs it).

mod support;

use std::process::Command;

use eventstore::testkit::fresh_database;
use serde_json::json;
use support::*;

/// Seconds of fuzzing per run (`MAILPLANE_FUZZ_SECONDS`).
fn budget() -> String {
    std::env::var("MAILPLANE_FUZZ_SECONDS").unwrap_or_else(|_| "30".into())
}

fn schemathesis(location: &str, token: Option<&str>, extra: &[&str]) -> (bool, String) {
    let checks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz");
    let mut cmd = Command::new("schemathesis");
    cmd.arg("run")
        .arg(location)
        .args(["--checks", "every_error_has_a_code_and_none_is_internal"])
        .args(["--max-time", &budget(), "--seed", "7", "--workers", "2"])
        .args(["--request-timeout", "30"])
        .args(extra)
        .env("PYTHONPATH", checks)
        .env("SCHEMATHESIS_HOOKS", "mailplane_checks")
        .env("NO_COLOR", "1");
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("schemathesis is needed for this test (pip install schemathesis; .ci/run installs it): {e}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_no_codeless_error_and_no_write_by_a_refused_caller() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dns = Dns::new(&dir);
    dns.serve(&[]);
    let server = start(&db.url(), &dir, &dns);
    let port = server.port;
    // A tenant with data, so that reads and writes reach real rows.
    let market = token("orders", "service", Some("marketplace"));
    let buyer = token("buyer-1", "account", None);
    let input = json!({"buyerAccountId": "buyer-1", "orderId": "FUZZ-1", "edition": "standard", "seats": 5, "trial": true});
    let sub = gql(port, &market, "mutation($input: ProvisionSubscriptionInput!) { provisionSubscription(input: $input) { id } }", json!({"input": input}))["provisionSubscription"]["id"].clone();
    let org = gql(port, &buyer, "mutation { createOrganization(input: {name: \"阿克米科技\", identifier: \"acme\"}) { id } }", json!({}))["createOrganization"]["id"].clone();
    gql(
        port,
        &buyer,
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    );
    let graphql = format!("http://127.0.0.1:{port}/graphql");
    let pool = db.pool(2).await;
    let events = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // Someone whose every request is refused (creating an organization of its own is the
    // one thing any account may do, so it is left out): nothing is written.
    let nobody = token("nobody", "account", None);
    let before = events().await;
    let (ok, out) = schemathesis(
        &graphql,
        Some(&nobody),
        &["--exclude-name-regex", "createOrganization"],
    );
    assert!(ok, "as an account of nothing:\n{}", tail(&out));
    assert_eq!(events().await, before, "a refused request wrote events");
    // Anonymous callers get no introspection: the committed SDL describes the API to it.
    let sdl = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/graphql/schema.graphql");
    let (ok, out) = schemathesis(sdl, None, &["--url", &graphql]);
    assert!(ok, "anonymous:\n{}", tail(&out));
    assert_eq!(events().await, before, "an anonymous request wrote events");

    // The tenant itself and an operator: writes happen, errors still have codes.
    let (ok, out) = schemathesis(&graphql, Some(&buyer), &[]);
    assert!(ok, "as the buyer:\n{}", tail(&out));
    let ops = token("ops", "operator", None);
    let (ok, out) = schemathesis(&graphql, Some(&ops), &[]);
    assert!(ok, "as an operator:\n{}", tail(&out));

    // The billing feed, from its OpenAPI description.
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/openapi/feed.yaml");
    let billing = token("billing", "service", Some("billing"));
    let base = format!("http://127.0.0.1:{port}");
    let (ok, out) = schemathesis(spec, Some(&billing), &["--url", &base]);
    assert!(ok, "the feed:\n{}", tail(&out));
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
