//! The application layer of mailplane: every operation of the product, whoever asks for it.
//! GraphQL resolvers, console handlers and workers call the same function the same way: an
//! [`App`], a [`Request`] saying who asks, the arguments. An operation checks access, loads
//! the streams it needs, lets the domain decide, and appends the events with their claims in
//! one transaction (through [`command`], which nothing outside this crate can reach).

pub mod access;
pub mod auth;
mod change;
pub mod clock;
mod command;
pub mod dns;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod mailbox;
pub mod maildomain;
pub mod member;
pub mod migration;
pub mod organization;
mod personal;
pub mod personal_data;
pub mod read;
pub mod request;
pub mod retention;
pub mod retry;
pub mod secrets;
pub mod settings;
pub mod sms;
pub mod streams;
pub mod subscription;
pub mod webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::maildomain::Provider;
use domain::pricing::PriceList;
use domain::{Claim, Decider};
use eventstore::EventStore;
use sqlx::PgPool;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command::Executed;
pub use error::{AppError, ErrorCode};
pub use request::{Actor, Request};
pub use settings::Settings;

use command::{Change, CommandHandler};

/// What every operation reaches: the event store, the read models, the secret table, DNS,
/// the price list, the mail provider's settings and the clock.
#[derive(Clone)]
pub struct App {
    handler: CommandHandler,
    secrets: secrets::SecretStore,
    dns: Arc<dyn dns::Resolve>,
    price_list: PriceList,
    provider: Provider,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    /// Password hashing (Argon2, ~36 ms of CPU each) runs on at most all cores but one, so
    /// a large import cannot starve every other request.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl App {
    /// The application on `store`, with the default price list and provider.
    pub fn new(
        store: EventStore,
        secrets: secrets::SecretStore,
        dns: Arc<dyn dns::Resolve>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // Personal data in the log is sealed under the secret key, whoever built the store.
        let store = if store.has_keyring() {
            store
        } else {
            store.with_keyring(secrets.personal_keyring())
        };
        App {
            handler: CommandHandler::new(store),
            secrets,
            dns,
            price_list: PriceList::default(),
            provider: Provider::default(),
            clock,
            settings: Arc::new(Settings::default()),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get().saturating_sub(1))
                    .max(1),
            )),
        }
    }

    /// The same application hashing up to `n` passwords at once (workers, off the request
    /// path, may use every core).
    pub fn with_hashing_threads(mut self, n: usize) -> Self {
        self.hashing = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        self
    }

    /// The same application with other limits and allowances.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// A turn at hashing a password (see `hashing`).
    pub(crate) async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        self.hashing
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Its limits and allowances.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The same application acting at another clock's time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same application looking records up elsewhere.
    pub fn with_dns(mut self, dns: Arc<dyn dns::Resolve>) -> Self {
        self.dns = dns;
        self
    }

    /// The event store (for reading).
    pub fn store(&self) -> &EventStore {
        self.handler.store()
    }

    /// The database of the read models.
    pub fn pool(&self) -> &PgPool {
        self.handler.store().pool()
    }

    /// The secret table.
    pub fn secrets(&self) -> &secrets::SecretStore {
        &self.secrets
    }

    /// Where domain checks look records up.
    pub fn dns(&self) -> &dyn dns::Resolve {
        self.dns.as_ref()
    }

    /// The price list.
    pub fn price_list(&self) -> &PriceList {
        &self.price_list
    }

    /// The mail provider's settings (the records domains publish).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The clock every operation acts at.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Now, by the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The current state of one stream under a decider (reading, no access check).
    pub async fn load<D: Decider>(&self, stream: &str) -> Result<D::State, AppError>
    where
        D::Event: serde::de::DeserializeOwned,
    {
        self.handler.load_state::<D>(stream).await
    }

    /// One decider's command on one stream, with the claims its events declare; answers the
    /// state after the command.
    pub(crate) async fn run<D>(
        &self,
        request: &Request,
        stream: &str,
        command: D::Command,
        claims: impl Fn(&D::Event) -> (Vec<Claim>, Vec<Claim>),
    ) -> Result<Executed<D::State>, AppError>
    where
        D: Decider,
        D::Command: Clone,
        D::Event: serde::Serialize + serde::de::DeserializeOwned,
    {
        let now = self.now();
        self.handler
            .execute_tracked(&request.context(), &[stream.to_owned()], |loaded| {
                let state = loaded.state::<D>(stream)?;
                let events = D::decide(&state, command.clone(), now)?;
                let change = Change::claiming(stream, &events, &claims)?;
                Ok((events.iter().fold(state, D::evolve), vec![change]))
            })
            .await
    }
}

/// For events that claim and release nothing.
pub(crate) fn no_claims<E>(_: &E) -> (Vec<Claim>, Vec<Claim>) {
    (vec![], vec![])
}
