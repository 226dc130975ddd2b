//! Departments in GraphQL: the `Department` type, its lists and its mutations.

use async_graphql::{Context, Object, ID};
use uuid::Uuid;

use super::connection::{self, Connection};
use super::context::{once, pool, request, services};
use super::enums::parse_id;
use super::error::{not_found, Gql};

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct DepartmentRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub authorized: bool,
}

#[Object(name = "Department")]
impl DepartmentRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn parent_id(&self) -> Option<ID> {
        self.parent_id.map(|p| ID(p.to_string()))
    }
    /// Its members count as authorized for the mail app.
    async fn authorized(&self) -> bool {
        self.authorized
    }
}

/// Every department of an organization, by name.
pub async fn all(
    ctx: &Context<'_>,
    organization_id: Uuid,
) -> async_graphql::Result<Vec<DepartmentRow>> {
    sqlx::query_as("SELECT * FROM departments WHERE organization_id = $1 ORDER BY name, id")
        .bind(organization_id)
        .fetch_all(pool(ctx)?)
        .await
        .gql()
}

/// A page of an organization's departments, by id.
pub async fn page(
    ctx: &Context<'_>,
    organization_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<DepartmentRow>> {
    connection::of_organization(
        ctx,
        "departments",
        organization_id,
        first,
        after,
        |d: &DepartmentRow| d.id,
    )
    .await
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<DepartmentRow> {
    sqlx::query_as("SELECT * FROM departments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()?
        .ok_or_else(|| not_found("department"))
}

#[derive(Default)]
pub struct DepartmentMutation;

#[Object]
impl DepartmentMutation {
    /// Manager: a department under the organization or under `parentId`.
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        name: String,
        parent_id: Option<ID>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DepartmentRow> {
        let org = parse_id("organizationId", &organization_id)?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id("parentId", p))
            .transpose()?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (org, &name, parent);
        let id = once(
            ctx,
            idempotency_key,
            "createDepartment",
            &arguments,
            async {
                let done =
                    app::organization::create_department(&s.app, r, org, &name, parent).await?;
                Ok(s.settle(done).await)
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: rename a department (unique among its siblings).
    async fn rename_department(
        &self,
        ctx: &Context<'_>,
        department_id: ID,
        name: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DepartmentRow> {
        let id = parse_id("departmentId", &department_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "renameDepartment",
            &(id, &name),
            async {
                s.settle(app::organization::rename_department(&s.app, r, id, &name).await?)
                    .await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: move a department under `parentId`, or to the root without it.
    async fn move_department(
        &self,
        ctx: &Context<'_>,
        department_id: ID,
        parent_id: Option<ID>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<DepartmentRow> {
        let id = parse_id("departmentId", &department_id)?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id("parentId", p))
            .transpose()?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "moveDepartment",
            &(id, parent),
            async {
                s.settle(app::organization::move_department(&s.app, r, id, parent).await?)
                    .await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
    }

    /// Manager: delete a department without sub-departments or members; answers its id.
    async fn delete_department(
        &self,
        ctx: &Context<'_>,
        department_id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ID> {
        let id = parse_id("departmentId", &department_id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "deleteDepartment", &id, async {
            s.settle(app::organization::delete_department(&s.app, r, id).await?)
                .await;
            Ok(())
        })
        .await?;
        Ok(department_id)
    }
}
