//! Terms of a subscription: its id for an order, its length in months, its price.

use chrono::{DateTime, Months, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::MAX_MONTHS;
use crate::error::DomainError;

/// The subscription id for a marketplace order: the same order always maps to the same
/// subscription, so a repeated provisioning call finds the first one.
pub fn subscription_id_for_order(order_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("mailplane/order/{order_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

pub(super) fn add_months(at: DateTime<Utc>, months: u32) -> Result<DateTime<Utc>, DomainError> {
    at.checked_add_months(Months::new(months))
        .ok_or_else(|| DomainError::invalid("months", "is too far in the future"))
}

pub(super) fn months(value: u32) -> Result<u32, DomainError> {
    if value == 0 || value > MAX_MONTHS {
        return Err(DomainError::invalid("months", "must be 1 to 120"));
    }
    Ok(value)
}

pub(super) fn priced(amount: Option<i64>, edition: &str) -> Result<i64, DomainError> {
    amount.ok_or_else(|| {
        DomainError::invalid("edition", format!("{edition:?} is not in the price list"))
    })
}
