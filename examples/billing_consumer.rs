//! How the billing system follows mailplane's events.
//!
//! 1. The HTTP feed, resumed from a stored cursor: never misses or repeats an event.
//!    `cargo run --example billing_consumer -- feed http://127.0.0.1:8080 "$BILLING_TOKEN"`
//!    (a token from `mailplane token --sub billing --kind service --scope billing`).
//! 2. A webhook delivery, verified as Standard Webhooks says (any of that specification's
//!    libraries does the same): `verify_webhook(secret, headers, body)`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where the consumer keeps its place.
const CURSOR_FILE: &str = "billing-cursor.txt";

fn follow_feed(base: &str, token: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut cursor = std::fs::read_to_string(CURSOR_FILE).unwrap_or_default();
    loop {
        // Long-poll: the answer comes as soon as there is an event, or after 30 s.
        let page: serde_json::Value = ureq::get(&format!(
            "{base}/events?after={cursor}&category=subscription,buyer&limit=100&wait=30s"
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .call()?
        .into_json()?;
        for event in page["events"].as_array().into_iter().flatten() {
            // Charge from the event; the event id makes a charge idempotent on our side.
            println!("{} {} {}", event["id"], event["type"], event["data"]);
        }
        // Only after the page is handled: a crash in between repeats the page, never skips.
        cursor = page["next"].as_str().unwrap_or_default().to_owned();
        std::fs::write(CURSOR_FILE, &cursor)?;
    }
}

/// A webhook delivery is genuine when one `v1,` signature in `webhook-signature` is the
/// HMAC-SHA256, keyed with the secret, of `"{webhook-id}.{webhook-timestamp}.{body}"`, and
/// the timestamp is recent (replays of old deliveries are refused).
pub fn verify_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let Ok(sent) = timestamp.parse::<i64>() else {
        return false;
    };
    let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    (now - sent).abs() <= 300
        && signature
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|given| {
                let Ok(given) = STANDARD.decode(given) else {
                    return false;
                };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
                    return false;
                };
                mac.update(format!("{id}.{timestamp}.").as_bytes());
                mac.update(body);
                mac.verify_slice(&given).is_ok()
            })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("feed") if args.len() == 4 => follow_feed(&args[2], &args[3]),
        _ => {
            eprintln!("usage: billing_consumer feed <base-url> <billing-token>");
            Ok(())
        }
    }
}
