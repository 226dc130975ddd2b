//! The GraphQL API of API.md on async-graphql: queries read the projections, mutations run
//! operations and answer after their own write is in the read model.

mod access;
mod error;
mod loaders;
mod mutation;
mod parked;
mod query;
mod subscription;
mod types;
mod webhooks;

use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::Schema;
use domain::maildomain::Provider;
use domain::pricing::PriceList;
use eventstore::Position;
use projections::{Projection, Runner};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Principal;
use crate::command::{CommandContext, CommandHandler};
use crate::secrets::SecretStore;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::SubscriptionRoot;

/// The schema type.
pub type MailplaneSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query: the product's and the webhook endpoints'.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(Query, webhooks::WebhookQuery, parked::ParkedQuery);

/// Every mutation: the product's and the webhook endpoints'.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(Mutation, webhooks::WebhookMutation);

/// Longest query nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// Most expensive query accepted (each field costs 1, lists multiply by `first`).
pub const MAX_COMPLEXITY: usize = 5_000;

/// What resolvers reach: the write side, the read side and configuration.
pub struct Services {
    pub handler: CommandHandler,
    pub runner: Runner,
    pub pool: PgPool,
    pub price_list: PriceList,
    pub provider: Provider,
    pub secrets: SecretStore,
    pub dns: crate::dns::DnsLookup,
}

/// Who calls, per request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub correlation_id: Uuid,
}

impl Caller {
    pub(crate) fn context(&self) -> CommandContext {
        CommandContext {
            actor: self
                .principal
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), Principal::actor),
            correlation_id: self.correlation_id,
            causation_id: None,
        }
    }
}

/// The error for a missing, expired or badly signed token.
pub fn unauthenticated_error(reason: &str) -> async_graphql::ServerError {
    let mut e = async_graphql::ServerError::new(format!("unauthenticated: {reason}"), None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "UNAUTHENTICATED");
    e.extensions = Some(ext);
    e
}

/// Builds the schema with its limits and services.
pub fn build_schema(services: Services) -> MailplaneSchema {
    let pool = services.pool.clone();
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(DataLoader::new(loaders::Loaders { pool }, tokio::spawn))
    .data(services)
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

/// Waits (bounded) until the read models of the written streams have folded the write,
/// so a mutation's answer reflects it.
pub(crate) async fn settle(services: &Services, written: &[(String, Position)]) {
    for (stream, position) in written {
        let category = eventstore::category_of(stream);
        for p in Projection::ALL {
            if p != Projection::AuditLog && p.categories().contains(&category) {
                if let Err(e) = services
                    .runner
                    .wait_for(p, *position, Duration::from_secs(5))
                    .await
                {
                    tracing::warn!(error = %e, "read model lags behind a mutation");
                }
            }
        }
    }
}
