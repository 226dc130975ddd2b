use std::future::Future;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::Utc;
use domain::mailbox::{self, AddressHolder, MailboxCommand};
use domain::maildomain::{MailDomainCommand, VerificationMode as DomainMode};
use domain::member::{self, AddMember, Member, MemberCommand};
use domain::organization::{self, Organization, OrganizationCommand};
use domain::subscription::{self, BuyerState, Subscription, SubscriptionCommand};
use domain::{Decider, DomainError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::access::{self, caller, principal, services};
use super::error::{coded, forbidden, not_found, Gql};
use super::types::{
    self, parse_id, EmploymentType, MailboxRow, MemberRow, OrganizationRow, Role, SubscriptionRow,
    VerificationMode,
};
use super::{settle, Services};
use crate::command::{Change, CommandError, Executed};
use crate::operations::{self, streams};
use crate::secrets::Purpose;

#[derive(Default)]
pub struct Mutation;

#[derive(InputObject)]
pub struct ProvisionSubscriptionInput {
    pub buyer_account_id: String,
    pub order_id: String,
    pub edition: String,
    pub seats: i32,
    pub trial: bool,
    pub months: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    pub identifier: String,
    #[graphql(default)]
    pub as_reseller: bool,
}

#[derive(InputObject)]
pub struct InviteAdminInput {
    pub organization_id: ID,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub valid_hours: i32,
}

#[derive(InputObject, Clone)]
pub struct AddMemberInput {
    pub organization_id: ID,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password: String,
    pub department_id: Option<ID>,
    pub role: Option<Role>,
    pub employment_type: Option<EmploymentType>,
    pub hire_date: Option<chrono::NaiveDate>,
}

#[derive(InputObject, Clone)]
pub struct AddMemberRowInput {
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password: String,
    pub department_id: Option<ID>,
    pub role: Option<Role>,
    pub employment_type: Option<EmploymentType>,
    pub hire_date: Option<chrono::NaiveDate>,
}

/// The price of a seat expansion.
#[derive(SimpleObject, Serialize, serde::Deserialize, Clone)]
pub struct SeatExpansion {
    pub subscription_id: ID,
    pub added: i32,
    pub new_total: i32,
    pub remaining_days: i32,
    /// Minor units (fen) of `currency`, as a string: amounts exceed 32-bit integers.
    pub amount: String,
    pub currency: String,
}

#[derive(SimpleObject, Serialize, serde::Deserialize, Clone)]
pub struct ImportFailure {
    /// 0-based row number as sent.
    pub row: i32,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

#[derive(SimpleObject, Serialize, serde::Deserialize, Clone)]
pub struct ImportResult {
    pub imported: i32,
    pub failed: Vec<ImportFailure>,
}

#[derive(SimpleObject, Serialize, serde::Deserialize, Clone)]
pub struct AuthorizationResult {
    /// Members newly authorized (each gets the credentials SMS).
    pub authorized: i32,
    pub available_seats: i32,
}

/// Runs a mutation once per idempotency key: the same key from the same principal with the
/// same arguments answers the first answer and writes nothing; other arguments: CONFLICT.
pub(super) async fn once<T, F>(
    ctx: &Context<'_>,
    key: Option<String>,
    operation: &str,
    arguments: String,
    run: F,
) -> async_graphql::Result<T>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = async_graphql::Result<T>>,
{
    let Some(key) = key else { return run.await };
    if key.is_empty() || key.len() > 200 {
        return Err(super::error::validation(
            "idempotencyKey",
            "must be 1 to 200 characters",
        ));
    }
    let pool = &services(ctx)?.pool;
    let who = principal(ctx)?.actor();
    let hash = organization::token_hash(&format!("{operation}\u{0}{arguments}"));
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, operation, request_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&who)
    .bind(&key)
    .bind(operation)
    .bind(&hash)
    .execute(pool)
    .await
    .gql()?
    .rows_affected()
        == 1;
    if !inserted {
        let (stored_hash, answer): (String, Option<serde_json::Value>) = sqlx::query_as(
            "SELECT request_hash, answer FROM idempotency_keys WHERE principal = $1 AND key = $2",
        )
        .bind(&who)
        .bind(&key)
        .fetch_one(pool)
        .await
        .gql()?;
        if stored_hash != hash {
            return Err(coded(
                "CONFLICT",
                "the idempotency key was used with other arguments",
            ));
        }
        return match answer {
            Some(a) => serde_json::from_value(a).map_err(super::error::internal),
            None => Err(coded(
                "CONFLICT",
                "a request with this idempotency key is still running",
            )),
        };
    }
    match run.await {
        Ok(answer) => {
            let stored = serde_json::to_value(&answer).map_err(super::error::internal)?;
            sqlx::query(
                "UPDATE idempotency_keys SET answer = $3 WHERE principal = $1 AND key = $2",
            )
            .bind(&who)
            .bind(&key)
            .bind(stored)
            .execute(pool)
            .await
            .gql()?;
            Ok(answer)
        }
        Err(e) => {
            // A refused request may be sent again with the same key.
            let _ = sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2")
                .bind(&who)
                .bind(&key)
                .execute(pool)
                .await;
            Err(e)
        }
    }
}

/// Waits for the read models, then answers.
async fn settled<T>(services: &Services, executed: Executed<T>) -> T {
    settle(services, &executed.written).await;
    executed.answer
}

/// Runs one decider's command on one stream, with the claims its events declare.
async fn run_on<D>(
    ctx: &Context<'_>,
    stream: String,
    command: D::Command,
    claims: impl Fn(&D::Event) -> (Vec<domain::Claim>, Vec<domain::Claim>),
) -> async_graphql::Result<D::State>
where
    D: Decider,
    D::Command: Clone,
    D::Event: Serialize + DeserializeOwned,
{
    let s = services(ctx)?;
    let executed = operations::run_decider::<D>(
        &s.handler,
        &caller(ctx)?.context(),
        &stream,
        command,
        Utc::now(),
        claims,
    )
    .await
    .gql()?;
    Ok(settled(s, executed).await)
}

fn none<E>(_: &E) -> (Vec<domain::Claim>, Vec<domain::Claim>) {
    (vec![], vec![])
}

fn seats_arg(field: &'static str, n: i32) -> async_graphql::Result<u32> {
    u32::try_from(n).map_err(|_| super::error::validation(field, "must not be negative"))
}

async fn subscription_answer(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<SubscriptionRow> {
    types::subscription_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("subscription"))
}

async fn organization_answer(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<OrganizationRow> {
    types::organization_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("organization"))
}

async fn member_answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<MemberRow> {
    types::member_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("member"))
}

async fn mailbox_answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<MailboxRow> {
    types::mailbox_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("mailbox"))
}

fn to_add_member(member_id: Uuid, row: &AddMemberRowInput) -> async_graphql::Result<AddMember> {
    Ok(AddMember {
        member_id,
        name: row.name.clone(),
        account: row.account.clone(),
        phone: row.phone.clone(),
        email: row.email.clone(),
        password: row.password.clone(),
        department_id: row
            .department_id
            .as_ref()
            .map(|d| parse_id("departmentId", d))
            .transpose()?,
        role: row.role.map(|r| match r {
            Role::Member => member::RoleLabel::Member,
            Role::Admin => member::RoleLabel::Admin,
        }),
        employment_type: row.employment_type.map(|e| match e {
            EmploymentType::FullTime => member::EmploymentType::FullTime,
            EmploymentType::Intern => member::EmploymentType::Intern,
            EmploymentType::Dispatched => member::EmploymentType::Dispatched,
            EmploymentType::Outsourced => member::EmploymentType::Outsourced,
        }),
        hire_date: row.hire_date,
    })
}

/// Who holds an address now, from the mailbox read model.
async fn address_holders(
    ctx: &Context<'_>,
    domain_name: &str,
) -> async_graphql::Result<std::collections::HashMap<String, AddressHolder>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT address, status FROM mailboxes WHERE address LIKE '%@' || $1 AND status <> 'PURGED'")
        .bind(domain_name)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
    Ok(rows
        .into_iter()
        .map(|(a, s)| {
            (
                a,
                if s == "CLOSED" {
                    AddressHolder::InRecycleBin
                } else {
                    AddressHolder::Open
                },
            )
        })
        .collect())
}

#[Object(name = "ProductMutation")]
impl Mutation {
    /// Marketplace order system: a paid order or a trial became a subscription. Idempotent
    /// on the order id.
    async fn provision_subscription(
        &self,
        ctx: &Context<'_>,
        input: ProvisionSubscriptionInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SubscriptionRow> {
        access::service(ctx, "marketplace")?;
        let args = format!(
            "{}|{}|{}|{}|{}|{:?}",
            input.buyer_account_id,
            input.order_id,
            input.edition,
            input.seats,
            input.trial,
            input.months
        );
        let id: Uuid = once(ctx, idempotency_key, "provisionSubscription", args, async {
            let s = services(ctx)?;
            let months = input.months.map(|m| seats_arg("months", m)).transpose()?;
            let executed = operations::provision_subscription(
                &s.handler,
                &caller(ctx)?.context(),
                &input.buyer_account_id,
                &input.order_id,
                &input.edition,
                seats_arg("seats", input.seats)?,
                input.trial,
                months,
                &s.price_list,
            )
            .await
            .gql()?;
            let state = settled(s, executed).await;
            state.id.ok_or_else(|| not_found("subscription"))
        })
        .await?;
        subscription_answer(ctx, id).await
    }

    /// Buyer: turn a running trial into a paid subscription, keeping everything.
    async fn convert_trial(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        months: i32,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SubscriptionRow> {
        let id = parse_id("subscriptionId", &subscription_id)?;
        access::require_buyer(ctx, id).await?;
        let price_list = services(ctx)?.price_list.clone();
        once(
            ctx,
            idempotency_key,
            "convertTrial",
            format!("{id}|{months}"),
            async {
                let months = seats_arg("months", months)?;
                run_on::<Subscription>(
                    ctx,
                    streams::subscription(id),
                    SubscriptionCommand::ConvertTrial { months, price_list },
                    none,
                )
                .await?;
                Ok(())
            },
        )
        .await?;
        subscription_answer(ctx, id).await
    }

    /// Buyer: add seats to an active paid subscription; answers the price.
    async fn expand_seats(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        additional_seats: i32,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SeatExpansion> {
        let id = parse_id("subscriptionId", &subscription_id)?;
        access::require_buyer(ctx, id).await?;
        let price_list = services(ctx)?.price_list.clone();
        once(
            ctx,
            idempotency_key,
            "expandSeats",
            format!("{id}|{additional_seats}"),
            async {
                let additional = seats_arg("additionalSeats", additional_seats)?;
                let s = services(ctx)?;
                let stream = streams::subscription(id);
                let executed = s
                    .handler
                    .execute_tracked(
                        &caller(ctx)?.context(),
                        std::slice::from_ref(&stream),
                        |loaded| {
                            let state = loaded.state::<Subscription>(&stream)?;
                            let events = Subscription::decide(
                                &state,
                                SubscriptionCommand::ExpandSeats {
                                    additional,
                                    price_list: price_list.clone(),
                                },
                                Utc::now(),
                            )?;
                            let answer = match events.first() {
                                Some(subscription::SubscriptionEvent::SeatsExpanded {
                                    added,
                                    new_total,
                                    remaining_days,
                                    amount,
                                    currency,
                                }) => SeatExpansion {
                                    subscription_id: ID(id.to_string()),
                                    added: *added as i32,
                                    new_total: *new_total as i32,
                                    remaining_days: *remaining_days as i32,
                                    amount: amount.to_string(),
                                    currency: currency.clone(),
                                },
                                _ => return Err(CommandError::Conflict(0)),
                            };
                            Ok((answer, vec![Change::new(&stream, &events)?]))
                        },
                    )
                    .await
                    .gql()?;
                Ok(settled(s, executed).await)
            },
        )
        .await
    }

    /// Buyer: unsubscribe with a full refund (within 5 days, at most 10 times a year).
    async fn unsubscribe(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        reason: Option<String>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SubscriptionRow> {
        let id = parse_id("subscriptionId", &subscription_id)?;
        let buyer = access::require_buyer(ctx, id).await?;
        once(
            ctx,
            idempotency_key,
            "unsubscribe",
            format!("{id}|{reason:?}"),
            async {
                let s = services(ctx)?;
                let sub = streams::subscription(id);
                let buyer_stream = streams::buyer(&buyer);
                let executed = s
                    .handler
                    .execute_tracked(
                        &caller(ctx)?.context(),
                        &[sub.clone(), buyer_stream.clone()],
                        |loaded| {
                            let state = loaded.state::<Subscription>(&sub)?;
                            let mut history = BuyerState::default();
                            for e in loaded.events(&buyer_stream) {
                                history = history.evolve(&eventstore::decode_serde(e)?);
                            }
                            let (sub_events, buyer_events) = subscription::unsubscribe(
                                &state,
                                &history,
                                reason.clone(),
                                Utc::now(),
                            )?;
                            Ok((
                                (),
                                vec![
                                    Change::new(&sub, &sub_events)?,
                                    Change::new(&buyer_stream, &buyer_events)?,
                                ],
                            ))
                        },
                    )
                    .await
                    .gql()?;
                settled(s, executed).await;
                Ok(())
            },
        )
        .await?;
        subscription_answer(ctx, id).await
    }

    /// Account: create an organization (the creator administers it, or, as a reseller,
    /// manages it until the first invited admin accepts).
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let account = access::account(ctx)?.to_owned();
        let args = format!("{}|{}|{}", input.name, input.identifier, input.as_reseller);
        let id: Uuid = once(ctx, idempotency_key, "createOrganization", args, async {
            let s = services(ctx)?;
            let id = Uuid::now_v7();
            let executed = operations::create_organization(
                &s.handler,
                &caller(ctx)?.context(),
                id,
                &input.name,
                &input.identifier,
                &account,
                input.as_reseller,
            )
            .await
            .gql()?;
            settled(s, executed).await;
            Ok(id)
        })
        .await?;
        organization_answer(ctx, id).await
    }

    /// Buyer and organization manager: bind the mail app (subscription) to the organization.
    async fn bind_app(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        organization_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let sub = parse_id("subscriptionId", &subscription_id)?;
        let org = parse_id("organizationId", &organization_id)?;
        access::require_buyer(ctx, sub).await?;
        access::require_manager(ctx, org).await?;
        once(
            ctx,
            idempotency_key,
            "bindApp",
            format!("{sub}|{org}"),
            async {
                let s = services(ctx)?;
                let executed = operations::bind_app(&s.handler, &caller(ctx)?.context(), sub, org)
                    .await
                    .gql()?;
                settled(s, executed).await;
                Ok(())
            },
        )
        .await?;
        organization_answer(ctx, org).await
    }

    /// Manager: invite an admin; the one-time token goes to the invitee by SMS/e-mail.
    async fn invite_admin(
        &self,
        ctx: &Context<'_>,
        input: InviteAdminInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<types::InvitationRow> {
        let org = parse_id("organizationId", &input.organization_id)?;
        let actor = access::require_manager(ctx, org).await?;
        let args = format!(
            "{org}|{}|{}|{}|{}",
            input.name, input.phone, input.email, input.valid_hours
        );
        let id: Uuid = once(ctx, idempotency_key, "inviteAdmin", args, async {
            let s = services(ctx)?;
            let invitation_id = Uuid::now_v7();
            let token = crate::secrets::generate_key().map_err(super::error::internal)?;
            let hours = seats_arg("validHours", input.valid_hours)?;
            run_on::<Organization>(
                ctx,
                streams::organization(org),
                OrganizationCommand::InviteAdmin {
                    invitation_id,
                    name: input.name.clone(),
                    phone: input.phone.clone(),
                    email: input.email.clone(),
                    valid_hours: hours,
                    token_hash: organization::token_hash(&token),
                    actor: actor.clone(),
                },
                none,
            )
            .await?;
            s.secrets
                .put(Purpose::InvitationToken, invitation_id, &token)
                .await
                .map_err(super::error::internal)?;
            Ok(invitation_id)
        })
        .await?;
        sqlx::query_as("SELECT * FROM invitations WHERE id = $1")
            .bind(id)
            .fetch_optional(&services(ctx)?.pool)
            .await
            .gql()?
            .ok_or_else(|| not_found("invitation"))
    }

    /// Account: accept an admin invitation with the token from its link.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        invitation_id: ID,
        token: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let account = access::account(ctx)?.to_owned();
        let id = parse_id("invitationId", &invitation_id)?;
        let args = format!("{id}|{}", organization::token_hash(&token));
        let org: Uuid = once(ctx, idempotency_key, "acceptInvitation", args, async {
            let org: Uuid =
                sqlx::query_scalar("SELECT organization_id FROM invitations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&services(ctx)?.pool)
                    .await
                    .gql()?
                    .ok_or_else(|| coded("INVALID_TOKEN", "the token is not valid"))?;
            run_on::<Organization>(
                ctx,
                streams::organization(org),
                OrganizationCommand::AcceptInvitation {
                    invitation_id: id,
                    token: token.clone(),
                    account: account.clone(),
                },
                none,
            )
            .await?;
            Ok(org)
        })
        .await?;
        organization_answer(ctx, org).await
    }

    /// Manager: a department under the organization or under `parentId`.
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        name: String,
        parent_id: Option<ID>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<types::DepartmentRow> {
        let org = parse_id("organizationId", &organization_id)?;
        access::require_manager(ctx, org).await?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id("parentId", p))
            .transpose()?;
        let id: Uuid = once(
            ctx,
            idempotency_key,
            "createDepartment",
            format!("{org}|{name}|{parent:?}"),
            async {
                let department_id = Uuid::now_v7();
                run_on::<Organization>(
                    ctx,
                    streams::organization(org),
                    OrganizationCommand::CreateDepartment {
                        department_id,
                        name: name.clone(),
                        parent_id: parent,
                    },
                    none,
                )
                .await?;
                Ok(department_id)
            },
        )
        .await?;
        sqlx::query_as("SELECT * FROM departments WHERE id = $1")
            .bind(id)
            .fetch_optional(&services(ctx)?.pool)
            .await
            .gql()?
            .ok_or_else(|| not_found("department"))
    }

    /// Manager: add a member. The password is kept encrypted for the credentials SMS only.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let org = parse_id("organizationId", &input.organization_id)?;
        access::require_manager(ctx, org).await?;
        let row = AddMemberRowInput {
            name: input.name.clone(),
            account: input.account.clone(),
            phone: input.phone.clone(),
            email: input.email.clone(),
            password: input.password.clone(),
            department_id: input.department_id.clone(),
            role: input.role,
            employment_type: input.employment_type,
            hire_date: input.hire_date,
        };
        let args = format!(
            "{org}|{}|{}|{:?}|{:?}|{}|{:?}",
            row.name,
            row.account,
            row.phone,
            row.email,
            organization::token_hash(&row.password),
            row.department_id.as_ref().map(|d| d.to_string())
        );
        let id: Uuid = once(ctx, idempotency_key, "addMember", args, async {
            add_one(ctx, org, &row).await
        })
        .await?;
        member_answer(ctx, id).await
    }

    /// Manager: add up to 1,000 members; each row is decided on its own, and of rows
    /// repeating an account the last one wins.
    async fn import_members(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        rows: Vec<AddMemberRowInput>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ImportResult> {
        let org = parse_id("organizationId", &organization_id)?;
        access::require_manager(ctx, org).await?;
        once(
            ctx,
            idempotency_key,
            "importMembers",
            format!(
                "{org}|{:?}",
                rows.iter()
                    .map(|r| (
                        &r.name,
                        &r.account,
                        &r.phone,
                        &r.email,
                        organization::token_hash(&r.password)
                    ))
                    .collect::<Vec<_>>()
            ),
            async {
                if rows.len() > member::MAX_IMPORT_ROWS {
                    return Err(super::error::GqlError::from(DomainError::ImportTooLarge {
                        rows: rows.len(),
                        max: member::MAX_IMPORT_ROWS,
                    })
                    .0);
                }
                let mut last_row_of = std::collections::HashMap::new();
                for (i, r) in rows.iter().enumerate() {
                    last_row_of.insert(r.account.trim().to_owned(), i);
                }
                let mut result = ImportResult {
                    imported: 0,
                    failed: vec![],
                };
                for (i, row) in rows.iter().enumerate() {
                    if last_row_of.get(row.account.trim()) != Some(&i) {
                        continue;
                    }
                    match add_one(ctx, org, row).await {
                        Ok(_) => result.imported += 1,
                        Err(e) => {
                            let ext = e.extensions.as_ref();
                            let get = |k: &str| {
                                ext.and_then(|x| x.get(k))
                                    .map(|v| v.to_string().trim_matches('"').to_owned())
                            };
                            result.failed.push(ImportFailure {
                                row: i as i32,
                                code: get("code").unwrap_or_else(|| "INTERNAL".into()),
                                message: e.message.clone(),
                                field: get("field"),
                            });
                        }
                    }
                }
                Ok(result)
            },
        )
        .await
    }

    /// Manager: a disabled member cannot log in.
    async fn disable_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        access::require_manager_of(ctx, "members", id).await?;
        once(
            ctx,
            idempotency_key,
            "disableMember",
            id.to_string(),
            async {
                run_on::<Member>(ctx, streams::member(id), MemberCommand::Disable, none).await?;
                Ok(())
            },
        )
        .await?;
        member_answer(ctx, id).await
    }

    async fn enable_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        access::require_manager_of(ctx, "members", id).await?;
        once(
            ctx,
            idempotency_key,
            "enableMember",
            id.to_string(),
            async {
                run_on::<Member>(ctx, streams::member(id), MemberCommand::Enable, none).await?;
                Ok(())
            },
        )
        .await?;
        member_answer(ctx, id).await
    }

    /// Manager: give a member a new password; the member gets it by SMS and must change it
    /// at the next login. The mailbox takes the new password.
    async fn reset_member_password(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        password: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        access::require_manager_of(ctx, "members", id).await?;
        domain::validate::password(&password).gql()?;
        once(
            ctx,
            idempotency_key,
            "resetMemberPassword",
            format!("{id}|{}", domain::organization::token_hash(&password)),
            async {
                // Kept before the event exists: the SMS and data plane workers read them
                // as soon as they see it.
                keep_password(services(ctx)?, Purpose::ResetPassword, id, &password).await?;
                run_on::<Member>(
                    ctx,
                    streams::member(id),
                    MemberCommand::ResetPassword { password },
                    none,
                )
                .await?;
                Ok(())
            },
        )
        .await?;
        member_answer(ctx, id).await
    }

    /// Manager: delete a disabled member, freeing its account, phone and seat.
    async fn delete_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let (org, _) = access::require_manager_of(ctx, "members", id).await?;
        once(
            ctx,
            idempotency_key,
            "deleteMember",
            id.to_string(),
            async {
                let s = services(ctx)?;
                let sub_id: Option<Uuid> =
                    sqlx::query_scalar("SELECT subscription_id FROM organizations WHERE id = $1")
                        .bind(org)
                        .fetch_one(&s.pool)
                        .await
                        .gql()?;
                let executed =
                    operations::delete_member(&s.handler, &caller(ctx)?.context(), org, id, sub_id)
                        .await
                        .gql()?;
                settled(s, executed).await;
                Ok(())
            },
        )
        .await?;
        member_answer(ctx, id).await
    }

    /// Manager: authorize members (and whole departments) for the mail app; never more
    /// than the purchased seats.
    async fn authorize_members(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        member_ids: Option<Vec<ID>>,
        department_ids: Option<Vec<ID>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<AuthorizationResult> {
        let org = parse_id("organizationId", &organization_id)?;
        access::require_manager(ctx, org).await?;
        once(ctx, idempotency_key, "authorizeMembers", format!("{org}|{member_ids:?}|{department_ids:?}"), async {
        let s = services(ctx)?;
        let mut ids: Vec<Uuid> = member_ids
            .unwrap_or_default()
            .iter()
            .map(|m| parse_id("memberIds", m))
            .collect::<Result<_, _>>()?;
        for d in department_ids.unwrap_or_default() {
            let department = parse_id("departmentIds", &d)?;
            run_on::<Organization>(
                ctx,
                streams::organization(org),
                OrganizationCommand::AuthorizeDepartment {
                    department_id: department,
                },
                none,
            )
            .await?;
            let in_department: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM members WHERE organization_id = $1 AND department_id = $2 AND status = 'ACTIVE'")
                .bind(org)
                .bind(department)
                .fetch_all(&s.pool)
                .await
                .gql()?;
            ids.extend(in_department);
        }
        ids.sort();
        ids.dedup();
        let executed =
            operations::authorize_members(&s.handler, &caller(ctx)?.context(), org, &ids)
                .await
                .gql()?;
        let authorized = settled(s, executed).await;
        let available: i32 = sqlx::query_scalar("SELECT s.seats - s.authorized FROM subscriptions s JOIN organizations o ON o.subscription_id = s.id WHERE o.id = $1")
            .bind(org)
            .fetch_optional(&s.pool)
            .await
            .gql()?
            .unwrap_or(0);
        Ok(AuthorizationResult {
            authorized: authorized as i32,
            available_seats: available,
        })
        })
        .await
    }

    /// Manager: add a mail domain; the answer lists the DNS records to publish.
    async fn add_domain(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        name: String,
        mode: VerificationMode,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<types::DomainRow> {
        let org = parse_id("organizationId", &organization_id)?;
        access::require_manager(ctx, org).await?;
        let id: Uuid = once(
            ctx,
            idempotency_key,
            "addDomain",
            format!("{org}|{name}|{mode:?}"),
            async {
                let s = services(ctx)?;
                let count: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM mail_domains WHERE organization_id = $1 AND NOT removed",
                )
                .bind(org)
                .fetch_one(&s.pool)
                .await
                .gql()?;
                let domain_id = Uuid::now_v7();
                let token = crate::secrets::generate_key().map_err(super::error::internal)?;
                let executed = operations::add_domain(
                    &s.handler,
                    &caller(ctx)?.context(),
                    MailDomainCommand::Add {
                        domain_id,
                        organization_id: org,
                        name: name.clone(),
                        mode: match mode {
                            VerificationMode::Full => DomainMode::Full,
                            VerificationMode::Ownership => DomainMode::Ownership,
                        },
                        domains_in_organization: count as u32,
                        ownership_token: token[..24].to_owned(),
                        provider: s.provider.clone(),
                    },
                    domain_id,
                )
                .await
                .gql()?;
                settled(s, executed).await;
                Ok(domain_id)
            },
        )
        .await?;
        sqlx::query_as("SELECT * FROM mail_domains WHERE id = $1")
            .bind(id)
            .fetch_optional(&services(ctx)?.pool)
            .await
            .gql()?
            .ok_or_else(|| not_found("domain"))
    }

    /// Manager: look the domain's records up in DNS now and judge them; all OK verifies it.
    async fn verify_domain(
        &self,
        ctx: &Context<'_>,
        domain_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<types::DomainRow> {
        let id = parse_id("domainId", &domain_id)?;
        access::require_manager_of(ctx, "mail_domains", id).await?;
        once(
            ctx,
            idempotency_key,
            "verifyDomain",
            id.to_string(),
            async {
                let s = services(ctx)?;
                let state = s
                    .handler
                    .load_state::<domain::maildomain::MailDomain>(&streams::maildomain(id))
                    .await
                    .gql()?;
                let answers = s.dns.answers(&state.name, &state.records).await;
                let executed = operations::run_mail_domain(
                    &s.handler,
                    &caller(ctx)?.context(),
                    id,
                    MailDomainCommand::Check {
                        answers,
                        provider: s.provider.clone(),
                    },
                )
                .await
                .gql()?;
                settled(s, executed).await;
                Ok(())
            },
        )
        .await?;
        sqlx::query_as("SELECT * FROM mail_domains WHERE id = $1")
            .bind(id)
            .fetch_optional(&services(ctx)?.pool)
            .await
            .gql()?
            .ok_or_else(|| not_found("domain"))
    }

    /// Manager: open a mailbox for an authorized member on a verified domain. Without a
    /// local part, the pinyin of the member's name (a taken one gets 1, 2, 3…).
    async fn open_mailbox(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        domain_id: ID,
        local_part: Option<String>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        let member = parse_id("memberId", &member_id)?;
        let domain = parse_id("domainId", &domain_id)?;
        let (org, _) = access::require_manager_of(ctx, "members", member).await?;
        if access::organization_of(&services(ctx)?.pool, "mail_domains", domain)
            .await
            .gql()?
            != Some(org)
        {
            return Err(forbidden());
        }
        let id: Uuid = once(
            ctx,
            idempotency_key,
            "openMailbox",
            format!("{member}|{domain}|{local_part:?}"),
            async { open_one(ctx, member, domain, local_part.clone()).await },
        )
        .await?;
        mailbox_answer(ctx, id).await
    }

    /// Manager: open mailboxes with default addresses; each member decided on its own
    /// (failures are left out of the answer).
    async fn open_mailboxes(
        &self,
        ctx: &Context<'_>,
        member_ids: Vec<ID>,
        domain_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Vec<MailboxRow>> {
        let domain = parse_id("domainId", &domain_id)?;
        let org = access::organization_of(&services(ctx)?.pool, "mail_domains", domain)
            .await
            .gql()?
            .ok_or_else(forbidden)?;
        access::require_manager(ctx, org).await?;
        let args = format!("{domain}|{member_ids:?}");
        let ids: Vec<Uuid> = once(ctx, idempotency_key, "openMailboxes", args, async {
            let mut opened = Vec::new();
            for m in &member_ids {
                let member = parse_id("memberIds", m)?;
                if access::organization_of(&services(ctx)?.pool, "members", member)
                    .await
                    .gql()?
                    != Some(org)
                {
                    return Err(forbidden());
                }
                if let Ok(id) = open_one(ctx, member, domain, None).await {
                    opened.push(id);
                }
            }
            Ok(opened)
        })
        .await?;
        let mut answer = Vec::with_capacity(ids.len());
        for id in ids {
            answer.push(mailbox_answer(ctx, id).await?);
        }
        Ok(answer)
    }

    /// Manager: close a mailbox into the recycle bin (purged after 30 days).
    async fn close_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        on_mailbox(
            ctx,
            &mailbox_id,
            idempotency_key,
            "closeMailbox",
            |_| async {
                Ok(MailboxCommand::Close {
                    reason: mailbox::CloseReason::ByAdmin,
                })
            },
        )
        .await
    }

    /// Manager: restore a mailbox from the recycle bin (its member must be authorized).
    async fn restore_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        on_mailbox(
            ctx,
            &mailbox_id,
            idempotency_key,
            "restoreMailbox",
            |id| async move {
                let member = mailbox_answer(ctx, id).await?.member_id;
                let member_state = services(ctx)?
                    .handler
                    .load_state::<Member>(&streams::member(member))
                    .await
                    .gql()?;
                Ok(MailboxCommand::Restore {
                    member_may_use_mail: member_state.may_use_mail(),
                })
            },
        )
        .await
    }

    /// Manager: empty a mailbox from the recycle bin now; its address becomes free.
    async fn purge_mailbox(
        &self,
        ctx: &Context<'_>,
        mailbox_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MailboxRow> {
        on_mailbox(
            ctx,
            &mailbox_id,
            idempotency_key,
            "purgeMailbox",
            |_| async { Ok(MailboxCommand::Purge) },
        )
        .await
    }

    /// Admin: dissolve an empty organization, typing its identifier to confirm.
    async fn dissolve_organization(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        confirm_identifier: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrganizationRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let actor = access::require_manager(ctx, org).await?;
        once(
            ctx,
            idempotency_key,
            "dissolveOrganization",
            format!("{org}|{confirm_identifier}"),
            async {
                let members_left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM members WHERE organization_id = $1 AND status <> 'DELETED'",
        )
        .bind(org)
        .fetch_one(&services(ctx)?.pool)
        .await
        .gql()?;
                run_on::<Organization>(
                    ctx,
                    streams::organization(org),
                    OrganizationCommand::Dissolve {
                        confirm_identifier,
                        actor,
                        members_left: members_left as u32,
                    },
                    |e| e.claims(),
                )
                .await?;
                Ok(())
            },
        )
        .await?;
        organization_answer(ctx, org).await
    }
}

async fn add_one(
    ctx: &Context<'_>,
    org: Uuid,
    row: &AddMemberRowInput,
) -> async_graphql::Result<Uuid> {
    let s = services(ctx)?;
    let member_id = Uuid::now_v7();
    let command = to_add_member(member_id, row)?;
    let executed = operations::add_member(&s.handler, &caller(ctx)?.context(), org, command)
        .await
        .gql()?;
    keep_password(s, Purpose::InitialPassword, member_id, &row.password).await?;
    settled(s, executed).await;
    Ok(member_id)
}

/// A manager's command on one mailbox (made by `command` from the mailbox id), once per
/// idempotency key; answers the mailbox.
async fn on_mailbox<F, Fut>(
    ctx: &Context<'_>,
    mailbox_id: &ID,
    idempotency_key: Option<String>,
    operation: &str,
    command: F,
) -> async_graphql::Result<MailboxRow>
where
    F: FnOnce(Uuid) -> Fut,
    Fut: Future<Output = async_graphql::Result<MailboxCommand>>,
{
    let id = parse_id("mailboxId", mailbox_id)?;
    access::require_manager_of(ctx, "mailboxes", id).await?;
    once(ctx, idempotency_key, operation, id.to_string(), async {
        let command = command(id).await?;
        let s = services(ctx)?;
        let executed =
            operations::run_mailbox(&s.handler, &caller(ctx)?.context(), id, command, Utc::now())
                .await
                .gql()?;
        settled(s, executed).await;
        Ok(())
    })
    .await?;
    mailbox_answer(ctx, id).await
}

/// Keeps a member's password for its message (`purpose`) and, hashed, for the mailbox.
async fn keep_password(
    s: &Services,
    purpose: Purpose,
    member_id: Uuid,
    password: &str,
) -> async_graphql::Result<()> {
    s.secrets
        .put(purpose, member_id, password)
        .await
        .map_err(super::error::internal)?;
    // Hashed once, when the password arrives, so opening mailboxes never waits on Argon2.
    let plain = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || crate::secrets::mail_password_hash(&plain))
        .await
        .map_err(super::error::internal)?
        .map_err(super::error::internal)?;
    s.secrets
        .put(Purpose::MailboxPasswordHash, member_id, &hash)
        .await
        .map_err(super::error::internal)
}

async fn open_one(
    ctx: &Context<'_>,
    member: Uuid,
    domain: Uuid,
    local_part: Option<String>,
) -> async_graphql::Result<Uuid> {
    let s = services(ctx)?;
    let domain_name: String = sqlx::query_scalar("SELECT name FROM mail_domains WHERE id = $1")
        .bind(domain)
        .fetch_one(&s.pool)
        .await
        .gql()?;
    let holders = address_holders(ctx, &domain_name).await?;
    let holder = move |a: &str| holders.get(a).copied();
    let mailbox_id = Uuid::now_v7();
    let executed = operations::open_mailbox(
        &s.handler,
        &caller(ctx)?.context(),
        member,
        domain,
        mailbox_id,
        local_part,
        &holder,
    )
    .await
    .gql()?;
    settled(s, executed).await;
    Ok(mailbox_id)
}
