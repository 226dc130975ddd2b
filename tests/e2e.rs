//! The whole flow through the real binary over HTTP GraphQL: subscription → organization
//! → departments → members → authorization → domains → conversion, expansion, unsubscribe;
//! the error codes the flow can produce; a restart in the middle; secrets nowhere.
//!
//! Bad inputs tried here: a reused idempotency key with other arguments, a taken and a
//! malformed identifier, a taken account, a taken phone, a weak password, more members
//! than seats, deleting an active member, converting twice, expanding an unsubscribed
//! subscription, wrong principals (another buyer, no token, a forged token, wrong kind).

mod support;

use eventstore::testkit::fresh_database;
use serde_json::json;
use support::*;

const PASSWORD: &str = "Zw-Passw0rd!9";
const PROVISION: &str = "mutation($input: ProvisionSubscriptionInput!, $key: String) {
  provisionSubscription(input: $input, idempotencyKey: $key) { id status seats trialEndsAt buyerAccountId } }";
const CREATE_ORG: &str = "mutation($name: String!, $identifier: String!) {
  createOrganization(input: {name: $name, identifier: $identifier}) { id name identifier } }";
const ADD_MEMBER: &str = "mutation($input: AddMemberInput!) { addMember(input: $input) { id name account status authorized department { name } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_through_graphql() {
    let db = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("mailplane-e2e-flow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = db.url();
    let mut dns = Dns::new(&dir);
    // At first only one MX record is published.
    dns.serve(&["mx-host=acme.cn,mx1.mailplane.test,5"]);
    let server = start(&url, &dir, &dns);
    let port = server.port;

    let market = token("orders", "service", Some("marketplace"));
    let buyer = token("buyer-1", "account", None);
    let stranger = token("buyer-2", "account", None);
    let billing = token("billing", "service", Some("billing"));

    // Subscription: a trial, idempotent on the key and on the order.
    let input = json!({"buyerAccountId": "buyer-1", "orderId": "CS2308131523H3TVZ", "edition": "standard", "seats": 3, "trial": true});
    let sub = gql(
        port,
        &market,
        PROVISION,
        json!({"input": input, "key": "k1"}),
    )["provisionSubscription"]
        .clone();
    assert_eq!(sub["status"], "TRIAL");
    assert_eq!(sub["seats"], 3);
    let again = gql(
        port,
        &market,
        PROVISION,
        json!({"input": input, "key": "k1"}),
    )["provisionSubscription"]
        .clone();
    assert_eq!(again["id"], sub["id"]);
    let other = json!({"buyerAccountId": "buyer-1", "orderId": "CS2308131523H3TVZ", "edition": "standard", "seats": 4, "trial": true});
    assert_eq!(
        refused(
            port,
            Some(&market),
            PROVISION,
            json!({"input": other, "key": "k1"})
        )
        .0,
        "CONFLICT"
    );
    assert_eq!(
        refused(port, Some(&buyer), PROVISION, json!({"input": input})).0,
        "FORBIDDEN"
    );
    assert_eq!(
        refused(port, Some(&billing), PROVISION, json!({"input": input})).0,
        "FORBIDDEN"
    );
    let sub_id = sub["id"].as_str().unwrap().to_owned();

    // Organization.
    let (body, correlation) = call(
        port,
        Some(&buyer),
        CREATE_ORG,
        json!({"name": "阿克米科技", "identifier": "Acme"}),
    );
    let org = body["data"]["createOrganization"].clone();
    assert_eq!(org["identifier"], "acme");
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert!(correlation.is_some(), "x-correlation-id header");
    assert_eq!(
        refused(
            port,
            Some(&stranger),
            CREATE_ORG,
            json!({"name": "x", "identifier": "acme"})
        )
        .0,
        "IDENTIFIER_TAKEN"
    );
    assert_eq!(
        refused(
            port,
            Some(&stranger),
            CREATE_ORG,
            json!({"name": "x", "identifier": "-bad"})
        ),
        ("VALIDATION".to_owned(), Some("identifier".to_owned()))
    );
    assert_eq!(
        refused(
            port,
            None,
            CREATE_ORG,
            json!({"name": "x", "identifier": "xyz"})
        )
        .0,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        refused(
            port,
            Some("not.a.token"),
            CREATE_ORG,
            json!({"name": "x", "identifier": "xyz"})
        )
        .0,
        "UNAUTHENTICATED"
    );

    let bind = "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id subscription { id } } }";
    assert_eq!(
        refused(
            port,
            Some(&stranger),
            bind,
            json!({"s": sub_id, "o": org_id})
        )
        .0,
        "FORBIDDEN"
    );
    let bound = gql(port, &buyer, bind, json!({"s": sub_id, "o": org_id}));
    assert_eq!(bound["bindApp"]["subscription"]["id"], sub_id);

    // Departments and members.
    let dept = gql(
        port,
        &buyer,
        "mutation($o: ID!) { createDepartment(organizationId: $o, name: \"销售部\") { id name } }",
        json!({"o": org_id}),
    )["createDepartment"]
        .clone();
    let dept_id = dept["id"].as_str().unwrap().to_owned();
    let member = |name: &str, account: &str, phone: &str| json!({"input": {"organizationId": org_id, "name": name, "account": account, "phone": phone, "password": PASSWORD, "departmentId": dept_id}});
    let mut members = Vec::new();
    for (name, account, phone) in [
        ("张伟", "zhangwei", "13800138000"),
        ("张伟", "zhangwei2", "13800138001"),
        ("李娜", "lina", "13800138002"),
        ("王芳", "wangfang", "13800138003"),
    ] {
        let m = gql(port, &buyer, ADD_MEMBER, member(name, account, phone))["addMember"].clone();
        assert_eq!(m["status"], "ACTIVE");
        assert_eq!(m["department"]["name"], "销售部");
        members.push(m["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            ADD_MEMBER,
            member("重复", "zhangwei", "13900000000")
        )
        .0,
        "ACCOUNT_TAKEN"
    );
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            ADD_MEMBER,
            member("重复", "other", "13800138000")
        )
        .0,
        "PHONE_TAKEN"
    );
    let mut weak = member("弱", "weak", "13900000001");
    weak["input"]["password"] = json!("password");
    assert_eq!(
        refused(port, Some(&buyer), ADD_MEMBER, weak),
        ("VALIDATION".to_owned(), Some("password".to_owned()))
    );
    assert_eq!(
        refused(
            port,
            Some(&stranger),
            ADD_MEMBER,
            member("x", "x1", "13900000002")
        )
        .0,
        "FORBIDDEN"
    );

    let import = "mutation($o: ID!, $rows: [AddMemberRowInput!]!) { importMembers(organizationId: $o, rows: $rows) { imported failed { row code field } } }";
    let result = gql(
        port,
        &buyer,
        import,
        json!({"o": org_id, "rows": [
            {"name": "赵六", "account": "zhaoliu", "email": "zl@acme.cn", "password": PASSWORD},
            {"name": "坏行", "account": "bad row", "email": "x@acme.cn", "password": PASSWORD},
        ]}),
    )["importMembers"]
        .clone();
    assert_eq!(result["imported"], 1);
    assert_eq!(
        result["failed"],
        json!([{"row": 1, "code": "VALIDATION", "field": "account"}])
    );

    // Authorization never exceeds the seats.
    let authorize = "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized availableSeats } }";
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            authorize,
            json!({"o": org_id, "m": members})
        )
        .0,
        "SEATS_EXHAUSTED"
    );
    let done = gql(
        port,
        &buyer,
        authorize,
        json!({"o": org_id, "m": members[..3]}),
    )["authorizeMembers"]
        .clone();
    assert_eq!(done, json!({"authorized": 3, "availableSeats": 0}));

    // A restart in the middle: everything is still there.
    stop(server);
    let server = start(&url, &dir, &dns);
    let port = server.port;
    let q = "query($o: ID!) { organization(id: $o) { name seats { purchased authorized available }
        members(first: 10) { nodes { account authorized } pageInfo { hasNextPage } }
        auditLog(first: 3) { nodes { eventType actor } } } }";
    let o = gql(port, &buyer, q, json!({"o": org_id}))["organization"].clone();
    assert_eq!(
        o["seats"],
        json!({"purchased": 3, "authorized": 3, "available": 0})
    );
    assert_eq!(o["members"]["nodes"].as_array().unwrap().len(), 5);
    assert_eq!(o["auditLog"]["nodes"][0]["actor"], "account:buyer-1");
    assert_eq!(
        refused(port, Some(&stranger), q, json!({"o": org_id})).0,
        "FORBIDDEN"
    );
    let page = gql(port, &buyer, "query($o: ID!) { organization(id: $o) { members(first: 2) { nodes { id } pageInfo { hasNextPage endCursor } } } }", json!({"o": org_id}));
    let cursor = page["organization"]["members"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        page["organization"]["members"]["pageInfo"]["hasNextPage"],
        true
    );
    let next = gql(port, &buyer, "query($o: ID!, $a: String) { organization(id: $o) { members(first: 10, after: $a) { nodes { id } } } }", json!({"o": org_id, "a": cursor}));
    assert_eq!(
        next["organization"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A domain lists the records to publish.
    let d = gql(port, &buyer, "mutation($o: ID!) { addDomain(organizationId: $o, name: \"Acme.CN\", mode: FULL) { id name status records { type host value } } }", json!({"o": org_id}))["addDomain"].clone();
    assert_eq!(d["name"], "acme.cn");
    assert_eq!(d["status"], "PENDING");
    // MX ×2, SPF, DKIM, and the organization's own token.
    assert_eq!(d["records"].as_array().unwrap().len(), 5);
    assert_eq!(d["records"][4]["host"], "_dnsauth");
    let token_record = format!(
        "txt-record=_dnsauth.acme.cn,\"{}\"",
        d["records"][4]["value"].as_str().unwrap()
    );
    let domain_id = d["id"].as_str().unwrap().to_owned();

    // Mailboxes need a verified domain; verification asks the real DNS server.
    let open = "mutation($m: ID!, $d: ID!, $l: String) { openMailbox(memberId: $m, domainId: $d, localPart: $l) { id address status } }";
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[0], "d": domain_id})
        )
        .0,
        "DOMAIN_NOT_VERIFIED"
    );
    let verify = "mutation($d: ID!) { verifyDomain(domainId: $d) { status records { type host status found } } }";
    let checked = gql(port, &buyer, verify, json!({"d": domain_id}))["verifyDomain"].clone();
    assert_eq!(checked["status"], "FAILED");
    let statuses: Vec<&str> = checked["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["OK", "MISSING", "MISSING", "MISSING", "MISSING"]);
    dns.serve(&[
        "mx-host=acme.cn,mx1.mailplane.test,5",
        "mx-host=acme.cn,mx2.mailplane.test,10",
        "txt-record=acme.cn,\"v=spf1 include:spf.mailplane.test -all\"",
        "cname=mp1._domainkey.acme.cn,dkim.mailplane.test",
        "host-record=dkim.mailplane.test,127.0.0.2",
        &token_record,
    ]);
    let checked = gql(port, &buyer, verify, json!({"d": domain_id}))["verifyDomain"].clone();
    assert_eq!(checked["status"], "VERIFIED", "{checked}");

    // Chinese names become pinyin addresses; a clash gets a digit.
    let mb0 =
        gql(port, &buyer, open, json!({"m": members[0], "d": domain_id}))["openMailbox"].clone();
    assert_eq!(mb0["address"], "zhangwei@acme.cn");
    assert_eq!(mb0["status"], "PROVISIONING");
    let mb1 =
        gql(port, &buyer, open, json!({"m": members[1], "d": domain_id}))["openMailbox"].clone();
    assert_eq!(mb1["address"], "zhangwei1@acme.cn");
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[1], "d": domain_id})
        )
        .0,
        "MEMBER_HAS_MAILBOX"
    );
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[2], "d": domain_id, "l": "ZhangWei"})
        )
        .0,
        "ADDRESS_TAKEN"
    );
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[3], "d": domain_id})
        )
        .0,
        "MEMBER_NOT_AUTHORIZED"
    );
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[2], "d": domain_id, "l": "a..b"})
        ),
        ("VALIDATION".to_owned(), Some("localPart".to_owned()))
    );

    // The recycle bin: close, restore, close, purge; the address stays taken until purged.
    let mb0_id = mb0["id"].as_str().unwrap().to_owned();
    let close = "mutation($b: ID!) { closeMailbox(mailboxId: $b) { status closedAt purgeAfter } }";
    let closed = gql(port, &buyer, close, json!({"b": mb0_id}))["closeMailbox"].clone();
    assert_eq!(closed["status"], "CLOSED");
    assert!(closed["purgeAfter"].is_string());
    let bin = gql(
        port,
        &buyer,
        "query($o: ID!) { organization(id: $o) { recycleBin { address } } }",
        json!({"o": org_id}),
    );
    assert_eq!(
        bin["organization"]["recycleBin"],
        json!([{"address": "zhangwei@acme.cn"}])
    );
    assert_eq!(
        refused(
            port,
            Some(&buyer),
            open,
            json!({"m": members[2], "d": domain_id, "l": "zhangwei"})
        )
        .0,
        "ADDRESS_IN_RECYCLE_BIN"
    );
    let restored = gql(
        port,
        &buyer,
        "mutation($b: ID!) { restoreMailbox(mailboxId: $b) { status } }",
        json!({"b": mb0_id}),
    );
    assert_eq!(restored["restoreMailbox"]["status"], "ACTIVE");
    gql(port, &buyer, close, json!({"b": mb0_id}));
    let purged = gql(
        port,
        &buyer,
        "mutation($b: ID!) { purgeMailbox(mailboxId: $b) { status } }",
        json!({"b": mb0_id}),
    );
    assert_eq!(purged["purgeMailbox"]["status"], "PURGED");
    let reused = gql(
        port,
        &buyer,
        open,
        json!({"m": members[2], "d": domain_id, "l": "zhangwei"}),
    )["openMailbox"]
        .clone();
    assert_eq!(reused["address"], "zhangwei@acme.cn");
    assert_ne!(
        reused["id"], mb0["id"],
        "a purged address opened again is a new mailbox"
    );

    // Deleting needs a disabled member, and frees the seat.
    let del = "mutation($m: ID!) { deleteMember(memberId: $m) { status } }";
    assert_eq!(
        refused(port, Some(&buyer), del, json!({"m": members[2]})).0,
        "MEMBER_NOT_DISABLED"
    );
    gql(
        port,
        &buyer,
        "mutation($m: ID!) { disableMember(memberId: $m) { status } }",
        json!({"m": members[2]}),
    );
    assert_eq!(
        gql(port, &buyer, del, json!({"m": members[2]}))["deleteMember"]["status"],
        "DELETED"
    );
    let seats = gql(
        port,
        &buyer,
        "query($o: ID!) { organization(id: $o) { seats { available } } }",
        json!({"o": org_id}),
    );
    assert_eq!(seats["organization"]["seats"]["available"], 1);

    // Conversion, expansion, unsubscribe.
    let convert =
        "mutation($s: ID!) { convertTrial(subscriptionId: $s, months: 12) { status expiresAt } }";
    assert_eq!(
        refused(port, Some(&stranger), convert, json!({"s": sub_id})).0,
        "FORBIDDEN"
    );
    assert_eq!(
        gql(port, &buyer, convert, json!({"s": sub_id}))["convertTrial"]["status"],
        "ACTIVE"
    );
    assert_eq!(
        refused(port, Some(&buyer), convert, json!({"s": sub_id})).0,
        "NOT_TRIAL"
    );
    let expand = "mutation($s: ID!) { expandSeats(subscriptionId: $s, additionalSeats: 2) { newTotal amount currency } }";
    let e = gql(port, &buyer, expand, json!({"s": sub_id}))["expandSeats"].clone();
    assert_eq!(e["newTotal"], 5);
    assert!(e["amount"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    let unsub =
        "mutation($s: ID!) { unsubscribe(subscriptionId: $s, reason: \"testing\") { status } }";
    assert_eq!(
        gql(port, &buyer, unsub, json!({"s": sub_id}))["unsubscribe"]["status"],
        "UNSUBSCRIBED"
    );
    assert_eq!(
        refused(port, Some(&buyer), expand, json!({"s": sub_id})).0,
        "SUBSCRIPTION_INACTIVE"
    );

    let me = gql(
        port,
        &buyer,
        "{ me { id kind } subscriptions { nodes { id status } } }",
        json!({}),
    );
    assert_eq!(me["me"], json!({"id": "buyer-1", "kind": "account"}));
    assert_eq!(me["subscriptions"]["nodes"][0]["status"], "UNSUBSCRIBED");
    assert!(gql(
        port,
        &stranger,
        "{ subscriptions { nodes { id } } organizations { nodes { id } } }",
        json!({})
    )["subscriptions"]["nodes"]
        .as_array()
        .unwrap()
        .is_empty());

    // The initial password is nowhere but (encrypted) in the secret table.
    let pool = db.pool(2).await;
    for (table, column) in [
        ("events", "data::text || metadata::text"),
        ("members", "to_jsonb(members)::text"),
        ("audit_log", "to_jsonb(audit_log)::text"),
        (
            "idempotency_keys",
            "coalesce(answer::text, '') || request_hash",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {column} LIKE '%' || $1 || '%'"
        ))
        .bind(PASSWORD)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "the password leaked into {table}");
    }
    // Each initial password is kept until its credentials message went out (or could not
    // go out: no phone), then deleted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let kept: i64 =
            sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'initial_password'")
                .fetch_one(&pool)
                .await
                .unwrap();
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE 'sms-%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if kept + sent == 5 && sent > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kept {kept} passwords, sent {sent} messages"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let raw: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM secrets WHERE position(convert_to($1, 'UTF8') in ciphertext) > 0",
    )
    .bind(PASSWORD)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(raw, 0);
    let log = stop(server);
    assert!(!log.is_empty(), "the server logged nothing (debug level)");
    assert!(!log.contains(PASSWORD), "the password leaked into the log");
    std::fs::remove_dir_all(&dir).unwrap();
}
