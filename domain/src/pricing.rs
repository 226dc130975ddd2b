//! The price list: per-seat yearly prices in tiers, a discount, a currency. Passed into the
//! deciders as a value so that marketing can change it without touching rules.
//! Amounts are integer minor units (fen for CNY).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One price band: seat totals from `min_seats` on (up to the next tier's minimum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub min_seats: u32,
    /// Price of one seat for one year, in minor units.
    pub unit_price_per_year: i64,
}

/// Editions with their tiers, a discount and the currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceList {
    pub currency: String,
    /// Discount as basis points of the list price: 10000 = no discount, 8000 = 20 % off.
    pub discount_bp: u32,
    pub editions: BTreeMap<String, Vec<Tier>>,
}

impl Default for PriceList {
    /// `standard` and `professional`, CNY, 20 % off (the marketplace's usual promotion):
    /// the more seats in total, the cheaper each one.
    fn default() -> Self {
        let tiers = |prices: [i64; 4]| {
            [1, 50, 200, 1000]
                .into_iter()
                .zip(prices)
                .map(|(min_seats, unit_price_per_year)| Tier {
                    min_seats,
                    unit_price_per_year,
                })
                .collect::<Vec<_>>()
        };
        let mut editions = BTreeMap::new();
        editions.insert("standard".to_owned(), tiers([12_000, 10_800, 9_600, 8_400]));
        editions.insert(
            "professional".to_owned(),
            tiers([24_000, 21_600, 19_200, 16_800]),
        );
        PriceList {
            currency: "CNY".to_owned(),
            discount_bp: 8_000,
            editions,
        }
    }
}

/// The currency of amounts recorded before events named theirs.
pub fn default_currency() -> String {
    "CNY".to_owned()
}

impl PriceList {
    /// Whether the edition is sold.
    pub fn has_edition(&self, edition: &str) -> bool {
        self.editions.contains_key(edition)
    }

    /// The yearly unit price of the tier that `total_seats` falls in.
    pub fn unit_price(&self, edition: &str, total_seats: u32) -> Option<i64> {
        self.editions
            .get(edition)?
            .iter()
            .filter(|t| t.min_seats <= total_seats)
            .max_by_key(|t| t.min_seats)
            .map(|t| t.unit_price_per_year)
    }

    /// Price of `seats` seats for `months` months at the tier of `seats`, discounted.
    pub fn purchase_amount(&self, edition: &str, seats: u32, months: u32) -> Option<i64> {
        let unit = self.unit_price(edition, seats)?;
        Some(self.discounted(
            i128::from(unit) * i128::from(seats) * i128::from(months),
            12,
        ))
    }

    /// Seat expansion (KooMail FAQ 5.3): unit price of the tier the **new total** falls in ×
    /// added seats × remaining days / 365 × discount, rounded half up.
    pub fn expansion_amount(
        &self,
        edition: &str,
        new_total: u32,
        added: u32,
        remaining_days: u32,
    ) -> Option<i64> {
        let unit = self.unit_price(edition, new_total)?;
        Some(self.discounted(
            i128::from(unit) * i128::from(added) * i128::from(remaining_days),
            365,
        ))
    }

    /// `numerator / denominator × discount`, rounded half up, in integer arithmetic.
    fn discounted(&self, numerator: i128, denominator: i128) -> i64 {
        let num = numerator * i128::from(self.discount_bp);
        let den = denominator * 10_000;
        i64::try_from((num * 2 + den) / (den * 2)).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_of_the_total_sets_the_unit_price() {
        let p = PriceList::default();
        assert_eq!(p.unit_price("standard", 1), Some(12_000));
        assert_eq!(p.unit_price("standard", 49), Some(12_000));
        assert_eq!(p.unit_price("standard", 50), Some(10_800));
        assert_eq!(p.unit_price("professional", 5_000), Some(16_800));
        assert_eq!(p.unit_price("platinum", 5), None);
        assert_eq!(p.unit_price("standard", 0), None);
    }

    #[test]
    fn expansion_uses_the_new_totals_tier_and_rounds_half_up() {
        let p = PriceList::default();
        // 45 + 10 = 55 seats: tier 50+ at 108.00; 10 × 10800 × 100 / 365 × 0.8 = 23671.23…
        assert_eq!(p.expansion_amount("standard", 55, 10, 100), Some(23_671));
        // 1 × 12000 × 73 / 365 × 0.8 = 1920 exactly.
        assert_eq!(p.expansion_amount("standard", 2, 1, 73), Some(1_920));
        // Half a fen rounds up: 1 × 12000 × 1 / 365 × 0.8 = 26.30… and
        // a price list built to hit .5 exactly: 1 seat at 365 fen, 1 day, 50 % → 0.5 → 1.
        let half = PriceList {
            currency: "CNY".into(),
            discount_bp: 5_000,
            editions: [(
                "x".to_owned(),
                vec![Tier {
                    min_seats: 1,
                    unit_price_per_year: 365,
                }],
            )]
            .into_iter()
            .collect(),
        };
        assert_eq!(half.expansion_amount("x", 1, 1, 1), Some(1));
        assert_eq!(p.expansion_amount("standard", 2, 1, 1), Some(26));
    }

    #[test]
    fn purchases_are_priced_per_month() {
        let p = PriceList::default();
        // 10 seats × 120.00 × 12/12 × 0.8
        assert_eq!(p.purchase_amount("standard", 10, 12), Some(96_000));
        assert_eq!(p.purchase_amount("standard", 10, 1), Some(8_000));
    }
}
