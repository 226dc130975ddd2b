//! The GraphQL API of API.md on async-graphql. Resolvers are thin: queries read the
//! projections, mutations call the application's operations (`app`) and answer after their
//! own write is in the read model. One module per product concept.

mod admins;
mod audit;
pub mod bounds;
mod connection;
mod context;

pub use context::Readable;
mod departments;
mod enums;
mod erasure;
mod error;
mod events;
mod invitations;
mod loaders;
mod mail_subscription;
mod mailbox;
mod maildomain;
mod member;
mod member_mutation;
mod migration;
mod migration_mutation;
mod organization;
mod parked;
mod query;
mod webhooks;

use async_graphql::dataloader::DataLoader;
use async_graphql::Schema;
use projections::Runner;

pub use events::SubscriptionRoot;
pub use query::Query;

/// The schema type.
pub type MailplaneSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query: the product's, the webhook endpoints' and the parked events'.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    Query,
    webhooks::WebhookQuery,
    parked::ParkedQuery,
    migration::MigrationQuery,
);

/// Every mutation, by product concept.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mail_subscription::SubscriptionMutation,
    organization::OrganizationMutation,
    admins::AdminMutation,
    invitations::InvitationMutation,
    departments::DepartmentMutation,
    member_mutation::MemberMutation,
    maildomain::DomainMutation,
    mailbox::MailboxMutation,
    migration_mutation::MigrationMutation,
    webhooks::WebhookMutation,
    erasure::ErasureMutation,
);

/// Longest query nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// Most expensive query accepted (each field costs 1, lists multiply by `first`).
pub const MAX_COMPLEXITY: usize = 5_000;

/// What resolvers reach: the application (write side and read models) and the runner of
/// the read models, to wait for a write to be folded.
pub struct Services {
    pub app: app::App,
    pub runner: Runner,
}

impl Services {
    /// Waits (bounded) until the read models of the written streams have folded the write,
    /// so a mutation's answer reflects it; answers the operation's answer.
    pub async fn settle<T>(&self, executed: app::Executed<T>) -> T {
        self.runner.settle(&executed.written).await;
        executed.answer
    }
}

/// The error for a missing, expired or badly signed token.
pub fn unauthenticated_error(reason: &str) -> async_graphql::ServerError {
    coded_server_error(
        app::ErrorCode::Unauthenticated,
        &format!("unauthenticated: {reason}"),
    )
}

/// A request-level GraphQL error (no path) with its code.
pub fn coded_server_error(code: app::ErrorCode, message: &str) -> async_graphql::ServerError {
    let mut e = async_graphql::ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    e.extensions = Some(ext);
    e
}

/// Deepest introspection accepted: graphql-core's standard query (GraphiQL, code
/// generators, Postman, schemathesis) nests 13 levels with its `ofType` chains.
pub const MAX_INTROSPECTION_DEPTH: usize = 16;

/// Most expensive introspection accepted: the standard query costs some thousands of
/// fields; what it reads is the schema, bounded by the body limit.
pub const MAX_INTROSPECTION_COMPLEXITY: usize = 100_000;

/// Whether a query asks only about the schema (`__schema`, `__type`, `__typename` at its root).
pub fn is_introspection(query: &str) -> bool {
    use async_graphql::parser::types::{DocumentOperations, Selection};
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let roots: Vec<_> = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    roots.iter().all(|op| {
        op.node.ty == async_graphql::parser::types::OperationType::Query
            && op
                .node
                .selection_set
                .node
                .items
                .iter()
                .all(|item| match &item.node {
                    Selection::Field(f) => f.node.name.node.starts_with("__"),
                    _ => false,
                })
    })
}

/// The schema introspection queries run on: the same types, deeper nesting allowed; the
/// caller runs it with `only_introspection`, so no data is reached through it.
pub fn build_introspection_schema(services: Services) -> MailplaneSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(services)
    .extension(bounds::DocumentBounds)
    .limit_depth(MAX_INTROSPECTION_DEPTH)
    .limit_complexity(MAX_INTROSPECTION_COMPLEXITY)
    .finish()
}

/// Builds the schema with its limits and services.
pub fn build_schema(services: Services) -> MailplaneSchema {
    let pool = services.app.pool().clone();
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(DataLoader::new(loaders::Loaders { pool }, tokio::spawn))
    .data(services)
    .extension(bounds::DocumentBounds)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .finish()
}

/// The SDL clients build against (schema/graphql/schema.graphql).
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}
