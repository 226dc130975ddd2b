//! Mail domains in GraphQL: the `MailDomain` type with the records to publish and their
//! verdicts, and adding, verifying, changing the mode, replacing and removing.

use async_graphql::{Context, Object, SimpleObject, ID};
use uuid::Uuid;

use super::context::{once, pool, request, services};
use super::enums::{label, parse_id, DomainStatus, VerificationMode};
use super::error::{not_found, Gql};

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct DomainRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub mode: String,
    pub status: String,
    pub records: serde_json::Value,
    pub results: serde_json::Value,
    pub removed: bool,
}

/// A DNS record to publish, with the last check's verdict.
#[derive(SimpleObject, Clone)]
pub struct DnsRecord {
    #[graphql(name = "type")]
    pub record_type: String,
    pub host: String,
    pub value: String,
    pub priority: Option<i32>,
    /// OK, MISSING, MISMATCH, CONFLICT; None before the first check.
    pub status: Option<String>,
    pub found: Vec<String>,
}

#[Object(name = "MailDomain")]
impl DomainRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// ASCII (punycode) form.
    async fn name(&self) -> &str {
        &self.name
    }
    /// Unicode form, for display.
    async fn display_name(&self) -> &str {
        &self.display_name
    }
    async fn status(&self) -> async_graphql::Result<DomainStatus> {
        label(&self.status, domain::maildomain::DomainStatus::from_label)
    }
    async fn mode(&self) -> async_graphql::Result<VerificationMode> {
        label(&self.mode, domain::maildomain::VerificationMode::from_label)
    }
    async fn records(&self) -> Vec<DnsRecord> {
        let results = self.results.as_array().cloned().unwrap_or_default();
        self.records
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .map(|r| {
                        let text = |k: &str| {
                            r.get(k)
                                .and_then(|v| v.as_str())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let result = results.iter().find(|x| {
                            x.get("type") == r.get("type")
                                && x.get("host") == r.get("host")
                                && x.get("value") == r.get("value")
                        });
                        DnsRecord {
                            record_type: text("type"),
                            host: text("host"),
                            value: text("value"),
                            priority: r.get("priority").and_then(|p| p.as_i64()).map(|p| p as i32),
                            status: result
                                .and_then(|x| x.get("status"))
                                .and_then(|s| s.as_str())
                                .map(str::to_owned),
                            found: result
                                .and_then(|x| x.get("found"))
                                .and_then(|f| f.as_array())
                                .map(|f| {
                                    f.iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The domains of an organization (not removed), by name.
pub async fn of_organization(
    ctx: &Context<'_>,
    organization_id: Uuid,
) -> async_graphql::Result<Vec<DomainRow>> {
    sqlx::query_as(
        "SELECT * FROM mail_domains WHERE organization_id = $1 AND NOT removed ORDER BY name",
    )
    .bind(organization_id)
    .fetch_all(pool(ctx)?)
    .await
    .gql()
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<DomainRow> {
    sqlx::query_as("SELECT * FROM mail_domains WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()?
        .ok_or_else(|| not_found("domain"))
}

#[derive(Default)]
pub struct DomainMutation;

#[Object]
impl DomainMutation {
    /// Manager: add a mail domain; the answer lists the DNS records to publish.
    async fn add_domain(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        name: String,
        mode: VerificationMode,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DomainRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (org, &name, mode);
        let id = once(ctx, idempotency_key, "addDomain", &arguments, async {
            let done = app::maildomain::add(&s.app, r, org, &name, mode.into()).await?;
            Ok(s.settle(done).await)
        })
        .await?;
        answer(ctx, id).await
    }

    /// Manager: look the domain's records up in DNS now and judge them; all OK verifies it.
    async fn verify_domain(
        &self,
        ctx: &Context<'_>,
        domain_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DomainRow> {
        let id = parse_id("domainId", &domain_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "verifyDomain", &id, async {
            s.settle(app::maildomain::verify(&s.app, r, id).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }

    /// Manager: switch between full verification and ownership only; the records to
    /// publish change.
    async fn change_domain_mode(
        &self,
        ctx: &Context<'_>,
        domain_id: ID,
        mode: VerificationMode,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DomainRow> {
        let id = parse_id("domainId", &domain_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "changeDomainMode",
            &(id, mode),
            async {
                s.settle(app::maildomain::change_mode(&s.app, r, id, mode.into()).await?)
                    .await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: replace the domain by `name`, whose records are published already; every
    /// mailbox on it is renamed and keeps its mail.
    async fn replace_domain(
        &self,
        ctx: &Context<'_>,
        domain_id: ID,
        name: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DomainRow> {
        let id = parse_id("domainId", &domain_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "replaceDomain", &(id, &name), async {
            s.settle(app::maildomain::replace(&s.app, r, id, &name).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }

    /// Manager: remove a domain no mailbox uses; its name is free again.
    async fn remove_domain(
        &self,
        ctx: &Context<'_>,
        domain_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DomainRow> {
        let id = parse_id("domainId", &domain_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "removeDomain", &id, async {
            s.settle(app::maildomain::remove(&s.app, r, id).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }
}
