//! Webhook deliveries: each endpoint follows the published events (of its categories) with
//! its own checkpoint, one event at a time and in order. A failed delivery is retried with
//! exponential backoff and the events behind it wait; after `flag_after` failed attempts the
//! endpoint is flagged FAILING (and unflagged by the next success); after `give_up_after`
//! (3 days) the event is given up, logged, and the endpoint moves on. Every attempt is in
//! the endpoint's delivery log. One process delivers to an endpoint at a time (an advisory
//! lock per endpoint); the others stand by.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::feed::{self, Audience, FeedEvent};
use app::secrets::SecretStore;
use app::webhook::{self, DeliveryOutcome, Endpoint, EndpointStatus, WebhookError};
use chrono::Utc;
use eventstore::{EventStore, Position};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::consumer::{stopped_within, try_lease};
use app::retry::backoff;

mod resolver;

/// Timings of deliveries.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// First wait after a failure; it doubles up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// An event failing this long is given up.
    pub give_up_after: chrono::Duration,
    /// Failed attempts in a row before the endpoint is flagged FAILING.
    pub flag_after: u32,
    /// Longest wait for an endpoint's answer.
    pub timeout: Duration,
    /// How often endpoints and idle feeds are looked at again.
    pub poll: Duration,
    /// Which addresses deliveries may connect to.
    pub targets: webhook::Targets,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(3600),
            give_up_after: chrono::Duration::days(3),
            flag_after: 5,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(2),
            targets: webhook::Targets::PublicOnly,
        }
    }
}

/// Delivers to every endpoint that is not paused.
pub struct WebhookWorker {
    store: EventStore,
    secrets: SecretStore,
    client: reqwest::Client,
    settings: WebhookSettings,
}

enum Outcome {
    /// Delivered, or given up: the endpoint moves past the event.
    Done,
    /// Paused, deleted, or the process stops: leave the event for later.
    Interrupted,
}

impl WebhookWorker {
    /// A worker with these timings.
    pub fn new(store: EventStore, secrets: SecretStore, settings: WebhookSettings) -> Self {
        // No redirects: a 3xx would lead the request past the target checks (and is no
        // 2xx, so it counts as a failed delivery).
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver::GuardedResolver {
                targets: settings.targets,
            }))
            .build()
            .unwrap_or_default();
        WebhookWorker {
            store,
            secrets,
            client,
            settings,
        }
    }

    /// Runs until `stop`: starts a delivery task for each endpoint that is not paused.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        let mut running: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        loop {
            running.retain(|_, task| !task.is_finished());
            match webhook::list(worker.store.pool()).await {
                Ok(endpoints) => {
                    for e in endpoints
                        .into_iter()
                        .filter(|e| e.status != EndpointStatus::Paused)
                    {
                        running.entry(e.id).or_insert_with(|| {
                            tokio::spawn(worker.clone().serve(e.id, stop.clone()))
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list webhooks"),
            }
            if stopped_within(&mut stop, worker.settings.poll).await {
                break;
            }
        }
        for (_, task) in running {
            let _ = task.await;
        }
    }

    /// Delivers to one endpoint until it is paused or deleted, or `stop`.
    async fn serve(self: Arc<Self>, id: Uuid, mut stop: watch::Receiver<bool>) {
        let consumer = Endpoint::consumer(id);
        let _lease = match try_lease(&self.store, &consumer).await {
            Ok(Some(lease)) => lease,
            // Another process delivers to it (or the database is away): look again later.
            _ => return,
        };
        loop {
            let endpoint = match webhook::get(self.store.pool(), id).await {
                Ok(e) if e.status != EndpointStatus::Paused => e,
                Ok(_) | Err(WebhookError::NotFound) => return,
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "cannot read the webhook");
                    if stopped_within(&mut stop, self.settings.poll).await {
                        return;
                    }
                    continue;
                }
            };
            match self.deliver_page(&endpoint, &consumer, &mut stop).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "webhook deliveries paused by an error");
                    if stopped_within(&mut stop, self.settings.poll).await {
                        return;
                    }
                }
            }
        }
    }

    /// Delivers the next page of events; false when it should stop.
    async fn deliver_page(
        &self,
        endpoint: &Endpoint,
        consumer: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, eventstore::Error> {
        let after = self
            .store
            .checkpoint(consumer)
            .await?
            .unwrap_or(Position::START);
        let filter = feed::filter(endpoint.categories.clone())
            .unwrap_or(eventstore::SubscriptionFilter::All);
        let page = feed::page(&self.store, Audience::Billing, &filter, after, 50).await?;
        if page.events.is_empty() {
            if page.next != after {
                self.store.save_checkpoint(consumer, page.next).await?;
                return Ok(true);
            }
            // Nothing new: wait for the next event (or look at the endpoint again).
            let mut subscription = self.store.subscribe(filter, after);
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return Ok(false),
                _ = tokio::time::timeout(self.settings.poll, subscription.next()) => {}
            }
            return Ok(true);
        }
        for event in &page.events {
            match self.deliver(endpoint, event, stop).await {
                Outcome::Done => {
                    // The feed wrote this position; it always reads back.
                    if let Ok(position) = event.position.parse::<Position>() {
                        self.store.save_checkpoint(consumer, position).await?;
                    }
                }
                Outcome::Interrupted => return Ok(!*stop.borrow()),
            }
        }
        if !page.more {
            self.store.save_checkpoint(consumer, page.next).await?;
        }
        Ok(true)
    }

    /// Delivers one event, retrying until a 2xx or until it is given up.
    async fn deliver(
        &self,
        endpoint: &Endpoint,
        event: &FeedEvent,
        stop: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let pool = self.store.pool();
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(_) => return Outcome::Done,
        };
        let webhook_id = event.id.to_string();
        let first_failure = Utc::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let keys = match webhook::signing_keys(pool, &self.secrets, endpoint.id).await {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(webhook = %endpoint.id, error = %e, "no signing keys");
                    vec![]
                }
            };
            let timestamp = Utc::now().timestamp();
            let signature = webhook::sign(&keys, &webhook_id, timestamp, &body);
            let started = Instant::now();
            // Literal addresses never reach the resolver; checked here, at every attempt,
            // since the setting may have changed since registration.
            if let Err(e) = webhook::check_url(&endpoint.url, self.settings.targets) {
                self.log(
                    endpoint.id,
                    event,
                    attempt,
                    None,
                    Some(e.to_string()),
                    0,
                    DeliveryOutcome::Failed,
                )
                .await;
                if stopped_within(stop, self.settings.max_retry).await {
                    return Outcome::Interrupted;
                }
                continue;
            }
            let answer = self
                .client
                .post(&endpoint.url)
                .header("content-type", "application/json")
                .header("webhook-id", &webhook_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body.clone())
                .send()
                .await;
            let took = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
            let (status, error) = match &answer {
                Ok(r) => (Some(i32::from(r.status().as_u16())), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let delivered = answer.as_ref().is_ok_and(|r| r.status().is_success());
            let given_up = !delivered && Utc::now() - first_failure >= self.settings.give_up_after;
            let outcome = if delivered {
                DeliveryOutcome::Delivered
            } else if given_up {
                DeliveryOutcome::GaveUp
            } else {
                DeliveryOutcome::Failed
            };
            self.log(endpoint.id, event, attempt, status, error, took, outcome)
                .await;
            if delivered {
                if let Err(e) = webhook::mark_recovered(pool, endpoint.id).await {
                    tracing::warn!(webhook = %endpoint.id, error = %e, "cannot clear the failing flag");
                }
                return Outcome::Done;
            }
            if attempt >= self.settings.flag_after {
                if let Err(e) = webhook::mark_failing(pool, endpoint.id, first_failure).await {
                    tracing::warn!(webhook = %endpoint.id, error = %e, "cannot flag the endpoint");
                }
            }
            if given_up {
                tracing::error!(webhook = %endpoint.id, event = %webhook_id, "webhook delivery given up");
                return Outcome::Done;
            }
            let wait = backoff(attempt, self.settings.first_retry, self.settings.max_retry);
            if stopped_within(stop, wait).await {
                return Outcome::Interrupted;
            }
            match webhook::get(pool, endpoint.id).await {
                Ok(e) if e.status != EndpointStatus::Paused && e.url == endpoint.url => {}
                _ => return Outcome::Interrupted,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn log(
        &self,
        webhook_id: Uuid,
        event: &FeedEvent,
        attempt: u32,
        status: Option<i32>,
        error: Option<String>,
        took: i32,
        outcome: DeliveryOutcome,
    ) {
        let logged = sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, position, event_type, attempt, status_code, error, duration_ms, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(webhook_id)
        .bind(event.id)
        .bind(&event.position)
        .bind(&event.event_type)
        .bind(attempt as i32)
        .bind(status)
        .bind(error)
        .bind(took)
        .bind(outcome.as_str())
        .execute(self.store.pool())
        .await;
        if let Err(e) = logged {
            tracing::warn!(error = %e, "cannot log a webhook delivery");
        }
    }
}
