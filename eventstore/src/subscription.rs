use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::Error;
use crate::event::RecordedEvent;
use crate::position::Position;
use crate::store::EventStore;

/// Which events a subscription or feed delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionFilter {
    /// Every event (`$all`).
    All,
    /// Events of streams in these categories.
    Categories(Vec<String>),
}

impl SubscriptionFilter {
    /// Events of these categories.
    pub fn categories<I, S>(categories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SubscriptionFilter::Categories(categories.into_iter().map(Into::into).collect())
    }
}

/// Events from a position on: first those already recorded (catch-up), then new ones as
/// they commit (live). Woken by appends of this process, by NOTIFY from other processes
/// (through the store's one listener, shared by every subscription), and by polling when
/// neither comes. Delivery is in global order, each event once per
/// subscription; consumers that checkpoint get at-least-once across restarts.
pub struct Subscription {
    store: EventStore,
    filter: SubscriptionFilter,
    position: Position,
    buffer: VecDeque<RecordedEvent>,
    batch_size: usize,
    poll_interval: Duration,
    local: watch::Receiver<u64>,
    remote: watch::Receiver<u64>,
}

/// First re-check after a wake-up that found nothing new: the transaction that woke us
/// may still be hidden behind an older one that has not committed yet.
const FIRST_RECHECK: Duration = Duration::from_millis(5);

impl Subscription {
    pub(crate) fn new(store: EventStore, filter: SubscriptionFilter, after: Position) -> Self {
        let local = store.appended_signal();
        let remote = store.notified_signal();
        let poll_interval = store.poll_interval();
        Subscription {
            store,
            filter,
            position: after,
            buffer: VecDeque::new(),
            batch_size: 500,
            poll_interval,
            local,
            remote,
        }
    }

    /// Reads in pages of this many events (default 500).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.clamp(1, 10_000);
        self
    }

    /// Polls this often when no wake-up arrives (default 1 s).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// The position of the last event delivered (or the starting position).
    pub fn position(&self) -> Position {
        self.position
    }

    /// The next event, waiting for one to commit if the subscription is caught up.
    /// Cancel-safe: dropping the future (e.g. on a timeout) loses no event.
    pub async fn next(&mut self) -> Result<RecordedEvent, Error> {
        let mut recheck: Option<Duration> = None;
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position = event.position;
                return Ok(event);
            }
            // Mark wake-ups as seen before reading, so an append during the read wakes us.
            self.local.borrow_and_update();
            self.remote.borrow_and_update();
            let batch = self
                .store
                .read_filtered(&self.filter, self.position, self.batch_size)
                .await?;
            if !batch.is_empty() {
                self.buffer.extend(batch);
                continue;
            }
            let timeout = recheck.unwrap_or(self.poll_interval);
            let woken = self.wait(timeout).await;
            recheck = if woken {
                Some(FIRST_RECHECK)
            } else {
                recheck.map(|d| (d * 2).min(self.poll_interval))
            };
        }
    }

    /// Up to `max` more events already read, without waiting (after `next`, to handle a
    /// batch at once).
    pub fn take_buffered(&mut self, max: usize) -> Vec<RecordedEvent> {
        let n = max.min(self.buffer.len());
        let taken: Vec<RecordedEvent> = self.buffer.drain(..n).collect();
        if let Some(last) = taken.last() {
            self.position = last.position;
        }
        taken
    }

    /// Waits for a wake-up or the timeout; true when something signalled new events.
    async fn wait(&mut self, timeout: Duration) -> bool {
        tokio::select! {
            changed = self.local.changed() => changed.is_ok(),
            changed = self.remote.changed() => changed.is_ok(),
            _ = tokio::time::sleep(timeout) => false,
        }
    }
}
