//! `subscription-{id}`: a purchase or trial of the mail app, its seats and its lifetime;
//! and `buyer-{account}`, the refunds a buyer account has had (they span subscriptions).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::pricing::PriceList;
use crate::Decider;

mod buyer;
mod events;
mod seats;
mod terms;

pub use buyer::*;
pub use events::*;
pub use seats::*;
pub use terms::subscription_id_for_order;
use terms::{add_months, months, priced};

/// A trial lasts 15 days (KooMail FAQ 1.17).
pub const TRIAL_DAYS: i64 = 15;
/// A paid subscription can be unsubscribed with a full refund within 5 days (FAQ 5.4).
pub const REFUND_WINDOW_DAYS: i64 = 5;
/// At most this many refunds per buyer account in any 365 days (FAQ 5.4).
pub const REFUNDS_PER_YEAR: usize = 10;
/// An expired paid subscription's data is deleted this many days later unless renewed.
pub const DATA_RETENTION_DAYS: i64 = 30;
const MAX_SEATS: u32 = 100_000;
const MAX_MONTHS: u32 = 120;

#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionCommand {
    Provision {
        order_id: String,
        buyer_account_id: String,
        edition: String,
        seats: u32,
        trial: bool,
        months: Option<u32>,
        price_list: PriceList,
    },
    ConvertTrial {
        months: u32,
        price_list: PriceList,
    },
    ExpandSeats {
        additional: u32,
        price_list: PriceList,
    },
    Renew {
        months: u32,
        price_list: PriceList,
    },
    /// From the expiry timer: ends a trial or a paid term that is due.
    Expire,
    /// From the data-deletion timer.
    PurgeData,
}

/// The subscription decider.
pub struct Subscription;

impl Decider for Subscription {
    type State = SubscriptionState;
    type Command = SubscriptionCommand;
    type Event = SubscriptionEvent;

    // Every seat is an event of this stream: tens of thousands for a large organization.
    const SNAPSHOT_VERSION: Option<u32> = Some(1);

    fn snapshot(state: &SubscriptionState) -> Option<serde_json::Value> {
        serde_json::to_value(state).ok()
    }

    fn restore(snapshot: serde_json::Value) -> Option<SubscriptionState> {
        serde_json::from_value(snapshot).ok()
    }

    fn decide(
        s: &SubscriptionState,
        command: SubscriptionCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionEvent>, DomainError> {
        use SubscriptionCommand::*;
        use SubscriptionEvent as E;
        match command {
            Provision {
                order_id,
                buyer_account_id,
                edition,
                seats,
                trial,
                months: term,
                price_list,
            } => {
                let order_id = order_id.trim().to_owned();
                if order_id.is_empty() || order_id.len() > 64 {
                    return Err(DomainError::invalid(
                        "orderId",
                        "must be 1 to 64 characters",
                    ));
                }
                let buyer = buyer_account_id.trim().to_owned();
                if buyer.is_empty() || buyer.len() > 256 {
                    return Err(DomainError::invalid(
                        "buyerAccountId",
                        "must be 1 to 256 characters",
                    ));
                }
                if !price_list.has_edition(&edition) {
                    return Err(DomainError::invalid(
                        "edition",
                        format!("{edition:?} is not in the price list"),
                    ));
                }
                if seats == 0 || seats > MAX_SEATS {
                    return Err(DomainError::invalid("seats", "must be 1 to 100000"));
                }
                if s.exists() {
                    // The same order again: the first answer stands, if the terms match.
                    let same = s.order_id == order_id
                        && s.buyer_account_id == buyer
                        && s.edition == edition
                        && (s.trial_ends_at.is_some() == trial);
                    return if same {
                        Ok(vec![])
                    } else {
                        Err(DomainError::OrderMismatch)
                    };
                }
                let subscription_id = subscription_id_for_order(&order_id);
                if trial {
                    if term.is_some() {
                        return Err(DomainError::invalid("months", "a trial has no months"));
                    }
                    return Ok(vec![E::TrialStarted {
                        subscription_id,
                        order_id,
                        buyer_account_id: buyer,
                        edition,
                        seats,
                        started_at: now,
                        trial_ends_at: now + Duration::days(TRIAL_DAYS),
                    }]);
                }
                let term = months(term.ok_or_else(|| {
                    DomainError::invalid("months", "a paid subscription needs months")
                })?)?;
                let amount = priced(price_list.purchase_amount(&edition, seats, term), &edition)?;
                Ok(vec![E::SubscriptionPurchased {
                    subscription_id,
                    order_id,
                    buyer_account_id: buyer,
                    edition,
                    seats,
                    months: term,
                    amount,
                    currency: price_list.currency.clone(),
                    activated_at: now,
                    expires_at: add_months(now, term)?,
                }])
            }
            ConvertTrial {
                months: term,
                price_list,
            } => {
                require(s)?;
                if s.status != SubscriptionStatus::Trial {
                    return Err(DomainError::NotTrial);
                }
                if s.trial_ends_at.is_some_and(|end| now >= end) {
                    return Err(DomainError::TrialExpired);
                }
                let term = months(term)?;
                let amount = priced(
                    price_list.purchase_amount(&s.edition, s.seats, term),
                    &s.edition,
                )?;
                Ok(vec![E::TrialConverted {
                    months: term,
                    amount,
                    currency: price_list.currency.clone(),
                    activated_at: now,
                    expires_at: add_months(now, term)?,
                }])
            }
            ExpandSeats {
                additional,
                price_list,
            } => {
                require(s)?;
                if s.status == SubscriptionStatus::Trial {
                    return Err(DomainError::TrialNotAllowed);
                }
                let expires_at = match (s.status, s.expires_at) {
                    (SubscriptionStatus::Active, Some(e)) if e > now => e,
                    _ => return Err(DomainError::SubscriptionInactive),
                };
                if additional == 0 || additional > MAX_SEATS {
                    return Err(DomainError::invalid(
                        "additionalSeats",
                        "must be 1 to 100000",
                    ));
                }
                let new_total = s.seats.saturating_add(additional);
                if new_total > MAX_SEATS {
                    return Err(DomainError::invalid(
                        "additionalSeats",
                        "the total would exceed 100000 seats",
                    ));
                }
                // A started day counts as a whole one.
                let seconds = (expires_at - now).num_seconds();
                let remaining_days = u32::try_from((seconds + 86_399) / 86_400).unwrap_or(u32::MAX);
                let amount = priced(
                    price_list.expansion_amount(&s.edition, new_total, additional, remaining_days),
                    &s.edition,
                )?;
                Ok(vec![E::SeatsExpanded {
                    added: additional,
                    new_total,
                    remaining_days,
                    amount,
                    currency: price_list.currency.clone(),
                }])
            }
            Renew {
                months: term,
                price_list,
            } => {
                require(s)?;
                match s.status {
                    SubscriptionStatus::Trial => return Err(DomainError::TrialNotAllowed),
                    SubscriptionStatus::Unsubscribed => {
                        return Err(DomainError::SubscriptionInactive)
                    }
                    _ if s.data_purged => return Err(DomainError::SubscriptionInactive),
                    _ => {}
                }
                let term = months(term)?;
                let amount = priced(
                    price_list.purchase_amount(&s.edition, s.seats, term),
                    &s.edition,
                )?;
                // Renewal continues the term; after a lapse it starts from now.
                let from = s.expires_at.filter(|e| *e > now).unwrap_or(now);
                Ok(vec![E::SubscriptionRenewed {
                    months: term,
                    amount,
                    currency: price_list.currency.clone(),
                    starts_at: Some(from),
                    expires_at: add_months(from, term)?,
                }])
            }
            Expire => {
                require(s)?;
                match s.status {
                    SubscriptionStatus::Trial if s.trial_ends_at.is_some_and(|e| now >= e) => {
                        Ok(vec![E::TrialExpired {
                            data_delete_due: now,
                        }])
                    }
                    SubscriptionStatus::Active if s.expires_at.is_some_and(|e| now >= e) => {
                        Ok(vec![E::SubscriptionExpired {
                            data_delete_due: now + Duration::days(DATA_RETENTION_DAYS),
                        }])
                    }
                    // A stale timer (renewed, converted, already ended): nothing to do.
                    _ => Ok(vec![]),
                }
            }
            PurgeData => {
                require(s)?;
                let due = s.status == SubscriptionStatus::Expired
                    && !s.data_purged
                    && s.data_delete_due.is_some_and(|d| now >= d);
                Ok(if due {
                    vec![E::SubscriptionDataPurged {}]
                } else {
                    vec![]
                })
            }
        }
    }

    fn evolve(mut s: SubscriptionState, event: &SubscriptionEvent) -> SubscriptionState {
        use SubscriptionEvent as E;
        match event {
            E::TrialStarted {
                subscription_id,
                order_id,
                buyer_account_id,
                edition,
                seats,
                trial_ends_at,
                ..
            } => {
                s.id = Some(*subscription_id);
                s.order_id = order_id.clone();
                s.buyer_account_id = buyer_account_id.clone();
                s.edition = edition.clone();
                s.seats = *seats;
                s.status = SubscriptionStatus::Trial;
                s.trial_ends_at = Some(*trial_ends_at);
            }
            E::SubscriptionPurchased {
                subscription_id,
                order_id,
                buyer_account_id,
                edition,
                seats,
                amount,
                currency,
                activated_at,
                expires_at,
                ..
            } => {
                s.id = Some(*subscription_id);
                s.order_id = order_id.clone();
                s.buyer_account_id = buyer_account_id.clone();
                s.edition = edition.clone();
                s.seats = *seats;
                s.status = SubscriptionStatus::Active;
                s.activated_at = Some(*activated_at);
                s.expires_at = Some(*expires_at);
                s.paid = s.paid.saturating_add(*amount);
                s.currency = currency.clone();
            }
            E::TrialConverted {
                amount,
                currency,
                activated_at,
                expires_at,
                ..
            } => {
                s.status = SubscriptionStatus::Active;
                s.activated_at = Some(*activated_at);
                s.expires_at = Some(*expires_at);
                s.paid = s.paid.saturating_add(*amount);
                s.currency = currency.clone();
            }
            E::SeatsExpanded {
                new_total, amount, ..
            } => {
                s.seats = *new_total;
                s.paid = s.paid.saturating_add(*amount);
            }
            E::SubscriptionRenewed {
                amount, expires_at, ..
            } => {
                s.status = SubscriptionStatus::Active;
                s.expires_at = Some(*expires_at);
                s.data_delete_due = None;
                s.paid = s.paid.saturating_add(*amount);
            }
            E::Unsubscribed { .. } => s.status = SubscriptionStatus::Unsubscribed,
            E::TrialExpired { data_delete_due } | E::SubscriptionExpired { data_delete_due } => {
                s.status = SubscriptionStatus::Expired;
                s.data_delete_due = Some(*data_delete_due);
            }
            E::SubscriptionDataPurged {} => s.data_purged = true,
            E::AppBound { organization_id } => s.organization_id = Some(*organization_id),
            E::AppUnbound { .. } => s.organization_id = None,
            E::SeatAssigned { .. } => s.seats_taken = s.seats_taken.saturating_add(1),
            E::SeatReleased { .. } => s.seats_taken = s.seats_taken.saturating_sub(1),
        }
        s
    }
}

fn require(s: &SubscriptionState) -> Result<(), DomainError> {
    if s.exists() {
        Ok(())
    } else {
        Err(DomainError::NotFound("subscription"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{day, given, t0};
    use SubscriptionCommand as C;
    use SubscriptionEvent as E;

    fn prices() -> PriceList {
        PriceList::default()
    }

    fn provision(trial: bool, seats: u32, months: Option<u32>) -> SubscriptionCommand {
        C::Provision {
            order_id: "CS2308131523H3TVZ".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats,
            trial,
            months,
            price_list: prices(),
        }
    }

    fn sid() -> Uuid {
        subscription_id_for_order("CS2308131523H3TVZ")
    }

    fn trial_started() -> E {
        E::TrialStarted {
            subscription_id: sid(),
            order_id: "CS2308131523H3TVZ".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats: 10,
            started_at: t0(),
            trial_ends_at: day(15),
        }
    }

    fn purchased(seats: u32, months: u32) -> E {
        E::SubscriptionPurchased {
            subscription_id: sid(),
            order_id: "CS2308131523H3TVZ".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats,
            months,
            amount: prices().purchase_amount("standard", seats, months).unwrap(),
            currency: "CNY".into(),
            activated_at: t0(),
            expires_at: add_months(t0(), months).unwrap(),
        }
    }

    #[test]
    fn the_subscription_id_is_derived_from_the_order() {
        assert_eq!(
            subscription_id_for_order("A-1"),
            subscription_id_for_order("A-1")
        );
        assert_ne!(
            subscription_id_for_order("A-1"),
            subscription_id_for_order("A-2")
        );
    }

    #[test]
    fn a_trial_lasts_15_days() {
        given::<Subscription>(&[])
            .when(provision(true, 10, None))
            .then(&[trial_started()]);
    }

    #[test]
    fn a_paid_subscription_expires_after_its_months() {
        given::<Subscription>(&[])
            .when(provision(false, 10, Some(12)))
            .then(&[purchased(10, 12)]);
    }

    #[test]
    fn a_repeated_order_is_the_same_subscription_and_writes_nothing() {
        given::<Subscription>(&[trial_started()])
            .when(provision(true, 10, None))
            .then(&[]);
        given::<Subscription>(&[trial_started()])
            .when(provision(false, 10, Some(12)))
            .then_err(DomainError::OrderMismatch);
    }

    #[test]
    fn provisioning_refuses_bad_input() {
        let cases = [
            (provision(true, 0, None), "seats"),
            (provision(true, 100_001, None), "seats"),
            (provision(false, 10, None), "months"),
            (provision(false, 10, Some(0)), "months"),
            (provision(false, 10, Some(121)), "months"),
            (provision(true, 10, Some(1)), "months"),
            (
                C::Provision {
                    order_id: " ".into(),
                    buyer_account_id: "b".into(),
                    edition: "standard".into(),
                    seats: 1,
                    trial: true,
                    months: None,
                    price_list: prices(),
                },
                "orderId",
            ),
            (
                C::Provision {
                    order_id: "o".into(),
                    buyer_account_id: "".into(),
                    edition: "standard".into(),
                    seats: 1,
                    trial: true,
                    months: None,
                    price_list: prices(),
                },
                "buyerAccountId",
            ),
            (
                C::Provision {
                    order_id: "o".into(),
                    buyer_account_id: "b".into(),
                    edition: "platinum".into(),
                    seats: 1,
                    trial: true,
                    months: None,
                    price_list: prices(),
                },
                "edition",
            ),
        ];
        for (command, field) in cases {
            let err =
                Subscription::decide(&SubscriptionState::default(), command, t0()).unwrap_err();
            assert_eq!(err.field(), Some(field), "{err:?}");
        }
    }

    #[test]
    fn a_trial_converts_before_it_ends_and_keeps_its_seats() {
        given::<Subscription>(&[trial_started()])
            .at(day(14))
            .when(C::ConvertTrial {
                months: 12,
                price_list: prices(),
            })
            .then(&[E::TrialConverted {
                months: 12,
                amount: 96_000,
                currency: "CNY".into(),
                activated_at: day(14),
                expires_at: add_months(day(14), 12).unwrap(),
            }]);
        let s = Subscription::fold(&[trial_started()]);
        let converted = Subscription::decide(
            &s,
            C::ConvertTrial {
                months: 1,
                price_list: prices(),
            },
            day(1),
        )
        .unwrap();
        let s = Subscription::evolve(s, &converted[0]);
        assert_eq!(s.seats, 10);
        assert_eq!(s.status, SubscriptionStatus::Active);
    }

    #[test]
    fn a_trial_cannot_convert_after_it_ended() {
        given::<Subscription>(&[trial_started()])
            .at(day(15))
            .when(C::ConvertTrial {
                months: 12,
                price_list: prices(),
            })
            .then_err(DomainError::TrialExpired);
    }

    #[test]
    fn only_a_trial_converts() {
        given::<Subscription>(&[purchased(10, 12)])
            .when(C::ConvertTrial {
                months: 12,
                price_list: prices(),
            })
            .then_err(DomainError::NotTrial);
    }

    #[test]
    fn seats_expand_at_the_tier_of_the_new_total_for_the_remaining_days() {
        // 45 seats bought for 12 months on t0; on day 265 there are 100 days left.
        let bought = purchased(45, 12);
        let end = add_months(t0(), 12).unwrap();
        let now = end - Duration::days(100);
        given::<Subscription>(&[bought])
            .at(now)
            .when(C::ExpandSeats {
                additional: 10,
                price_list: prices(),
            })
            .then(&[E::SeatsExpanded {
                added: 10,
                new_total: 55,
                remaining_days: 100,
                amount: 23_671,
                currency: "CNY".into(),
            }]);
    }

    #[test]
    fn a_trial_cannot_expand_seats() {
        given::<Subscription>(&[trial_started()])
            .when(C::ExpandSeats {
                additional: 1,
                price_list: prices(),
            })
            .then_err(DomainError::TrialNotAllowed);
    }

    #[test]
    fn an_inactive_subscription_cannot_expand_seats() {
        given::<Subscription>(&[purchased(10, 1)])
            .at(day(40))
            .when(C::ExpandSeats {
                additional: 1,
                price_list: prices(),
            })
            .then_err(DomainError::SubscriptionInactive);
        given::<Subscription>(&[
            purchased(10, 1),
            E::Unsubscribed {
                reason: None,
                refund: 8_000,
                currency: "CNY".into(),
            },
        ])
        .when(C::ExpandSeats {
            additional: 1,
            price_list: prices(),
        })
        .then_err(DomainError::SubscriptionInactive);
        given::<Subscription>(&[purchased(10, 1)])
            .when(C::ExpandSeats {
                additional: 0,
                price_list: prices(),
            })
            .then_invalid();
    }

    #[test]
    fn an_unknown_subscription_is_not_found() {
        given::<Subscription>(&[])
            .when(C::ConvertTrial {
                months: 1,
                price_list: prices(),
            })
            .then_err(DomainError::NotFound("subscription"));
    }

    #[test]
    fn an_unconverted_trial_expires_and_its_data_is_due_for_deletion_at_once() {
        given::<Subscription>(&[trial_started()])
            .at(day(15))
            .when(C::Expire)
            .then(&[E::TrialExpired {
                data_delete_due: day(15),
            }]);
        // Not yet due: a stale timer does nothing.
        given::<Subscription>(&[trial_started()])
            .at(day(14))
            .when(C::Expire)
            .then(&[]);
    }

    #[test]
    fn a_paid_subscription_expires_and_its_data_is_deleted_30_days_later() {
        let end = add_months(t0(), 1).unwrap();
        given::<Subscription>(&[purchased(10, 1)])
            .at(end)
            .when(C::Expire)
            .then(&[E::SubscriptionExpired {
                data_delete_due: end + Duration::days(30),
            }]);
        let expired = E::SubscriptionExpired {
            data_delete_due: end + Duration::days(30),
        };
        given::<Subscription>(&[purchased(10, 1), expired.clone()])
            .at(end + Duration::days(29))
            .when(C::PurgeData)
            .then(&[]);
        given::<Subscription>(&[purchased(10, 1), expired])
            .at(end + Duration::days(30))
            .when(C::PurgeData)
            .then(&[E::SubscriptionDataPurged {}]);
    }

    #[test]
    fn renewing_adds_months_and_cancels_the_deletion() {
        let end = add_months(t0(), 1).unwrap();
        given::<Subscription>(&[purchased(10, 1)])
            .at(day(10))
            .when(C::Renew {
                months: 2,
                price_list: prices(),
            })
            .then(&[E::SubscriptionRenewed {
                months: 2,
                amount: 16_000,
                currency: "CNY".into(),
                starts_at: Some(end),
                expires_at: add_months(end, 2).unwrap(),
            }]);
        let expired = E::SubscriptionExpired {
            data_delete_due: end + Duration::days(30),
        };
        let renewed = Subscription::decide(
            &Subscription::fold(&[purchased(10, 1), expired.clone()]),
            C::Renew {
                months: 1,
                price_list: prices(),
            },
            end + Duration::days(3),
        )
        .unwrap();
        let s = Subscription::fold(&[purchased(10, 1), expired, renewed[0].clone()]);
        assert_eq!(s.status, SubscriptionStatus::Active);
        assert_eq!(s.data_delete_due, None);
        given::<Subscription>(&[trial_started()])
            .when(C::Renew {
                months: 1,
                price_list: prices(),
            })
            .then_err(DomainError::TrialNotAllowed);
    }

    #[test]
    fn seats_never_exceed_the_purchase() {
        let s = Subscription::fold(&[purchased(2, 12)]);
        let id = s.id;
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let events = assign_seats(&s, &[a, b, a], day(1)).unwrap();
        assert_eq!(events.len(), 2, "a member named twice takes one seat");
        let s = events.iter().fold(s, Subscription::evolve);
        assert_eq!(
            assign_seats(&s, &[c], day(1)),
            Err(DomainError::SeatsExhausted {
                available: 0,
                requested: 1
            })
        );
        let s = release_seat(&s, a, id).iter().fold(s, Subscription::evolve);
        assert_eq!(s.available_seats(), 1);
        assert_eq!(assign_seats(&s, &[c], day(1)).unwrap().len(), 1);
        // A member holding no seat, or one of another subscription, gives none back.
        assert_eq!(release_seat(&s, Uuid::from_u128(9), None), vec![]);
        assert_eq!(release_seat(&s, b, Some(Uuid::from_u128(77))), vec![],);
    }

    #[test]
    fn a_snapshot_gives_the_state_of_a_full_fold() {
        let mut events = vec![purchased(50_000, 12)];
        for n in 0..300u128 {
            events.push(E::SeatAssigned {
                member_id: Uuid::from_u128(n),
            });
            if n % 7 == 0 {
                events.push(E::SeatReleased {
                    member_id: Uuid::from_u128(n),
                });
            }
        }
        let full = Subscription::fold(&events);
        for cut in [0, 1, 100, events.len()] {
            let head = Subscription::fold(&events[..cut]);
            let snapshot = Subscription::snapshot(&head).unwrap();
            let restored = Subscription::restore(snapshot).unwrap();
            assert_eq!(restored, head);
            let resumed = events[cut..].iter().fold(restored, Subscription::evolve);
            assert_eq!(resumed, full, "cut at {cut}");
        }
        assert_eq!(full.seats_taken, 300 - 43);
        assert_eq!(
            Subscription::restore(serde_json::json!({"seats": "x"})),
            None
        );
    }

    #[test]
    fn an_ended_subscription_gives_no_seats() {
        let s = Subscription::fold(&[trial_started()]);
        assert_eq!(
            assign_seats(&s, &[Uuid::from_u128(1)], day(15)),
            Err(DomainError::SubscriptionInactive)
        );
    }

    #[test]
    fn unsubscribing_within_5_days_refunds_everything_paid() {
        let s = Subscription::fold(&[purchased(10, 12)]);
        let (sub_events, buyer_events) = unsubscribe(
            &s,
            &BuyerState::default(),
            Some("too expensive".into()),
            day(5),
        )
        .unwrap();
        assert_eq!(
            sub_events,
            vec![E::Unsubscribed {
                reason: Some("too expensive".into()),
                refund: 96_000,
                currency: "CNY".into()
            }]
        );
        assert_eq!(
            buyer_events,
            vec![BuyerEvent::RefundGranted {
                subscription_id: sid(),
                amount: 96_000,
                currency: "CNY".into(),
                granted_at: day(5)
            }]
        );
    }

    #[test]
    fn unsubscribing_after_5_days_is_refused() {
        let s = Subscription::fold(&[purchased(10, 12)]);
        assert_eq!(
            unsubscribe(
                &s,
                &BuyerState::default(),
                None,
                day(5) + Duration::seconds(1)
            ),
            Err(DomainError::RefundWindowClosed)
        );
    }

    #[test]
    fn a_trial_cannot_be_unsubscribed() {
        let s = Subscription::fold(&[trial_started()]);
        assert_eq!(
            unsubscribe(&s, &BuyerState::default(), None, day(1)),
            Err(DomainError::TrialNotAllowed)
        );
    }

    #[test]
    fn at_most_10_refunds_per_buyer_in_365_days() {
        let s = Subscription::fold(&[purchased(10, 12)]);
        let refund = |at| BuyerEvent::RefundGranted {
            subscription_id: Uuid::nil(),
            amount: 1,
            currency: "CNY".into(),
            granted_at: at,
        };
        let ten_this_year: Vec<BuyerEvent> = (0..10)
            .map(|i| refund(t0() - Duration::days(300 - i)))
            .collect();
        let buyer = ten_this_year
            .iter()
            .fold(BuyerState::default(), BuyerState::evolve);
        assert_eq!(
            unsubscribe(&s, &buyer, None, day(1)),
            Err(DomainError::RefundLimitReached)
        );
        // Refunds older than 365 days do not count.
        let old: Vec<BuyerEvent> = (0..10)
            .map(|i| refund(t0() - Duration::days(400 + i)))
            .collect();
        let buyer = old.iter().fold(BuyerState::default(), BuyerState::evolve);
        assert!(unsubscribe(&s, &buyer, None, day(1)).is_ok());
    }

    #[test]
    fn events_have_stable_type_names() {
        let v = serde_json::to_value(E::SeatAssigned {
            member_id: Uuid::nil(),
        })
        .unwrap();
        assert_eq!(v["type"], "SeatAssigned");
        let back: E = serde_json::from_value(v).unwrap();
        assert_eq!(
            back,
            E::SeatAssigned {
                member_id: Uuid::nil()
            }
        );
    }
}
