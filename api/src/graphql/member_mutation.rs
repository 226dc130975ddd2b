//! Member mutations: add, import, edit, disable, enable, reset the password, delete,
//! authorize for the mail app and revoke that.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::{once, request, services};
use super::enums::{parse_id, EmploymentType, Role};
use super::error::not_found;
use super::member::{member_row, MemberRow};

#[derive(InputObject, Clone, Serialize)]
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

#[derive(InputObject, Clone, Serialize)]
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

impl AddMemberRowInput {
    fn member(&self) -> async_graphql::Result<app::member::NewMember> {
        Ok(app::member::NewMember {
            name: self.name.clone(),
            account: self.account.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            password: self.password.clone(),
            department_id: self
                .department_id
                .as_ref()
                .map(|d| parse_id("departmentId", d))
                .transpose()?,
            role: self.role.map(Into::into),
            employment_type: self.employment_type.map(Into::into),
            hire_date: self.hire_date,
        })
    }
}

/// What to change about a member; absent fields stay as they are.
#[derive(InputObject, Clone, Serialize)]
pub struct UpdateMemberInput {
    pub name: Option<String>,
    /// An empty string clears it.
    pub phone: Option<String>,
    /// An empty string clears it.
    pub email: Option<String>,
    /// The new department; see `toRoot`.
    pub department_id: Option<ID>,
    /// Move the member to the organization's root.
    #[graphql(default)]
    pub to_root: bool,
    pub role: Option<Role>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone)]
pub struct ImportFailure {
    /// 0-based row number as sent.
    pub row: i32,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone)]
pub struct ImportResult {
    pub imported: i32,
    pub failed: Vec<ImportFailure>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone)]
pub struct RevocationResult {
    /// Members whose authorization ended.
    pub revoked: i32,
    pub available_seats: i32,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone)]
pub struct AuthorizationResult {
    /// Members newly authorized (each gets the credentials SMS).
    pub authorized: i32,
    pub available_seats: i32,
}

/// The member's row, once a write is in the read model.
pub(super) async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<MemberRow> {
    member_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("member"))
}

fn ids(field: &'static str, ids: &[ID]) -> async_graphql::Result<Vec<Uuid>> {
    ids.iter().map(|i| parse_id(field, i)).collect()
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Manager: add a member. The password is kept encrypted for the credentials SMS only.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let org = parse_id("organizationId", &input.organization_id)?;
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
        }
        .member()?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let id = once(ctx, idempotency_key, "addMember", &input, async {
            Ok(s.settle(app::member::add(&s.app, r, org, &row).await?)
                .await)
        })
        .await?;
        answer(ctx, id).await
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
        let members = rows
            .iter()
            .map(AddMemberRowInput::member)
            .collect::<async_graphql::Result<Vec<_>>>()?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "importMembers",
            &(org, &rows),
            async {
                let report = app::member::import(&s.app, r, org, &members).await?;
                s.settle(app::Executed {
                    answer: (),
                    written: report.written,
                })
                .await;
                Ok(ImportResult {
                    imported: report.imported.len() as i32,
                    failed: report
                        .failed
                        .into_iter()
                        .map(|(row, e)| ImportFailure {
                            row: row as i32,
                            code: e.code().as_str().to_owned(),
                            field: e.field().map(str::to_owned),
                            message: e.public_message(),
                        })
                        .collect(),
                })
            },
        )
        .await
    }

    /// Manager: change a member's name, phone, e-mail, department or role (the account
    /// never changes).
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        input: UpdateMemberInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let department = input
            .department_id
            .as_ref()
            .map(|d| parse_id("departmentId", d))
            .transpose()?;
        let changes = app::member::MemberChanges {
            name: input.name.clone(),
            phone: input.phone.clone(),
            email: input.email.clone(),
            department_id: if input.to_root {
                Some(None)
            } else {
                department.map(Some)
            },
            role: input.role.map(Into::into),
        };
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "updateMember", &(id, &input), async {
            s.settle(app::member::update(&s.app, r, id, &changes).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }

    /// Manager: a disabled member cannot log in.
    async fn disable_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "disableMember", &id, async {
            s.settle(app::member::disable(&s.app, r, id).await?).await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }

    async fn enable_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "enableMember", &id, async {
            s.settle(app::member::enable(&s.app, r, id).await?).await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
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
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (id, &password);
        once(
            ctx,
            idempotency_key,
            "resetMemberPassword",
            &arguments,
            async {
                s.settle(app::member::reset_password(&s.app, r, id, &password).await?)
                    .await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: delete a disabled member, freeing its account, phone and seat.
    async fn delete_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MemberRow> {
        let id = parse_id("memberId", &member_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "deleteMember", &id, async {
            s.settle(app::member::delete(&s.app, r, id).await?).await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
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
        let members = ids("memberIds", member_ids.as_deref().unwrap_or_default())?;
        let departments = ids(
            "departmentIds",
            department_ids.as_deref().unwrap_or_default(),
        )?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (org, &members, &departments);
        once(
            ctx,
            idempotency_key,
            "authorizeMembers",
            &arguments,
            async {
                let done = app::member::authorize(&s.app, r, org, &members, &departments).await?;
                let a = s.settle(done).await;
                Ok(AuthorizationResult {
                    authorized: a.authorized as i32,
                    available_seats: a.available_seats as i32,
                })
            },
        )
        .await
    }

    /// Manager: revoke members' authorization; their seats are free again and their open
    /// mailboxes go to the recycle bin.
    async fn revoke_authorization(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        member_ids: Vec<ID>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<RevocationResult> {
        let org = parse_id("organizationId", &organization_id)?;
        let members = ids("memberIds", &member_ids)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (org, &members);
        once(
            ctx,
            idempotency_key,
            "revokeAuthorization",
            &arguments,
            async {
                let done = app::member::revoke_authorization(&s.app, r, org, &members).await?;
                let revoked = s.settle(done).await;
                Ok(RevocationResult {
                    revoked: revoked.revoked as i32,
                    available_seats: revoked.available_seats as i32,
                })
            },
        )
        .await
    }
}
