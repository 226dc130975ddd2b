//! Exponential backoff with full jitter, for every retry loop (commands, workers, webhooks).

use std::time::Duration;

/// A wait before attempt `attempt + 1`: random up to `base` × 2^attempt, at most `cap`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.min(20))
        .min(cap)
        .as_micros()
        .max(1);
    // A v4 UUID's random bits are jitter enough; no generator to carry around.
    let micros = uuid::Uuid::new_v4().as_u128() % ceiling;
    Duration::from_micros(micros as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stop_at_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(30);
        for attempt in 0..40 {
            let wait = backoff(attempt, base, cap);
            assert!(wait <= cap);
            assert!(wait <= base * 2u32.pow(attempt.min(20)));
        }
    }
}
