//! Mutations through the schema: idempotency keys count every argument, an empty import is
//! refused as the rules say, lists are Relay connections, and the operations that had no
//! mutation before (editing members, departments, invitations, domains, revoking seats,
//! renewing) work and refuse bad input without writing.
//!
//! Bad inputs tried here: a repeated idempotency key with another role, an empty import,
//! a bad phone on edit, a department moved under itself, deleting a department with a
//! member, revoking an accepted-or-revoked invitation, renewing a trial, a bad cursor.

use std::sync::Arc;

use api::graphql::{build_schema, MailplaneSchema, Services};
use app::auth::{Principal, PrincipalKind};
use app::secrets::SecretStore;
use async_graphql::{Request, Variables};
use eventstore::testkit::fresh_database;
use eventstore::EventStore;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

fn who(id: &str, kind: PrincipalKind, scope: Option<&str>) -> Option<Principal> {
    Some(Principal {
        id: id.into(),
        kind,
        scope: scope.map(str::to_owned),
    })
}

fn buyer() -> Option<Principal> {
    who("buyer-1", PrincipalKind::Account, None)
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

async fn ok(schema: &MailplaneSchema, query: &str, vars: Value) -> Value {
    let r = run(schema, buyer(), query, vars).await;
    assert!(r.get("errors").is_none(), "{query}: {r}");
    r["data"].clone()
}

/// The error code of a refused request (and that it answered no data).
async fn refused(schema: &MailplaneSchema, query: &str, vars: Value) -> (String, Value) {
    let r = run(schema, buyer(), query, vars).await;
    let empty = r["data"].is_null()
        || r["data"]
            .as_object()
            .is_some_and(|o| o.values().all(Value::is_null));
    assert!(empty, "{r}");
    let e = &r["errors"][0]["extensions"];
    (
        e["code"].as_str().unwrap_or("none").to_owned(),
        e["field"].clone(),
    )
}

async fn events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A trial bound to organization `acme` of buyer-1, with one department and a domain.
async fn setup() -> (MailplaneSchema, PgPool, Value) {
    let db = fresh_database().await;
    let pool = db.pool(10).await;
    let secrets = SecretStore::new(pool.clone(), &app::secrets::generate_key().unwrap()).unwrap();
    let store = EventStore::new(pool.clone()).with_keyring(secrets.personal_keyring());
    let published = domain::maildomain::DnsAnswers {
        mx: vec![
            (5, "mx1.mailplane.test".into()),
            (10, "mx2.mailplane.test".into()),
        ],
        txt: vec!["v=spf1 include:spf.mailplane.test -all".into()],
        cname: vec![("mp1._domainkey".into(), "dkim.mailplane.test".into())],
        dnsauth_txt: vec![],
    };
    let schema = build_schema(Services {
        app: app::App::new(
            store.clone(),
            secrets.clone(),
            Arc::new(app::dns::PublishedByOwner(published)),
            Arc::new(app::SystemClock),
        ),
        runner: projections::Runner::new(store),
    });
    let market = who("orders", PrincipalKind::Service, Some("marketplace"));
    let r = run(&schema, market, "mutation { provisionSubscription(input: {buyerAccountId: \"buyer-1\", orderId: \"O-1\", edition: \"standard\", seats: 3, trial: true}) { id } }", json!({})).await;
    let sub = r["data"]["provisionSubscription"]["id"].clone();
    let org = ok(
        &schema,
        "mutation { createOrganization(input: {name: \"A\", identifier: \"acme\"}) { id } }",
        json!({}),
    )
    .await["createOrganization"]["id"]
        .clone();
    ok(
        &schema,
        "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
        json!({"s": sub, "o": org}),
    )
    .await;
    let dept = ok(
        &schema,
        "mutation($o: ID!) { createDepartment(organizationId: $o, name: \"销售部\") { id } }",
        json!({"o": org}),
    )
    .await["createDepartment"]["id"]
        .clone();
    let domain = ok(
        &schema,
        "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id } }",
        json!({"o": org}),
    )
    .await["addDomain"]["id"]
        .clone();
    (
        schema,
        pool,
        json!({"s": sub, "o": org, "d": dept, "dom": domain}),
    )
}

const ADD: &str = "mutation($o: ID!, $role: Role, $k: String) { addMember(input: {organizationId: $o, name: \"张伟\", account: \"zw\", phone: \"13800138000\", password: \"Passw0rd!\", role: $role}, idempotencyKey: $k) { id role } }";

#[tokio::test]
async fn an_idempotency_key_counts_every_argument() {
    let (schema, pool, ids) = setup().await;
    let vars = |role: &str| json!({"o": ids["o"], "role": role, "k": "add-zw"});
    let first = ok(&schema, ADD, vars("MEMBER")).await;
    let written = events(&pool).await;
    // The same key with another role is another request: refused, nothing written.
    let (code, _) = refused(&schema, ADD, vars("ADMIN")).await;
    assert_eq!(code, "CONFLICT");
    // The same key and arguments: the first answer again.
    let again = ok(&schema, ADD, vars("MEMBER")).await;
    assert_eq!(again, first);
    assert_eq!(first["addMember"]["role"], "MEMBER");
    assert_eq!(events(&pool).await, written);
}

#[tokio::test]
async fn an_empty_import_is_a_validation_error() {
    let (schema, pool, ids) = setup().await;
    let before = events(&pool).await;
    let (code, field) = refused(
        &schema,
        "mutation($o: ID!) { importMembers(organizationId: $o, rows: []) { imported } }",
        json!({"o": ids["o"]}),
    )
    .await;
    assert_eq!((code.as_str(), field), ("VALIDATION", json!("rows")));
    assert_eq!(events(&pool).await, before);
}

#[tokio::test]
async fn lists_are_relay_connections() {
    let (schema, _, ids) = setup().await;
    let rows: Vec<Value> = (0..3)
        .map(|i| json!({"name": "成员", "account": format!("m{i}"), "phone": format!("1390000000{i}"), "password": "Passw0rd!"}))
        .collect();
    let imported = ok(&schema, "mutation($o: ID!, $r: [AddMemberRowInput!]!) { importMembers(organizationId: $o, rows: $r) { imported failed { row } } }", json!({"o": ids["o"], "r": rows})).await;
    assert_eq!(imported["importMembers"]["imported"], 3);
    const PAGE: &str = "query($o: ID!, $after: String) { organization(id: $o) { members(first: 2, after: $after) { totalCount edges { cursor node { account } } nodes { account } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";
    let first = ok(&schema, PAGE, json!({"o": ids["o"]})).await["organization"]["members"].clone();
    assert_eq!(first["totalCount"], 3);
    assert_eq!(first["edges"].as_array().unwrap().len(), 2);
    assert_eq!(first["edges"][0]["node"], first["nodes"][0]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(
        first["pageInfo"]["startCursor"],
        first["edges"][0]["cursor"]
    );
    assert_eq!(first["pageInfo"]["endCursor"], first["edges"][1]["cursor"]);
    let second = ok(
        &schema,
        PAGE,
        json!({"o": ids["o"], "after": first["pageInfo"]["endCursor"]}),
    )
    .await["organization"]["members"]
        .clone();
    assert_eq!(second["nodes"], json!([{"account": "m2"}]));
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);
    let (code, field) = refused(
        &schema,
        PAGE,
        json!({"o": ids["o"], "after": "not-a-cursor"}),
    )
    .await;
    assert_eq!((code.as_str(), field), ("VALIDATION", json!("after")));
    // The lists that were plain lists have connections beside them.
    let lists = ok(&schema, "query($o: ID!) { organization(id: $o) { departmentsConnection(first: 1) { totalCount edges { node { name } } } invitationsConnection { totalCount } recycleBinConnection { totalCount nodes { id } } } }", json!({"o": ids["o"]})).await;
    let o = &lists["organization"];
    assert_eq!(o["departmentsConnection"]["totalCount"], 1);
    assert_eq!(
        o["departmentsConnection"]["edges"][0]["node"]["name"],
        "销售部"
    );
    assert_eq!(o["invitationsConnection"]["totalCount"], 0);
    assert_eq!(o["recycleBinConnection"]["nodes"], json!([]));
}

#[tokio::test]
async fn members_departments_invitations_and_domains_are_edited_and_bad_edits_refused() {
    let (schema, pool, ids) = setup().await;
    let member = ok(&schema, ADD, json!({"o": ids["o"]})).await["addMember"]["id"].clone();
    let v = json!({"o": ids["o"], "d": ids["d"], "m": member, "dom": ids["dom"]});

    // Editing a member; a bad phone is refused on its field and writes nothing.
    let edited = ok(&schema, "mutation($m: ID!, $d: ID!) { updateMember(memberId: $m, input: {name: \"张伟伟\", departmentId: $d, role: ADMIN}) { name role department { name } } }", v.clone()).await;
    assert_eq!(
        edited["updateMember"],
        json!({"name": "张伟伟", "role": "ADMIN", "department": {"name": "销售部"}})
    );
    let before = events(&pool).await;
    let (code, field) = refused(
        &schema,
        "mutation($m: ID!) { updateMember(memberId: $m, input: {phone: \"12345\"}) { id } }",
        v.clone(),
    )
    .await;
    assert_eq!((code.as_str(), field), ("VALIDATION", json!("phone")));

    // Departments: under itself is refused; with a member it cannot go.
    let (code, _) = refused(
        &schema,
        "mutation($d: ID!) { moveDepartment(departmentId: $d, parentId: $d) { id } }",
        v.clone(),
    )
    .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = refused(
        &schema,
        "mutation($d: ID!) { deleteDepartment(departmentId: $d) }",
        v.clone(),
    )
    .await;
    assert_eq!(code, "DEPARTMENT_NOT_EMPTY");
    assert_eq!(events(&pool).await, before, "refusals wrote nothing");
    let renamed = ok(
        &schema,
        "mutation($d: ID!) { renameDepartment(departmentId: $d, name: \"市场部\") { name } }",
        v.clone(),
    )
    .await;
    assert_eq!(renamed["renameDepartment"]["name"], "市场部");
    ok(
        &schema,
        "mutation($m: ID!) { updateMember(memberId: $m, input: {toRoot: true}) { id } }",
        v.clone(),
    )
    .await;
    let at_root: Option<Uuid> = sqlx::query_scalar("SELECT department_id FROM members")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(at_root, None, "moved to the root");
    ok(
        &schema,
        "mutation($d: ID!) { deleteDepartment(departmentId: $d) }",
        v.clone(),
    )
    .await;

    // Seats come back when an authorization is revoked.
    let a = ok(&schema, "mutation($o: ID!, $m: ID!) { authorizeMembers(organizationId: $o, memberIds: [$m]) { authorized availableSeats } }", v.clone()).await;
    assert_eq!(
        a["authorizeMembers"],
        json!({"authorized": 1, "availableSeats": 2})
    );
    let r = ok(&schema, "mutation($o: ID!, $m: ID!) { revokeAuthorization(organizationId: $o, memberIds: [$m]) { revoked availableSeats } }", v.clone()).await;
    assert_eq!(
        r["revokeAuthorization"],
        json!({"revoked": 1, "availableSeats": 3})
    );

    // An invitation is revoked once.
    let inv = ok(&schema, "mutation($o: ID!) { inviteAdmin(input: {organizationId: $o, name: \"李娜\", phone: \"13800138001\", email: \"l@acme.cn\", validHours: 24}) { id } }", v.clone()).await["inviteAdmin"]["id"].clone();
    let revoked = ok(
        &schema,
        "mutation($i: ID!) { revokeInvitation(invitationId: $i) { status } }",
        json!({"i": inv}),
    )
    .await;
    assert_eq!(revoked["revokeInvitation"]["status"], "REVOKED");
    let (code, _) = refused(
        &schema,
        "mutation($i: ID!) { revokeInvitation(invitationId: $i) { status } }",
        json!({"i": inv}),
    )
    .await;
    assert_eq!(code, "CONFLICT");

    // A domain changes mode (other records) and is removed; its name is free again.
    let mode = ok(&schema, "mutation($dom: ID!) { changeDomainMode(domainId: $dom, mode: OWNERSHIP) { mode records { host } } }", v.clone()).await;
    assert_eq!(mode["changeDomainMode"]["mode"], "OWNERSHIP");
    assert_eq!(mode["changeDomainMode"]["records"][0]["host"], "_dnsauth");
    ok(
        &schema,
        "mutation($dom: ID!) { removeDomain(domainId: $dom) { id } }",
        v.clone(),
    )
    .await;
    ok(
        &schema,
        "mutation($o: ID!) { addDomain(organizationId: $o, name: \"acme.cn\", mode: FULL) { id } }",
        v.clone(),
    )
    .await;

    // A trial is converted, not renewed.
    let market = who("orders", PrincipalKind::Service, Some("marketplace"));
    let r = run(
        &schema,
        market,
        "mutation($s: ID!) { renewSubscription(subscriptionId: $s, months: 1) { id } }",
        json!({"s": ids["s"]}),
    )
    .await;
    assert!(r["data"].is_null(), "{r}");
    assert_ne!(r["errors"][0]["extensions"]["code"], "INTERNAL", "{r}");
}
