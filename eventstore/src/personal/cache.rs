//! Data keys of the people this process wrote about lately, so that an event about a known
//! person is sealed without asking `personal_keys` first. For writing only: readers always
//! ask the table, so an erasure shows at once, in every process.
//!
//! An erasure in this process forgets every key at once (and again when it commits); one in
//! another process is seen here within [`TTL`]. A key still cached after its person was
//! erased elsewhere seals new data that no reader can open (the table has no key for it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a key is trusted without asking the table.
const TTL: Duration = Duration::from_secs(60);

/// More people than this and the cache starts over.
const CAPACITY: usize = 100_000;

/// A person's data key, as it is before it is wrapped.
pub(crate) type DataKey = [u8; 32];

/// Keys an append found or made, to cache once they are committed.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    epoch: u64,
    keys: Vec<(String, DataKey)>,
}

impl Learned {
    pub fn push(&mut self, subject: &str, key: DataKey) {
        self.keys.push((subject.to_owned(), key));
    }

    /// Keeps `other`'s keys too, under the older of the two epochs.
    pub fn absorb(&mut self, other: Learned) {
        if other.keys.is_empty() {
            return;
        }
        if self.keys.is_empty() {
            *self = other;
            return;
        }
        self.epoch = self.epoch.min(other.epoch);
        self.keys.extend(other.keys);
    }
}

struct Entry {
    key: DataKey,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every erasure: keys learned before it are not cached.
    epoch: u64,
    entries: HashMap<String, Entry>,
}

/// The cache itself.
#[derive(Default)]
pub(crate) struct KeyCache {
    inner: Mutex<Inner>,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-done worth refusing over.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A learning that starts now: what it learns is cached only if no erasure comes between.
    pub fn start(&self) -> Learned {
        Learned {
            epoch: self.lock().epoch,
            keys: Vec::new(),
        }
    }

    /// The key of `subject`, if cached and fresh.
    pub fn get(&self, subject: &str) -> Option<DataKey> {
        let inner = self.lock();
        inner
            .entries
            .get(subject)
            .filter(|e| e.at.elapsed() < TTL)
            .map(|e| e.key)
    }

    /// Caches committed keys, unless an erasure happened since they were learned.
    pub fn remember(&self, learned: Learned) {
        if learned.keys.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch != learned.epoch {
            return;
        }
        if inner.entries.len() + learned.keys.len() > CAPACITY {
            inner.entries.clear();
        }
        let at = Instant::now();
        for (subject, key) in learned.keys {
            inner.entries.insert(subject, Entry { key, at });
        }
    }

    /// Forgets every key: someone is being erased.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_learned_before_an_erasure_are_not_cached() {
        let cache = KeyCache::default();
        let mut before = cache.start();
        before.push("member-a", [1; 32]);
        cache.forget();
        cache.remember(before);
        assert_eq!(cache.get("member-a"), None);
        let mut after = cache.start();
        after.push("member-a", [1; 32]);
        cache.remember(after);
        assert_eq!(cache.get("member-a"), Some([1; 32]));
        cache.forget();
        assert_eq!(cache.get("member-a"), None);
    }

    #[test]
    fn a_transaction_keeps_the_oldest_epoch_of_what_it_learned() {
        let cache = KeyCache::default();
        cache.forget();
        let mut first = cache.start();
        first.push("member-a", [1; 32]);
        // Appends without personal data learn nothing and change nothing.
        first.absorb(Learned::default());
        cache.remember(first);
        assert_eq!(cache.get("member-a"), Some([1; 32]));
        let mut older = cache.start();
        older.push("member-b", [2; 32]);
        cache.forget();
        let mut newer = cache.start();
        newer.push("member-c", [3; 32]);
        older.absorb(newer);
        cache.remember(older);
        assert_eq!((cache.get("member-b"), cache.get("member-c")), (None, None));
    }
}
