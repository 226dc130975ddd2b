//! What a buyer would pay or get back before confirming: the same rules as the commands,
//! decided at the app's clock over the current streams, and nothing written.

use domain::subscription::{
    self, BuyerState, SeatsExpansion, Subscription, SubscriptionCommand, SubscriptionEvent,
};
use domain::Decider;
use eventstore::{Direction, StreamPosition};
use uuid::Uuid;

use crate::error::AppError;
use crate::{access, streams, App, Request};

/// Most refunds a buyer's history holds that the quote reads (the rules keep 10 a year).
const BUYER_HISTORY: usize = 10_000;

/// An amount in minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub amount: i64,
    pub currency: String,
}

/// The expansion `expand_seats` would make now, or its refusal.
pub async fn quote_expansion(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    additional: u32,
) -> Result<SeatsExpansion, AppError> {
    access::require_buyer(app.pool(), request, subscription_id).await?;
    let state = super::state(app, subscription_id).await?;
    let command = SubscriptionCommand::ExpandSeats {
        additional,
        price_list: app.price_list().clone(),
    };
    Subscription::decide(&state, command, app.now())?
        .iter()
        .find_map(SubscriptionEvent::seats_expansion)
        .ok_or_else(|| AppError::Internal("an expansion without its event".into()))
}

/// The charge `convert_trial` would make now for `months`, or its refusal.
pub async fn quote_conversion(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
    months: u32,
) -> Result<Amount, AppError> {
    access::require_buyer(app.pool(), request, subscription_id).await?;
    let state = super::state(app, subscription_id).await?;
    let command = SubscriptionCommand::ConvertTrial {
        months,
        price_list: app.price_list().clone(),
    };
    Subscription::decide(&state, command, app.now())?
        .into_iter()
        .find_map(|e| match e {
            SubscriptionEvent::TrialConverted {
                amount, currency, ..
            } => Some(Amount { amount, currency }),
            _ => None,
        })
        .ok_or_else(|| AppError::Internal("a conversion without its event".into()))
}

/// The refund `unsubscribe` would grant now, or why it would be refused (refund window,
/// yearly limit, a trial, an inactive subscription).
pub async fn quote_refund(
    app: &App,
    request: &Request,
    subscription_id: Uuid,
) -> Result<Amount, AppError> {
    let buyer = access::require_buyer(app.pool(), request, subscription_id).await?;
    let state = super::state(app, subscription_id).await?;
    let mut history = BuyerState::default();
    let events = app
        .store()
        .read_stream(
            &streams::buyer(&buyer).to_string(),
            Direction::Forwards,
            StreamPosition::Start,
            BUYER_HISTORY,
        )
        .await?;
    for e in &events {
        history = history.evolve(&eventstore::decode_serde(e)?);
    }
    let (events, _) = subscription::unsubscribe(&state, &history, None, app.now())?;
    events
        .into_iter()
        .find_map(|e| match e {
            SubscriptionEvent::Unsubscribed {
                refund, currency, ..
            } => Some(Amount {
                amount: refund,
                currency,
            }),
            _ => None,
        })
        .ok_or_else(|| AppError::Internal("an unsubscription without its event".into()))
}
