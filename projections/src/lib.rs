//! Read models: each projection folds the events of some categories into its tables, in
//! order, with its checkpoint written in the same transaction as its rows (exactly-once
//! effect). `rebuild` replays a projection from zero into fresh tables and swaps them in.

mod apply;
mod runner;
mod timers;

pub use timers::{TimerKind, DNS_RECHECK_EVERY, DNS_RECHECK_FOR};

pub use runner::{ProjectionError, Runner};

/// The projections and the tables each one owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    Subscriptions,
    Organizations,
    Members,
    MailDomains,
    Mailboxes,
    /// Mail migration tasks and their accounts.
    Migrations,
    AuditLog,
    /// Due times for the timer worker.
    Timers,
}

impl Projection {
    /// Every projection.
    pub const ALL: [Projection; 8] = [
        Projection::Subscriptions,
        Projection::Organizations,
        Projection::Members,
        Projection::MailDomains,
        Projection::Mailboxes,
        Projection::Migrations,
        Projection::AuditLog,
        Projection::Timers,
    ];

    /// Its name on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Projection::Subscriptions => "subscriptions",
            Projection::Organizations => "organizations",
            Projection::Members => "members",
            Projection::MailDomains => "mail_domains",
            Projection::Mailboxes => "mailboxes",
            Projection::Migrations => "migrations",
            Projection::AuditLog => "audit_log",
            Projection::Timers => "timers",
        }
    }

    /// The projection of that name.
    pub fn named(name: &str) -> Option<Projection> {
        Projection::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The tables it writes (and rebuild replaces).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Projection::Subscriptions => &["subscriptions"],
            Projection::Organizations => &[
                "organizations",
                "organization_admins",
                "departments",
                "invitations",
            ],
            Projection::Members => &["members"],
            Projection::MailDomains => &["mail_domains"],
            Projection::Mailboxes => &["mailboxes"],
            Projection::Migrations => &["migrations", "migration_accounts"],
            Projection::AuditLog => &["audit_log", "audit_streams"],
            Projection::Timers => &["timers"],
        }
    }

    /// The event categories it reads.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Projection::Subscriptions => &["subscription"],
            Projection::Organizations => &["organization"],
            // Organizations and members too, for their erasures.
            Projection::Members => &["member", "organization"],
            Projection::MailDomains => &["maildomain"],
            Projection::Mailboxes => &["mailbox", "member", "organization"],
            Projection::Migrations => &["migration"],
            Projection::Timers => &[
                "subscription",
                "organization",
                "maildomain",
                "mailbox",
                "migration",
            ],
            Projection::AuditLog => &[
                "organization",
                "member",
                "maildomain",
                "mailbox",
                "subscription",
                "migration",
            ],
        }
    }

    /// Its checkpoint's consumer name.
    pub fn consumer(self) -> String {
        format!("projection:{}", self.name())
    }
}
