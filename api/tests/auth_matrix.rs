//! Every mutation and query with the wrong principal: another tenant's admin, an account
//! that belongs to nothing, the wrong kind of principal, no principal; and at the HTTP
//! edge an expired token, a bad signature, `alg: none`. Each is refused with FORBIDDEN or
//! UNAUTHENTICATED, writes nothing, and answers no data.

use std::sync::Arc;
use std::time::Duration;

use api::graphql::{build_schema, MailplaneSchema, Services};
use app::auth::{JwtKeys, Principal, PrincipalKind};
use app::secrets::SecretStore;
use async_graphql::{Request, Variables};
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The `events` query reads `$all`, which stops below the oldest open transaction of the
/// whole cluster: one test at a time keeps its completeness assertion exact.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SECRET: &[u8] = b"matrix-secret-matrix-secret-matrix-secret";

fn who(id: &str, kind: PrincipalKind, scope: Option<&str>) -> Option<Principal> {
    Some(Principal {
        id: id.into(),
        kind,
        scope: scope.map(str::to_owned),
    })
}

async fn run(
    schema: &MailplaneSchema,
    principal: Option<Principal>,
    query: &str,
    vars: Value,
) -> Value {
    let request = Request::new(query)
        .variables(Variables::from_json(vars))
        .data(app::Request::client(principal, Uuid::now_v7()));
    serde_json::to_value(schema.execute(request).await).unwrap()
}

async fn ok(
    schema: &MailplaneSchema,
    principal: Option<Principal>,
    query: &str,
    vars: Value,
) -> Value {
    let r = run(schema, principal, query, vars).await;
    assert!(r.get("errors").is_none(), "{r}");
    r["data"].clone()
}

async fn events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn setup() -> (MailplaneSchema, PgPool, Value) {
    let db = fresh_database().await;
    let pool = db.pool(10).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let schema = build_schema(Services {
        app: app::App::new(
            store.clone(),
            secrets.clone(),
            // Never asked in these tests: every verification is refused before a lookup.
            Arc::new(app::dns::DnsLookup::new(Some("127.0.0.1:9".parse().unwrap())).unwrap()),
            Arc::new(app::SystemClock),
        ),
        runner: projections::Runner::new(store),
    });
    let market = who("orders", PrincipalKind::Service, Some("marketplace"));
    let buyer = who("buyer-1", PrincipalKind::Account, None);
    let sub = ok(&schema, market, "mutation { provisionSubscription(input: {buyerAccountId: \"buyer-1\", orderId: \"O-1\", edition: \"standard\", seats: 2, trial: true}) { id } }", json!({})).await;
    let sub = sub["provisionSubscription"]["id"].clone();
    let org = ok(
        &schema,
        buyer.clone(),
        "mutation { createOrganization(input: {name: \"A\", identifier: \"acme\"}) { id } }",
        json!({}),
    )
    .await["createOrganization"]["id"]
        .clone();
    ok(
        &schema,
        buyer.clone(),
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    )
    .await;
    let dept = ok(
        &schema,
        buyer.clone(),
        "mutation($o: ID!) { createDepartment(organizationId: $o, name: \"D\") { id } }",
        json!({"o": org}),
    )
    .await["createDepartment"]["id"]
        .clone();
    let member = ok(&schema, buyer.clone(), "mutation($o: ID!) { addMember(input: {organizationId: $o, name: \"张伟\", account: \"zw\", phone: \"13800138000\", password: \"Passw0rd!\"}) { id } }", json!({"o": org})).await["addMember"]["id"].clone();
    ok(&schema, buyer.clone(), "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }", json!({"o": org, "m": [member]})).await;
    let domain = ok(
        &schema,
        buyer.clone(),
        "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id } }",
        json!({"o": org}),
    )
    .await["addDomain"]["id"]
        .clone();
    let invitation = ok(&schema, buyer, "mutation($o: ID!) { inviteAdmin(input: {organizationId: $o, name: \"李娜\", phone: \"13800138001\", email: \"l@acme.cn\", validHours: 24}) { id } }", json!({"o": org})).await["inviteAdmin"]["id"].clone();
    let ids = json!({"s": sub, "o": org, "d": dept, "m": member, "dom": domain, "i": invitation, "mb": Uuid::now_v7().to_string()});
    (schema, pool, ids)
}

/// Operations a tenant's admin or buyer may run, with the variables they need.
fn operations() -> Vec<(&'static str, &'static str)> {
    vec![
        ("convertTrial", "mutation($s: ID!) { convertTrial(subscriptionId: $s, months: 1) { id } }"),
        ("expandSeats", "mutation($s: ID!) { expandSeats(subscriptionId: $s, additionalSeats: 1) { amount } }"),
        ("unsubscribe", "mutation($s: ID!) { unsubscribe(subscriptionId: $s) { id } }"),
        ("bindApp", "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }"),
        ("inviteAdmin", "mutation($o: ID!) { inviteAdmin(input: {organizationId: $o, name: \"X\", phone: \"13900000000\", email: \"x@x.cn\", validHours: 1}) { id } }"),
        ("createDepartment", "mutation($o: ID!) { createDepartment(organizationId: $o, name: \"E\") { id } }"),
        ("addMember", "mutation($o: ID!) { addMember(input: {organizationId: $o, name: \"X\", account: \"x\", phone: \"13900000001\", password: \"Passw0rd!\"}) { id } }"),
        ("importMembers", "mutation($o: ID!) { importMembers(organizationId: $o, rows: [{name: \"X\", account: \"y\", email: \"y@x.cn\", password: \"Passw0rd!\"}]) { imported } }"),
        ("disableMember", "mutation($m: ID!) { disableMember(memberId: $m) { id } }"),
        ("enableMember", "mutation($m: ID!) { enableMember(memberId: $m) { id } }"),
        ("deleteMember", "mutation($m: ID!) { deleteMember(memberId: $m) { id } }"),
        ("resetMemberPassword", "mutation($m: ID!) { resetMemberPassword(memberId: $m, password: \"N3w-Passw0rd\") { id } }"),
        ("authorizeMembers", "mutation($o: ID!, $m: ID!) { authorizeMembers(organizationId: $o, memberIds: [$m]) { authorized } }"),
        ("addDomain", "mutation($o: ID!) { addDomain(organizationId: $o, name: \"other.cn\", mode: FULL) { id } }"),
        ("verifyDomain", "mutation($dom: ID!) { verifyDomain(domainId: $dom) { id status } }"),
        ("openMailbox", "mutation($m: ID!, $dom: ID!) { openMailbox(memberId: $m, domainId: $dom) { id } }"),
        ("openMailboxes", "mutation($m: ID!, $dom: ID!) { openMailboxes(memberIds: [$m], domainId: $dom) { id } }"),
        ("closeMailbox", "mutation($mb: ID!) { closeMailbox(mailboxId: $mb) { id } }"),
        ("restoreMailbox", "mutation($mb: ID!) { restoreMailbox(mailboxId: $mb) { id } }"),
        ("reassignMailbox", "mutation($mb: ID!, $m: ID!) { reassignMailbox(mailboxId: $mb, memberId: $m) { id } }"),
        ("purgeMailbox", "mutation($mb: ID!) { purgeMailbox(mailboxId: $mb) { id } }"),
        ("removeAdmin", "mutation($o: ID!) { removeAdmin(organizationId: $o, account: \"buyer-1\") { id } }"),
        ("transferCreator", "mutation($o: ID!) { transferCreator(organizationId: $o, account: \"buyer-1\") { id } }"),
        ("organization admins", "query($o: ID!) { organization(id: $o) { admins creatorAccount } }"),
        ("dissolveOrganization", "mutation($o: ID!) { dissolveOrganization(organizationId: $o, confirmIdentifier: \"acme\", code: \"123456\") { id } }"),
        ("requestDissolutionCode", "mutation($o: ID!) { requestDissolutionCode(organizationId: $o) { sentTo } }"),
        ("provisionSubscription", "mutation { provisionSubscription(input: {buyerAccountId: \"b\", orderId: \"O-9\", edition: \"standard\", seats: 1, trial: true}) { id } }"),
        ("subscription", "query($s: ID!) { subscription(id: $s) { id seats } }"),
        ("registerWebhook", "mutation { registerWebhook(url: \"https://billing.example/hook\") { id secret } }"),
        ("rotateWebhookSecret", "mutation($mb: ID!) { rotateWebhookSecret(id: $mb) { id secret } }"),
        ("pauseWebhook", "mutation($mb: ID!) { pauseWebhook(id: $mb) { id } }"),
        ("resumeWebhook", "mutation($mb: ID!) { resumeWebhook(id: $mb) { id } }"),
        ("replayWebhook", "mutation($mb: ID!) { replayWebhook(id: $mb) { id } }"),
        ("deleteWebhook", "mutation($mb: ID!) { deleteWebhook(id: $mb) { id } }"),
        ("webhooks", "{ webhooks { id url } }"),
        ("parkedEvents", "{ parkedEvents { reason } }"),
        ("organization", "query($o: ID!) { organization(id: $o) { id members { nodes { phone } } } }"),
        ("renewSubscription", "mutation($s: ID!) { renewSubscription(subscriptionId: $s, months: 1) { id } }"),
        ("updateMember", "mutation($m: ID!) { updateMember(memberId: $m, input: {name: \"X\"}) { id } }"),
        ("revokeAuthorization", "mutation($o: ID!, $m: ID!) { revokeAuthorization(organizationId: $o, memberIds: [$m]) { revoked } }"),
        ("renameDepartment", "mutation($d: ID!) { renameDepartment(departmentId: $d, name: \"F\") { id } }"),
        ("moveDepartment", "mutation($d: ID!) { moveDepartment(departmentId: $d) { id } }"),
        ("deleteDepartment", "mutation($d: ID!) { deleteDepartment(departmentId: $d) }"),
        ("revokeInvitation", "mutation($i: ID!) { revokeInvitation(invitationId: $i) { id } }"),
        ("changeDomainMode", "mutation($dom: ID!) { changeDomainMode(domainId: $dom, mode: OWNERSHIP) { id } }"),
        ("replaceDomain", "mutation($dom: ID!) { replaceDomain(domainId: $dom, name: \"acme.com.cn\") { id } }"),
        ("removeDomain", "mutation($dom: ID!) { removeDomain(domainId: $dom) { id } }"),
        ("retryMailboxProvisioning", "mutation($mb: ID!) { retryMailboxProvisioning(mailboxId: $mb) { id } }"),
        ("organization lists", "query($o: ID!) { organization(id: $o) { departmentsConnection { totalCount edges { cursor node { name } } } invitationsConnection { nodes { phone } } recycleBinConnection { totalCount } } }"),
    ]
}

#[tokio::test]
async fn wrong_principals_are_refused_and_nothing_is_written_or_leaked() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, ids) = setup().await;
    let before = events(&pool).await;
    let wrong = [
        (
            "another tenant's admin",
            who("buyer-2", PrincipalKind::Account, None),
        ),
        (
            "an account of nothing",
            who("nobody", PrincipalKind::Account, None),
        ),
        (
            "billing service",
            who("billing", PrincipalKind::Service, Some("billing")),
        ),
        ("no principal", None),
    ];
    // The other tenant has an organization of its own, so it is a real admin elsewhere.
    ok(
        &schema,
        wrong[0].1.clone(),
        "mutation { createOrganization(input: {name: \"B\", identifier: \"beta\"}) { id } }",
        json!({}),
    )
    .await;
    let before = before + 1;
    for (name, query) in operations() {
        for (label, principal) in &wrong {
            let r = run(&schema, principal.clone(), query, ids.clone()).await;
            let code = r["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            let expected: &[&str] = if principal.is_none() {
                &["UNAUTHENTICATED"]
            } else {
                &["FORBIDDEN"]
            };
            assert!(expected.contains(&code.as_str()), "{name} by {label}: {r}");
            assert!(
                r["data"].is_null()
                    || r["data"]
                        .as_object()
                        .is_some_and(|o| o.values().all(Value::is_null)),
                "{name} by {label} leaked: {r}"
            );
        }
    }
    // Operators read, but never act as a tenant.
    let operator = who("ops", PrincipalKind::Operator, None);
    let r = run(
        &schema,
        operator.clone(),
        "mutation($o: ID!) { createDepartment(organizationId: $o, name: \"Z\") { id } }",
        ids.clone(),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let read = ok(
        &schema,
        operator,
        "query($o: ID!) { organization(id: $o) { id } }",
        ids.clone(),
    )
    .await;
    assert_eq!(read["organization"]["id"], ids["o"]);
    assert_eq!(
        events(&pool).await,
        before,
        "a refused request wrote events"
    );
}

#[tokio::test]
async fn tokens_that_are_expired_forged_or_unsigned_are_unauthenticated() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, _) = setup().await;
    let before = events(&pool).await;
    let keys = Arc::new(JwtKeys::from_secret(SECRET).unwrap());
    let state = api::AppState {
        store: EventStore::new(pool.clone()),
        jwt: keys.clone(),
        metrics: Arc::new(api::Metrics::new()),
        introspection: schema.clone(),
        schema,
        http: api::HttpLimits::default(),
        sockets: api::SocketLimits::default(),
        open_sockets: Default::default(),
    };
    let app = api::router(state);
    let now = chrono::Utc::now().timestamp();
    let expired = keys
        .issue(
            "buyer-1",
            PrincipalKind::Account,
            None,
            Duration::from_secs(60),
            now - 3600,
        )
        .unwrap();
    let forged = JwtKeys::from_secret(b"some-other-secret-some-other-secret!!")
        .unwrap()
        .issue(
            "buyer-1",
            PrincipalKind::Account,
            None,
            Duration::from_secs(600),
            now,
        )
        .unwrap();
    let b64 = |s: &str| {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    let unsigned = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&format!(
            r#"{{"sub":"buyer-1","kind":"account","exp":{}}}"#,
            now + 600
        ))
    );
    for token in [expired, forged, unsigned, "garbage".to_owned()] {
        let request = axum::http::Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(json!({"query": "mutation { createOrganization(input: {name: \"C\", identifier: \"gamma\"}) { id } }"}).to_string()))
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{body}"
        );
        assert!(body["data"].is_null());
    }
    assert_eq!(events(&pool).await, before);
}

#[tokio::test]
async fn billing_and_operators_read_the_log_in_order_and_accounts_do_not() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, _) = setup().await;
    let total = events(&pool).await;
    let query = "query($a: String) { events(first: 100, after: $a) { nodes { position stream type } pageInfo { hasNextPage endCursor } } }";
    let billing = who("billing", PrincipalKind::Service, Some("billing"));
    let page = ok(&schema, billing.clone(), query, json!({})).await;
    let internal: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AdminInvited'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(internal, 1, "the setup invites an admin");
    assert_eq!(
        page["events"]["nodes"].as_array().unwrap().len() as i64,
        total - internal,
        "billing never sees internal events"
    );
    let everything = ok(
        &schema,
        who("ops", PrincipalKind::Operator, None),
        query,
        json!({}),
    )
    .await;
    assert_eq!(
        everything["events"]["nodes"].as_array().unwrap().len() as i64,
        total
    );
    let end = page["events"]["pageInfo"]["endCursor"].clone();
    let rest = ok(&schema, billing.clone(), query, json!({"a": end})).await;
    assert!(rest["events"]["nodes"].as_array().unwrap().is_empty());
    let subs = ok(
        &schema,
        billing,
        "{ events(categories: [\"subscription\"]) { nodes { stream } } }",
        json!({}),
    )
    .await;
    assert!(subs["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["stream"].as_str().unwrap().starts_with("subscription-")));
    ok(
        &schema,
        who("ops", PrincipalKind::Operator, None),
        "{ events { nodes { type } } }",
        json!({}),
    )
    .await;
    for principal in [
        who("buyer-1", PrincipalKind::Account, None),
        who("orders", PrincipalKind::Service, Some("marketplace")),
    ] {
        let r = run(
            &schema,
            principal,
            "{ events { nodes { type } } }",
            json!({}),
        )
        .await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN");
    }
}

#[tokio::test]
async fn over_deep_queries_are_refused() {
    let _serial = SERIAL.lock().await;
    let (schema, _, ids) = setup().await;
    let mut query = "id".to_owned();
    for _ in 0..8 {
        query = format!("subscription {{ organization {{ {query} }} }}");
    }
    let r = run(
        &schema,
        who("buyer-1", PrincipalKind::Account, None),
        &format!("query($o: ID!) {{ organization(id: $o) {{ {query} }} }}"),
        ids,
    )
    .await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{r}"
    );
}

#[tokio::test]
async fn operators_manage_webhooks_and_see_the_secret_once() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, _) = setup().await;
    let ops = who("ops", PrincipalKind::Operator, None);
    let register = "mutation($u: String!, $k: String) { registerWebhook(url: $u, categories: [\"subscription\"], idempotencyKey: $k) { id url status secret categories } }";
    let url = json!({"u": "https://billing.example/hook", "k": "w1"});
    let first = ok(&schema, ops.clone(), register, url.clone()).await["registerWebhook"].clone();
    assert!(first["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(first["status"], "ACTIVE");
    let again = ok(&schema, ops.clone(), register, url).await["registerWebhook"].clone();
    assert_eq!(
        again["id"], first["id"],
        "the same key answers the same webhook"
    );
    assert!(again["secret"].is_null(), "the secret is shown once");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys WHERE answer::text LIKE '%whsec_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "no secret in the idempotency table");
    let bad = run(&schema, ops.clone(), register, json!({"u": "ftp://x"})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "VALIDATION");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "url");
    let id = first["id"].clone();
    let rotated = ok(
        &schema,
        ops.clone(),
        "mutation($i: ID!) { rotateWebhookSecret(id: $i) { secret } }",
        json!({"i": id}),
    )
    .await;
    assert!(rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let paused = ok(
        &schema,
        ops.clone(),
        "mutation($i: ID!) { pauseWebhook(id: $i) { status } }",
        json!({"i": id}),
    )
    .await;
    assert_eq!(paused["pauseWebhook"]["status"], "PAUSED");
    let bad_cursor = run(
        &schema,
        ops.clone(),
        "mutation($i: ID!) { replayWebhook(id: $i, after: \"nope\") { id } }",
        json!({"i": id}),
    )
    .await;
    assert_eq!(bad_cursor["errors"][0]["extensions"]["field"], "after");
    let listed = ok(
        &schema,
        ops.clone(),
        "{ webhooks { id secret deliveries { outcome } } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(listed["webhooks"][0]["secret"].is_null());
    ok(
        &schema,
        ops.clone(),
        "mutation($i: ID!) { deleteWebhook(id: $i) { status } }",
        json!({"i": id}),
    )
    .await;
    let gone = run(
        &schema,
        ops,
        "mutation($i: ID!) { pauseWebhook(id: $i) { id } }",
        json!({"i": id}),
    )
    .await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'webhook_secret'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(secrets, 0, "deleting a webhook deletes its secrets");
}

#[tokio::test]
async fn operators_see_parked_events() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, _) = setup().await;
    sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, stream_name, event_type, position, reason)
         VALUES ('worker:dataplane', $1, 'mailbox-x', 'MailboxOpened', '1.0', 'the data plane refused: 400')",
    )
    .bind(Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let ops = who("ops", PrincipalKind::Operator, None);
    let parked = ok(
        &schema,
        ops.clone(),
        "{ parkedEvents { consumer type reason } }",
        json!({}),
    )
    .await;
    assert_eq!(
        parked["parkedEvents"],
        json!([{"consumer": "worker:dataplane", "type": "MailboxOpened", "reason": "the data plane refused: 400"}])
    );
    let bad = run(
        &schema,
        ops,
        "{ parkedEvents(first: 0) { reason } }",
        json!({}),
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn nested_fields_do_not_open_an_organization_and_an_invited_admin_does_not_read_the_order() {
    let _serial = SERIAL.lock().await;
    let db = fresh_database().await;
    let pool = db.pool(10).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let schema = build_schema(Services {
        app: app::App::new(
            store.clone(),
            secrets.clone(),
            Arc::new(app::dns::DnsLookup::new(Some("127.0.0.1:9".parse().unwrap())).unwrap()),
            Arc::new(app::SystemClock),
        ),
        runner: projections::Runner::new(store),
    });
    let market = who("orders", PrincipalKind::Service, Some("marketplace"));
    let reseller = who("reseller-1", PrincipalKind::Account, None);
    let admin = who("admin-1", PrincipalKind::Account, None);
    let provision = "mutation { provisionSubscription(input: {buyerAccountId: \"reseller-1\", orderId: \"O-7\", edition: \"standard\", seats: 2, trial: true}) { id } }";
    let sub = ok(&schema, market.clone(), provision, json!({})).await["provisionSubscription"]
        ["id"]
        .clone();
    let org = ok(&schema, reseller.clone(), "mutation { createOrganization(input: {name: \"A\", identifier: \"acme\", asReseller: true}) { id } }", json!({})).await["createOrganization"]["id"].clone();
    let ids = json!({"s": sub, "o": org});
    ok(
        &schema,
        reseller.clone(),
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        ids.clone(),
    )
    .await;
    ok(&schema, reseller.clone(), "mutation($o: ID!) { addMember(input: {organizationId: $o, name: \"张伟\", account: \"zw\", phone: \"13800138000\", password: \"Passw0rd!\"}) { id } }", ids.clone()).await;
    let invitation = ok(&schema, reseller.clone(), "mutation($o: ID!) { inviteAdmin(input: {organizationId: $o, name: \"李娜\", phone: \"13800138001\", email: \"l@acme.cn\", validHours: 24}) { id } }", ids.clone()).await["inviteAdmin"]["id"].clone();
    let invitation_id: Uuid = invitation.as_str().unwrap().parse().unwrap();
    let token = secrets
        .get(app::secrets::Purpose::InvitationToken, invitation_id)
        .await
        .unwrap()
        .unwrap();
    ok(
        &schema,
        admin.clone(),
        "mutation($i: ID!, $t: String!) { acceptInvitation(invitationId: $i, token: $t) { id } }",
        json!({"i": invitation, "t": token}),
    )
    .await;

    // Every path from a subscription into the organization it is bound to.
    let inside = "organization { id name members { nodes { name phone mailbox { address } department { name } } } invitations { phone email } domains { name } auditLog { nodes { eventType actor } } departments { name } seats { authorized } subscription { id } }";
    let through_subscription =
        format!("query($s: ID!) {{ subscription(id: $s) {{ id {inside} }} }}");
    let through_list = format!("{{ subscriptions(first: 2) {{ nodes {{ id {inside} }} }} }}");
    let through_order = format!("mutation {{ provisionSubscription(input: {{buyerAccountId: \"reseller-1\", orderId: \"O-7\", edition: \"standard\", seats: 2, trial: true}}) {{ id {inside} }} }}");
    let before = events(&pool).await;
    for (who_label, principal, query) in [
        (
            "the reseller once an admin took over",
            reseller.clone(),
            through_subscription.as_str(),
        ),
        (
            "the reseller, listing its subscriptions",
            reseller.clone(),
            through_list.as_str(),
        ),
        (
            "the marketplace repeating the order",
            market.clone(),
            through_order.as_str(),
        ),
    ] {
        let r = run(&schema, principal, query, ids.clone()).await;
        let text = r.to_string();
        for secret in ["13800138000", "13800138001", "l@acme.cn", "张伟"] {
            assert!(!text.contains(secret), "{who_label} saw {secret}: {r}");
        }
        assert!(
            r["errors"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e["extensions"]["code"] == "FORBIDDEN")),
            "{who_label}: {r}"
        );
    }
    assert_eq!(
        events(&pool).await,
        before,
        "the repeated order wrote nothing"
    );
    // The admin who accepted reads all of it, from both sides.
    let r = ok(
        &schema,
        admin.clone(),
        &format!("query($o: ID!) {{ organization(id: $o) {{ subscription {{ id {inside} }} }} }}"),
        ids.clone(),
    )
    .await;
    assert_eq!(
        r["organization"]["subscription"]["organization"]["members"]["nodes"][0]["phone"],
        "13800138000"
    );

    // The order is the buyer's: an invited admin reads seats and status, not the order.
    let commercial = "query($o: ID!) { organization(id: $o) { subscription { id seats status orderId buyerAccountId paid currency } } }";
    let r = run(&schema, admin.clone(), commercial, ids.clone()).await;
    let errors = r["errors"].as_array().expect("refusals");
    assert_eq!(errors.len(), 4, "{r}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "FORBIDDEN"),
        "{r}"
    );
    let text = r.to_string();
    assert!(!text.contains("O-7") && !text.contains("reseller-1"), "{r}");
    // The buyer (and the marketplace) still read it through the subscription.
    let own = "query($s: ID!) { subscription(id: $s) { orderId buyerAccountId paid currency } }";
    let r = ok(&schema, reseller.clone(), own, ids.clone()).await;
    assert_eq!(r["subscription"]["orderId"], "O-7");
}

#[tokio::test]
async fn nested_pages_and_aliases_count_toward_the_complexity_limit() {
    let _serial = SERIAL.lock().await;
    let (schema, _, ids) = setup().await;
    let buyer = who("buyer-1", PrincipalKind::Account, None);
    // One page of 100 organizations, each with 100 members: 10,000 rows, not 2 lists.
    let nested = "{ organizations(first: 100) { nodes { members(first: 100) { nodes { id name phone } } } } }";
    let r = run(&schema, buyer.clone(), nested, json!({})).await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{r}"
    );
    // The same small query forty times under aliases is forty queries.
    let one = "members(first: 100) { nodes { id name phone email account } }";
    let aliased: String = (0..40).map(|i| format!("a{i}: {one} ")).collect();
    let r = run(
        &schema,
        buyer.clone(),
        &format!("query($o: ID!) {{ organization(id: $o) {{ {aliased} }} }}"),
        ids.clone(),
    )
    .await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{r}"
    );
    // What the console asks for a page stays well inside.
    let page = "query($o: ID!) { organization(id: $o) { departments { id name } members(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id name account phone email status authorized department { name } mailbox { address status } } } } }";
    ok(&schema, buyer, page, ids).await;
}

#[tokio::test]
async fn a_batch_of_more_than_1000_ids_is_refused_and_writes_nothing() {
    let _serial = SERIAL.lock().await;
    let (schema, pool, ids) = setup().await;
    let before = events(&pool).await;
    let many: Vec<String> = (0..1001).map(|_| Uuid::now_v7().to_string()).collect();
    let buyer = who("buyer-1", PrincipalKind::Account, None);
    for (field, query) in [
        ("memberIds", "mutation($o: ID!, $many: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $many) { authorized } }"),
        ("departmentIds", "mutation($o: ID!, $many: [ID!]) { authorizeMembers(organizationId: $o, departmentIds: $many) { authorized } }"),
        ("memberIds", "mutation($o: ID!, $many: [ID!]!) { revokeAuthorization(organizationId: $o, memberIds: $many) { revoked } }"),
        ("memberIds", "mutation($dom: ID!, $many: [ID!]!) { openMailboxes(memberIds: $many, domainId: $dom) { id } }"),
    ] {
        let mut vars = ids.clone();
        vars["many"] = json!(many);
        let r = run(&schema, buyer.clone(), query, vars).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{r}");
    }
    assert_eq!(events(&pool).await, before);
}
