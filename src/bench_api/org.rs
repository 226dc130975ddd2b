//! One organization of the bench, built and driven over GraphQL.

use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};

use super::harness::{dns_lines, Gql};

/// The members page as the console asks for it.
pub const MEMBERS_PAGE: &str = "query($o: ID!, $after: String) { organization(id: $o) {
  members(first: 50, after: $after) {
    edges { cursor node { id name account status authorized
      department { id name } mailbox { id address status } } }
    pageInfo { hasNextPage endCursor } } } }";

/// Import rows `prefix{i}` for `range`, each with its own password.
pub fn rows(prefix: &str, range: std::ops::Range<usize>) -> Vec<Value> {
    range
        .map(|i| {
            let account = format!("{prefix}{i}");
            json!({"name": format!("成员{i}"), "email": format!("{account}@bench.example"),
                "password": password(&account), "account": account})
        })
        .collect()
}

/// The password the bench gives an account.
pub fn password(account: &str) -> String {
    format!("Bench-{account}-pw")
}

/// An organization with its subscription, verified domain and members.
pub struct Org {
    pub id: String,
    pub label: String,
    pub domain_id: String,
    pub dns_lines: Vec<String>,
    size: usize,
    /// Member ids in id order (the members page's order).
    pub member_ids: Vec<String>,
}

impl Org {
    /// Subscription (room for `size` members and the bench's own), organization and an
    /// unverified domain.
    pub async fn create(
        market: &Gql,
        buyer: &Gql,
        label: &str,
        size: usize,
    ) -> anyhow::Result<Org> {
        let sub = market
            .call(
                "mutation($i: ProvisionSubscriptionInput!) { provisionSubscription(input: $i) { id } }",
                json!({"i": {"buyerAccountId": "buyer-bench", "orderId": format!("BENCH-{label}"),
                    "edition": "standard", "seats": size + 3_000, "trial": false, "months": 12}}),
            )
            .await?;
        let org = buyer
            .call(
                "mutation($n: String!, $i: String!) { createOrganization(input: {name: $n, identifier: $i}) { id } }",
                json!({"n": format!("Bench {label}"), "i": format!("bench-{label}")}),
            )
            .await?;
        let id = org["createOrganization"]["id"]
            .as_str()
            .context("organization id")?
            .to_owned();
        let sub_id = sub["provisionSubscription"]["id"]
            .as_str()
            .context("subscription id")?;
        // The organization is listed for its owner a moment after it is created.
        let mut bound = None;
        for _ in 0..100 {
            match buyer
                .call(
                    "mutation($s: ID!, $o: ID!) { bindApp(subscriptionId: $s, organizationId: $o) { id } }",
                    json!({"s": sub_id, "o": id}),
                )
                .await
            {
                Ok(v) => {
                    bound = Some(v);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        bound.context("bindApp")?;
        let name = format!("{label}.bench.test");
        let domain = buyer
            .call(
                "mutation($o: ID!, $n: String!) { addDomain(organizationId: $o, name: $n, mode: FULL) { id records { type host value priority } } }",
                json!({"o": id, "n": name}),
            )
            .await?;
        Ok(Org {
            id,
            label: label.to_owned(),
            domain_id: domain["addDomain"]["id"]
                .as_str()
                .context("domain id")?
                .to_owned(),
            dns_lines: dns_lines(&name, &domain["addDomain"]["records"]),
            size,
            member_ids: Vec::new(),
        })
    }

    /// Verifies the domain (its records are served by now), imports the members 1,000 at a
    /// time and authorizes them all.
    pub async fn fill(&mut self, buyer: &Gql) -> anyhow::Result<()> {
        buyer
            .call(
                "mutation($d: ID!) { verifyDomain(domainId: $d) { status } }",
                json!({"d": self.domain_id}),
            )
            .await?;
        let mut from = 0;
        while from < self.size {
            let to = (from + 1_000).min(self.size);
            self.import(buyer, &rows("m", from..to)).await?;
            from = to;
        }
        while self.member_count(buyer).await? < self.size {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.member_ids = self
            .members_named(buyer, "m")
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for chunk in self.member_ids.chunks(1_000) {
            self.authorize(buyer, chunk).await?;
        }
        println!(
            "{}: {} members authorized",
            self.label,
            self.member_ids.len()
        );
        Ok(())
    }

    pub async fn import(&self, buyer: &Gql, rows: &[Value]) -> anyhow::Result<()> {
        let done = buyer
            .call(
                "mutation($o: ID!, $r: [AddMemberRowInput!]!) { importMembers(organizationId: $o, rows: $r) { imported failed { row message } } }",
                json!({"o": self.id, "r": rows}),
            )
            .await?;
        let imported = done["importMembers"]["imported"].as_u64().unwrap_or(0);
        ensure!(imported as usize == rows.len(), "import: {done}");
        Ok(())
    }

    /// Members listed (read model).
    pub async fn member_count(&self, buyer: &Gql) -> anyhow::Result<usize> {
        let data = buyer
            .call(
                "query($o: ID!) { organization(id: $o) { members(first: 1) { totalCount } } }",
                json!({"o": self.id}),
            )
            .await?;
        Ok(data["organization"]["members"]["totalCount"]
            .as_u64()
            .unwrap_or(0) as usize)
    }

    /// (id, account) of every member whose account starts with `prefix`, in id order.
    pub async fn members_named(
        &self,
        buyer: &Gql,
        prefix: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = buyer
                .call(
                    "query($o: ID!, $a: String) { organization(id: $o) { members(first: 100, after: $a) { nodes { id account } pageInfo { hasNextPage endCursor } } } }",
                    json!({"o": self.id, "a": after}),
                )
                .await?;
            let page = &data["organization"]["members"];
            for node in page["nodes"].as_array().into_iter().flatten() {
                let account = node["account"].as_str().unwrap_or_default();
                if account.starts_with(prefix) {
                    found.push((
                        node["id"].as_str().unwrap_or_default().to_owned(),
                        account.to_owned(),
                    ));
                }
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                return Ok(found);
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }

    /// The cursor past member 40,000 (or four fifths into a smaller organization).
    pub fn deep_cursor(&self) -> String {
        let n = self.member_ids.len();
        let at = if n > 40_050 { 40_000 } else { n * 4 / 5 };
        self.member_ids.get(at).cloned().unwrap_or_default()
    }

    pub async fn add_member(
        &self,
        buyer: &Gql,
        account: &str,
    ) -> anyhow::Result<(String, Duration)> {
        let (data, t) = buyer
            .timed(
                "mutation($i: AddMemberInput!) { addMember(input: $i) { id } }",
                json!({"i": {"organizationId": self.id, "name": "测试", "account": account,
                    "email": format!("{account}@bench.example"), "password": password(account)}}),
            )
            .await?;
        Ok((
            data["addMember"]["id"]
                .as_str()
                .context("member id")?
                .to_owned(),
            t,
        ))
    }

    pub async fn authorize(&self, buyer: &Gql, members: &[String]) -> anyhow::Result<Duration> {
        let (data, t) = buyer
            .timed(
                "mutation($o: ID!, $m: [ID!]) { authorizeMembers(organizationId: $o, memberIds: $m) { authorized } }",
                json!({"o": self.id, "m": members}),
            )
            .await?;
        ensure!(
            data["authorizeMembers"]["authorized"].as_u64().is_some(),
            "authorize: {data}"
        );
        Ok(t)
    }

    pub async fn open_mailbox(
        &self,
        buyer: &Gql,
        member: &str,
        local: &str,
    ) -> anyhow::Result<(String, Duration)> {
        let (data, t) = buyer
            .timed(
                "mutation($m: ID!, $d: ID!, $l: String) { openMailbox(memberId: $m, domainId: $d, localPart: $l) { id } }",
                json!({"m": member, "d": self.domain_id, "l": local}),
            )
            .await?;
        Ok((
            data["openMailbox"]["id"]
                .as_str()
                .context("mailbox id")?
                .to_owned(),
            t,
        ))
    }

    pub async fn close_mailbox(&self, buyer: &Gql, mailbox: &str) -> anyhow::Result<Duration> {
        let (_, t) = buyer
            .timed(
                "mutation($m: ID!) { closeMailbox(mailboxId: $m) { id } }",
                json!({"m": mailbox}),
            )
            .await?;
        Ok(t)
    }

    /// Opens mailboxes for `members` at once: (member id, address) of each.
    pub async fn open_mailboxes(
        &self,
        buyer: &Gql,
        members: &[String],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let data = buyer
            .call(
                "mutation($m: [ID!]!, $d: ID!) { openMailboxes(memberIds: $m, domainId: $d) { address member { id } } }",
                json!({"m": members, "d": self.domain_id}),
            )
            .await?;
        Ok(data["openMailboxes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["member"]["id"].as_str().unwrap_or_default().to_owned(),
                    m["address"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// The addresses of every ACTIVE mailbox (read model).
    pub async fn active_addresses(&self, buyer: &Gql) -> anyhow::Result<Vec<String>> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = buyer
                .call(
                    "query($o: ID!, $a: String) { organization(id: $o) { mailboxes(first: 100, after: $a, status: ACTIVE) { nodes { address } pageInfo { hasNextPage endCursor } } } }",
                    json!({"o": self.id, "a": after}),
                )
                .await?;
            let page = &data["organization"]["mailboxes"];
            for node in page["nodes"].as_array().into_iter().flatten() {
                found.push(node["address"].as_str().unwrap_or_default().to_owned());
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                return Ok(found);
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
}
