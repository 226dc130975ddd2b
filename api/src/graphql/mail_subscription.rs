//! Subscriptions of the mail app in GraphQL: the `MailSubscription` type and the buyer's and
//! marketplace's mutations.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::{once, pool, request, require_reader, services};
use super::enums::{count_arg, label, parse_id, SubscriptionStatus};
use super::error::{not_found, Gql};
use super::organization::{organization_row, OrganizationRow};

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub order_id: String,
    pub buyer_account_id: String,
    pub edition: String,
    pub seats: i32,
    pub authorized: i32,
    pub status: String,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub paid: i64,
    pub currency: String,
    pub organization_id: Option<Uuid>,
}

/// Seats of a subscription.
#[derive(SimpleObject, Clone, Copy)]
pub struct Seats {
    pub purchased: i32,
    pub authorized: i32,
    pub available: i32,
}

impl SubscriptionRow {
    pub fn seat_counts(&self) -> Seats {
        Seats {
            purchased: self.seats,
            authorized: self.authorized,
            available: (self.seats - self.authorized).max(0),
        }
    }
}

/// A purchase or trial of the mail app.
#[Object(name = "MailSubscription")]
impl SubscriptionRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The marketplace order (the buyer's, the marketplace's and operators' only: an
    /// invited admin reading the organization is FORBIDDEN here).
    async fn order_id(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        self.commercial(ctx)?;
        Ok(&self.order_id)
    }
    /// Who bought it (commercial: as `orderId`).
    async fn buyer_account_id(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        self.commercial(ctx)?;
        Ok(&self.buyer_account_id)
    }
    async fn edition(&self) -> &str {
        &self.edition
    }
    /// Seats purchased.
    async fn seats(&self) -> i32 {
        self.seats
    }
    async fn seat_usage(&self) -> Seats {
        self.seat_counts()
    }
    async fn status(&self) -> async_graphql::Result<SubscriptionStatus> {
        label(
            &self.status,
            domain::subscription::SubscriptionStatus::from_label,
        )
    }
    async fn trial_ends_at(&self) -> Option<DateTime<Utc>> {
        self.trial_ends_at
    }
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.activated_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Everything charged so far, in minor units of `currency` (commercial: as `orderId`).
    async fn paid(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        self.commercial(ctx)?;
        Ok(self.paid.to_string())
    }
    /// The currency of `paid` (commercial: as `orderId`).
    async fn currency(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        self.commercial(ctx)?;
        Ok(&self.currency)
    }
    async fn organization(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<OrganizationRow>> {
        let Some(id) = self.organization_id else {
            return Ok(None);
        };
        // Seeing a subscription (its buyer, the marketplace) is not managing what it is
        // bound to.
        require_reader(ctx, id).await?;
        organization_row(ctx, id).await
    }
}

impl SubscriptionRow {
    /// The commercial fields are the buyer's, the marketplace's and operators': an admin
    /// who reads the organization it is bound to does not read the order.
    fn commercial(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let request = request(ctx)?;
        if request.is_operator() || app::access::service(request, "marketplace").is_ok() {
            return Ok(());
        }
        match app::access::account(request) {
            Ok(account) if account == self.buyer_account_id => Ok(()),
            _ => Err(app::AppError::Forbidden).gql(),
        }
    }
}

/// The subscription's row in the read model.
pub async fn subscription_row(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<SubscriptionRow>> {
    sqlx::query_as("SELECT * FROM subscriptions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()
}

async fn answer(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<SubscriptionRow> {
    subscription_row(ctx, id)
        .await?
        .ok_or_else(|| not_found("subscription"))
}

#[derive(InputObject, Serialize)]
pub struct ProvisionSubscriptionInput {
    pub buyer_account_id: String,
    pub order_id: String,
    pub edition: String,
    pub seats: i32,
    pub trial: bool,
    pub months: Option<i32>,
}

/// The price of a seat expansion.
#[derive(SimpleObject, Serialize, Deserialize, Clone)]
pub struct SeatExpansion {
    pub subscription_id: ID,
    pub added: i32,
    pub new_total: i32,
    pub remaining_days: i32,
    /// Minor units (fen) of `currency`, as a string: amounts exceed 32-bit integers.
    pub amount: String,
    pub currency: String,
}

#[derive(Default)]
pub struct SubscriptionMutation;

#[Object]
impl SubscriptionMutation {
    /// Marketplace order system: a paid order or a trial became a subscription. Idempotent
    /// on the order id.
    async fn provision_subscription(
        &self,
        ctx: &Context<'_>,
        input: ProvisionSubscriptionInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SubscriptionRow> {
        let order = app::subscription::Order {
            buyer_account_id: input.buyer_account_id.clone(),
            order_id: input.order_id.clone(),
            edition: input.edition.clone(),
            seats: count_arg("seats", input.seats)?,
            trial: input.trial,
            months: input.months.map(|m| count_arg("months", m)).transpose()?,
        };
        let (s, r) = (services(ctx)?, request(ctx)?);
        let id = once(
            ctx,
            idempotency_key,
            "provisionSubscription",
            &input,
            async {
                Ok(
                    s.settle(app::subscription::provision(&s.app, r, &order).await?)
                        .await,
                )
            },
        )
        .await?;
        answer(ctx, id).await
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
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (id, months);
        let months = count_arg("months", months)?;
        once(ctx, idempotency_key, "convertTrial", &arguments, async {
            s.settle(app::subscription::convert_trial(&s.app, r, id, months).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }

    /// Marketplace order system: a renewal order was paid; the term grows by `months` (a
    /// renewal within 30 days of expiry gives back what the expiry closed).
    async fn renew_subscription(
        &self,
        ctx: &Context<'_>,
        subscription_id: ID,
        months: i32,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<SubscriptionRow> {
        let id = parse_id("subscriptionId", &subscription_id)?;
        let months = count_arg("months", months)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(
            ctx,
            idempotency_key,
            "renewSubscription",
            &(id, months),
            async {
                s.settle(app::subscription::renew(&s.app, r, id, months).await?)
                    .await;
                Ok(())
            },
        )
        .await?;
        answer(ctx, id).await
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
        let (s, r) = (services(ctx)?, request(ctx)?);
        let arguments = (id, additional_seats);
        let additional = count_arg("additionalSeats", additional_seats)?;
        once(ctx, idempotency_key, "expandSeats", &arguments, async {
            let e = s
                .settle(app::subscription::expand_seats(&s.app, r, id, additional).await?)
                .await;
            Ok(SeatExpansion {
                subscription_id: ID(id.to_string()),
                added: e.added as i32,
                new_total: e.new_total as i32,
                remaining_days: e.remaining_days as i32,
                amount: e.amount.to_string(),
                currency: e.currency,
            })
        })
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
        let (s, r) = (services(ctx)?, request(ctx)?);
        once(ctx, idempotency_key, "unsubscribe", &(id, &reason), async {
            s.settle(app::subscription::unsubscribe(&s.app, r, id, reason.clone()).await?)
                .await;
            Ok(())
        })
        .await?;
        answer(ctx, id).await
    }
}
