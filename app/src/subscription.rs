//! Subscriptions: provisioning by the marketplace, conversion, seat expansion, renewal and
//! unsubscribing by the buyer; expiry and the data deletion by timers.

use domain::subscription::{
    self, BuyerState, SeatsExpansion, Subscription, SubscriptionCommand, SubscriptionEvent,
    SubscriptionState,
};
use domain::Decider;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::Change;
use crate::error::AppError;
use crate::{access, mailbox, no_claims, read, streams, App, Executed, Request};

mod quotes;
pub use quotes::*;

/// A marketplace order (API.md `provisionSubscription`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub buyer_account_id: String,
    pub order_id: String,
    pub edition: String,
    pub seats: u32,
    pub trial: bool,
    pub months: Option<u32>,
}

/// The marketplace provisions a subscription for a paid order or a trial; idempotent on the
/// order id. Answers the subscription's id.
pub async fn provision(
    app: &App,
    request: &Request,
    order: &Order,
) -> Result<Executed<Uuid>, AppError> {
    access::service(request, "marketplace")?;
    let id = subscription::subscription_id_for_order(order.order_id.trim());
    let command = SubscriptionCommand::Provision {
        order_id: order.order_id.clone(),
        buyer_account_id: order.buyer_account_id.clone(),
        edition: order.edition.clone(),
        seats: order.seats,
        trial: order.trial,
        months: order.months,
        price_list: app.price_list().clone(),
    };
    let done = app
        .run::<Subscription>(request, &streams::subscription(id), command, no_claims)
        .await?;
    Ok(done.map(|s| s.id.unwrap_or(id)))
}

/// The buyer turns a running trial into a paid subscription, keeping everything.
pub async fn convert_trial(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    months: u32,
) -> Result<Executed<()>, AppError> {
    access::require_buyer(app.pool(), request, subscription_id).await?;
    let command = SubscriptionCommand::ConvertTrial {
        months,
        price_list: app.price_list().clone(),
    };
    run(app, request, subscription_id, command).await
}

/// The marketplace records a paid renewal order; a renewal within the retention period
/// gives back what the expiry closed.
pub async fn renew(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    months: u32,
) -> Result<Executed<()>, AppError> {
    access::service(request, "marketplace")?;
    let command = SubscriptionCommand::Renew {
        months,
        price_list: app.price_list().clone(),
    };
    run(app, request, subscription_id, command).await
}

/// The buyer adds seats to an active paid subscription; answers the price.
pub async fn expand_seats(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    additional: u32,
) -> Result<Executed<SeatsExpansion>, AppError> {
    access::require_buyer(app.pool(), request, subscription_id).await?;
    let stream = streams::subscription(subscription_id);
    let now = app.now();
    let command = SubscriptionCommand::ExpandSeats {
        additional,
        price_list: app.price_list().clone(),
    };
    app.handler
        .execute_tracked(&request.context(), &[stream.to_string()], |loaded| {
            let state = loaded.state::<Subscription>(&stream)?;
            let events = Subscription::decide(&state, command.clone(), now)?;
            let expansion = events
                .iter()
                .find_map(SubscriptionEvent::seats_expansion)
                .ok_or_else(|| AppError::Internal("an expansion without its event".into()))?;
            Ok((expansion, vec![Change::new(&stream, &events)?]))
        })
        .await
}

/// The buyer unsubscribes with a full refund (within 5 days, at most 10 times a year).
pub async fn unsubscribe(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    reason: Option<String>,
) -> Result<Executed<()>, AppError> {
    let buyer = access::require_buyer(app.pool(), request, subscription_id).await?;
    let sub = streams::subscription(subscription_id);
    let buyer_stream = streams::buyer(&buyer);
    let now = app.now();
    app.handler
        .execute_tracked(
            &request.context(),
            &[sub.to_string(), buyer_stream.to_string()],
            |loaded| {
                let state = loaded.state::<Subscription>(&sub)?;
                let mut history = BuyerState::default();
                for e in loaded.events(&buyer_stream) {
                    history = history.evolve(&eventstore::decode_serde(e)?);
                }
                let (sub_events, buyer_events) =
                    subscription::unsubscribe(&state, &history, reason.clone(), now)?;
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
}

/// The expiry timer: ends a trial or a paid term that is due.
pub async fn expire(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
) -> Result<Executed<()>, AppError> {
    run(app, request, subscription_id, SubscriptionCommand::Expire).await
}

/// The data-deletion timer: when an expired subscription's data is due, every mailbox of
/// its organization is closed and purged, then the purge is recorded (which the decider
/// refuses before it is due).
pub async fn purge_data(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
) -> Result<(), AppError> {
    let stream = streams::subscription(subscription_id);
    let state = app.load::<Subscription>(&stream).await?;
    let now = app.now();
    if state.data_delete_due.is_none_or(|d| now < d) || state.data_purged {
        return Ok(());
    }
    for id in read::mailboxes_kept_of_subscription(app.pool(), subscription_id).await? {
        mailbox::close_for_purge(app, request, id).await?;
    }
    // The people go with the data: erased before the purge is recorded, so a crash in
    // between erases again (harmlessly) on the timer's next run.
    if let Some(organization_id) = state.organization_id {
        crate::personal_data::erase_organization(
            app,
            request,
            organization_id,
            domain::erasure::ErasureReason::SubscriptionDataPurged,
        )
        .await?;
    }
    run(
        app,
        request,
        subscription_id,
        SubscriptionCommand::PurgeData,
    )
    .await
    .map(|_| ())
}

/// The subscription's state now.
pub async fn state(app: &App, subscription_id: Uuid) -> Result<SubscriptionState, AppError> {
    app.load::<Subscription>(&streams::subscription(subscription_id))
        .await
}

async fn run(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    command: SubscriptionCommand,
) -> Result<Executed<()>, AppError> {
    let stream = streams::subscription(subscription_id);
    Ok(app
        .run::<Subscription>(request, &stream, command, no_claims)
        .await?
        .map(|_| ()))
}
