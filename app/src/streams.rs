//! Stream names as types: `{category}-{id}` (DESIGN.md), one place for every category.

use std::fmt;
use std::ops::Deref;

use uuid::Uuid;

/// A stream category: the part of a stream name before the first `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Subscription,
    Organization,
    Member,
    MailDomain,
    Mailbox,
    /// A buyer account's refund history.
    Buyer,
    /// The outcome of one text message.
    Sms,
    /// A mail migration task.
    Migration,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 8] = [
        Category::Subscription,
        Category::Organization,
        Category::Member,
        Category::MailDomain,
        Category::Mailbox,
        Category::Buyer,
        Category::Sms,
        Category::Migration,
    ];

    /// The category as it appears in stream names and feed filters.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Subscription => "subscription",
            Category::Organization => "organization",
            Category::Member => "member",
            Category::MailDomain => "maildomain",
            Category::Mailbox => "mailbox",
            Category::Buyer => "buyer",
            Category::Sms => "sms",
            Category::Migration => "migration",
        }
    }

    /// The snapshot version of the category's decider, where its streams keep snapshots.
    pub fn snapshot_version(self) -> Option<u32> {
        use domain::Decider;
        match self {
            Category::Subscription => domain::subscription::Subscription::SNAPSHOT_VERSION,
            _ => None,
        }
    }

    /// The category named `name`.
    pub fn named(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The stream of the entity `id` in this category.
    pub fn stream(self, id: Uuid) -> StreamName {
        StreamName(format!("{}-{id}", self.as_str()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamName(String);

impl StreamName {
    /// The category and entity id of a stream name, when it has that shape.
    pub fn parse(name: &str) -> Option<(Category, Uuid)> {
        let (category, id) = name.split_once('-')?;
        Some((Category::named(category)?, id.parse().ok()?))
    }
}

impl Deref for StreamName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StreamName> for String {
    fn from(s: StreamName) -> String {
        s.0
    }
}

impl From<&StreamName> for String {
    fn from(s: &StreamName) -> String {
        s.0.clone()
    }
}

pub fn subscription(id: Uuid) -> StreamName {
    Category::Subscription.stream(id)
}
pub fn organization(id: Uuid) -> StreamName {
    Category::Organization.stream(id)
}
pub fn member(id: Uuid) -> StreamName {
    Category::Member.stream(id)
}
pub fn maildomain(id: Uuid) -> StreamName {
    Category::MailDomain.stream(id)
}
pub fn mailbox(id: Uuid) -> StreamName {
    Category::Mailbox.stream(id)
}
/// A buyer account's refund history (accounts are strings, not uuids).
pub fn buyer(account: &str) -> StreamName {
    StreamName(format!("{}-{account}", Category::Buyer.as_str()))
}
pub fn migration(id: Uuid) -> StreamName {
    Category::Migration.stream(id)
}
/// The outcome of the text message that event `source` asked for.
pub fn sms(source: Uuid) -> StreamName {
    Category::Sms.stream(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = Uuid::now_v7();
        for c in Category::ALL {
            assert_eq!(Category::named(c.as_str()), Some(c));
            if c != Category::Buyer {
                assert_eq!(StreamName::parse(&c.stream(id)), Some((c, id)));
            }
        }
        assert_eq!(StreamName::parse("member-x"), None);
        assert_eq!(StreamName::parse("nothing-"), None);
        assert_eq!(&*mailbox(id), format!("mailbox-{id}"));
    }
}
