//! The product's operations (API.md's mutations) as command runs: which streams each one
//! loads, which decision it makes, which changes it appends. GraphQL resolvers and workers
//! call these; they hold no rules of their own.

use chrono::{DateTime, Utc};
use domain::mailbox::{self, AddressHolder, MailboxEvent, OpenMailbox};
use domain::maildomain::{MailDomain, MailDomainCommand};
use domain::member::{self, AddMember, Member};
use domain::organization::{self, Organization, OrganizationCommand};
use domain::pricing::PriceList;
use domain::subscription::{self, Subscription, SubscriptionCommand, SubscriptionState};
use domain::{Decider, DomainError};
use uuid::Uuid;

use crate::command::{Change, CommandContext, CommandError, CommandHandler, Executed};

/// Stream names, one place.
pub mod streams {
    use uuid::Uuid;

    pub fn subscription(id: Uuid) -> String {
        format!("subscription-{id}")
    }
    pub fn organization(id: Uuid) -> String {
        format!("organization-{id}")
    }
    pub fn member(id: Uuid) -> String {
        format!("member-{id}")
    }
    pub fn maildomain(id: Uuid) -> String {
        format!("maildomain-{id}")
    }
    pub fn mailbox(id: Uuid) -> String {
        format!("mailbox-{id}")
    }
    pub fn buyer(account: &str) -> String {
        format!("buyer-{account}")
    }
    /// The outcome of the text message that event `source` asked for.
    pub fn sms(source: Uuid) -> String {
        format!("sms-{source}")
    }
}

/// For events that claim and release nothing.
pub fn no_claims<E>(_: &E) -> (Vec<domain::Claim>, Vec<domain::Claim>) {
    (vec![], vec![])
}

/// One decider's command on one stream at `now`, with the claims its events declare;
/// answers the state after the command.
pub async fn run_decider<D>(
    handler: &CommandHandler,
    context: &CommandContext,
    stream: &str,
    command: D::Command,
    now: DateTime<Utc>,
    claims: impl Fn(&D::Event) -> (Vec<domain::Claim>, Vec<domain::Claim>),
) -> Result<Executed<D::State>, CommandError>
where
    D: Decider,
    D::Command: Clone,
    D::Event: serde::Serialize + serde::de::DeserializeOwned,
{
    handler
        .execute_tracked(context, &[stream.to_owned()], |loaded| {
            let state = loaded.state::<D>(stream)?;
            let events = D::decide(&state, command.clone(), now)?;
            let change = events.iter().fold(Change::new(stream, &events)?, |c, e| {
                c.with_claims(claims(e))
            });
            Ok((events.iter().fold(state, D::evolve), vec![change]))
        })
        .await
}

/// A mailbox command at `now` (the claims need the mailbox's member, read from its stream).
pub async fn run_mailbox(
    handler: &CommandHandler,
    context: &CommandContext,
    mailbox_id: Uuid,
    command: mailbox::MailboxCommand,
    now: DateTime<Utc>,
) -> Result<Executed<mailbox::MailboxState>, CommandError> {
    let stream = streams::mailbox(mailbox_id);
    let member = handler
        .load_state::<mailbox::Mailbox>(&stream)
        .await?
        .member_id;
    run_decider::<mailbox::Mailbox>(handler, context, &stream, command, now, move |e| {
        e.claims(member)
    })
    .await
}

/// `provisionSubscription`: idempotent on the order id.
#[allow(clippy::too_many_arguments)]
pub async fn provision_subscription(
    handler: &CommandHandler,
    context: &CommandContext,
    buyer_account_id: &str,
    order_id: &str,
    edition: &str,
    seats: u32,
    trial: bool,
    months: Option<u32>,
    price_list: &PriceList,
) -> Result<Executed<SubscriptionState>, CommandError> {
    let id = subscription::subscription_id_for_order(order_id.trim());
    let stream = streams::subscription(id);
    handler
        .execute_tracked(context, std::slice::from_ref(&stream), |loaded| {
            let state = loaded.state::<Subscription>(&stream)?;
            let events = Subscription::decide(
                &state,
                SubscriptionCommand::Provision {
                    order_id: order_id.to_owned(),
                    buyer_account_id: buyer_account_id.to_owned(),
                    edition: edition.to_owned(),
                    seats,
                    trial,
                    months,
                    price_list: price_list.clone(),
                },
                Utc::now(),
            )?;
            let after = events.iter().fold(state, Subscription::evolve);
            Ok((after, vec![Change::new(&stream, &events)?]))
        })
        .await
}

/// `createOrganization`: the identifier is claimed platform-wide.
pub async fn create_organization(
    handler: &CommandHandler,
    context: &CommandContext,
    organization_id: Uuid,
    name: &str,
    identifier: &str,
    creator_account: &str,
    as_reseller: bool,
) -> Result<Executed<organization::OrganizationState>, CommandError> {
    let stream = streams::organization(organization_id);
    handler
        .execute_tracked(context, std::slice::from_ref(&stream), |loaded| {
            let state = loaded.state::<Organization>(&stream)?;
            let events = Organization::decide(
                &state,
                OrganizationCommand::Create {
                    organization_id,
                    name: name.to_owned(),
                    identifier: identifier.to_owned(),
                    creator_account: creator_account.to_owned(),
                    as_reseller,
                },
                Utc::now(),
            )?;
            let change = events.iter().fold(Change::new(&stream, &events)?, |c, e| {
                c.with_claims(e.claims())
            });
            Ok((
                events.iter().fold(state, Organization::evolve),
                vec![change],
            ))
        })
        .await
}

/// `bindApp`: one subscription to one organization, on both streams.
pub async fn bind_app(
    handler: &CommandHandler,
    context: &CommandContext,
    subscription_id: Uuid,
    organization_id: Uuid,
) -> Result<Executed<()>, CommandError> {
    let sub = streams::subscription(subscription_id);
    let org = streams::organization(organization_id);
    handler
        .execute_tracked(context, &[sub.clone(), org.clone()], |loaded| {
            let s = loaded.state::<Subscription>(&sub)?;
            let o = loaded.state::<Organization>(&org)?;
            let (org_events, sub_events) = organization::bind_app(&o, &s, Utc::now())?;
            Ok((
                (),
                vec![
                    Change::new(&org, &org_events)?,
                    Change::new(&sub, &sub_events)?,
                ],
            ))
        })
        .await
}

/// `createDepartment`.
pub async fn create_department(
    handler: &CommandHandler,
    context: &CommandContext,
    organization_id: Uuid,
    department_id: Uuid,
    name: &str,
    parent_id: Option<Uuid>,
) -> Result<Executed<()>, CommandError> {
    let org = streams::organization(organization_id);
    handler
        .execute_tracked(context, std::slice::from_ref(&org), |loaded| {
            let o = loaded.state::<Organization>(&org)?;
            let events = Organization::decide(
                &o,
                OrganizationCommand::CreateDepartment {
                    department_id,
                    name: name.to_owned(),
                    parent_id,
                },
                Utc::now(),
            )?;
            Ok(((), vec![Change::new(&org, &events)?]))
        })
        .await
}

/// `addMember`: account and phone are claimed within the organization. The password is
/// checked by the rules and then left to the caller's secret store.
pub async fn add_member(
    handler: &CommandHandler,
    context: &CommandContext,
    organization_id: Uuid,
    command: AddMember,
) -> Result<Executed<member::MemberState>, CommandError> {
    let org = streams::organization(organization_id);
    let stream = streams::member(command.member_id);
    handler
        .execute_tracked(context, &[org.clone(), stream.clone()], |loaded| {
            let o = loaded.state::<Organization>(&org)?;
            let m = loaded.state::<Member>(&stream)?;
            let events = member::add(&o, &m, command.clone())?;
            let change = events.iter().fold(Change::new(&stream, &events)?, |c, e| {
                c.with_claims(e.claims(organization_id))
            });
            Ok((events.iter().fold(m, Member::evolve), vec![change]))
        })
        .await
}

/// `authorizeMembers` (by member ids): every newly authorized member takes a seat in the
/// subscription stream, so concurrent authorizations never exceed the purchase.
pub async fn authorize_members(
    handler: &CommandHandler,
    context: &CommandContext,
    organization_id: Uuid,
    member_ids: &[Uuid],
) -> Result<Executed<usize>, CommandError> {
    let org = streams::organization(organization_id);
    // The subscription is found through the organization; it only changes by binding.
    let bound = handler
        .store()
        .read_stream(
            &org,
            eventstore::Direction::Forwards,
            eventstore::StreamPosition::Start,
            10_000,
        )
        .await?;
    let mut o = organization::OrganizationState::default();
    for e in &bound {
        o = Organization::evolve(o, &eventstore::decode_serde(e)?);
    }
    let subscription_id = o.subscription_id.ok_or(DomainError::SubscriptionInactive)?;
    let sub = streams::subscription(subscription_id);
    let mut names = vec![org.clone(), sub.clone()];
    names.extend(member_ids.iter().map(|m| streams::member(*m)));
    handler
        .execute_tracked(context, &names, |loaded| {
            let o = loaded.state::<Organization>(&org)?;
            let s = loaded.state::<Subscription>(&sub)?;
            let members = member_ids
                .iter()
                .map(|m| loaded.state::<Member>(&streams::member(*m)))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&member::MemberState> = members.iter().collect();
            let decision = member::authorize(&refs, &o, &s, Utc::now())?;
            let mut changes = vec![Change::new(&sub, &decision.seats)?];
            for (member_id, event) in &decision.members {
                changes.push(Change::new(
                    streams::member(*member_id),
                    std::slice::from_ref(event),
                )?);
            }
            Ok((decision.members.len(), changes))
        })
        .await
}

/// `addDomain`.
pub async fn add_domain(
    handler: &CommandHandler,
    context: &CommandContext,
    command: MailDomainCommand,
    domain_id: Uuid,
) -> Result<Executed<domain::maildomain::MailDomainState>, CommandError> {
    run_mail_domain(handler, context, domain_id, command).await
}

/// A command on one mail domain (add, check, change mode, replace, remove).
pub async fn run_mail_domain(
    handler: &CommandHandler,
    context: &CommandContext,
    domain_id: Uuid,
    command: MailDomainCommand,
) -> Result<Executed<domain::maildomain::MailDomainState>, CommandError> {
    let stream = streams::maildomain(domain_id);
    handler
        .execute_tracked(context, std::slice::from_ref(&stream), |loaded| {
            let d = loaded.state::<MailDomain>(&stream)?;
            let events = MailDomain::decide(&d, command.clone(), Utc::now())?;
            let change = events.iter().fold(Change::new(&stream, &events)?, |c, e| {
                c.with_claims(e.claims())
            });
            Ok((events.iter().fold(d, MailDomain::evolve), vec![change]))
        })
        .await
}

/// `openMailbox`: the address and the member's one open mailbox are claimed; `holder`
/// says who holds an address now (a read model), for numbering default addresses.
pub async fn open_mailbox(
    handler: &CommandHandler,
    context: &CommandContext,
    member_id: Uuid,
    domain_id: Uuid,
    mailbox_id: Uuid,
    local_part: Option<String>,
    holder: &(dyn Fn(&str) -> Option<AddressHolder> + Sync),
) -> Result<Executed<String>, CommandError> {
    let m = streams::member(member_id);
    let d = streams::maildomain(domain_id);
    let b = streams::mailbox(mailbox_id);
    handler
        .execute_tracked(context, &[m.clone(), d.clone(), b.clone()], |loaded| {
            let member = loaded.state::<Member>(&m)?;
            let domain = loaded.state::<MailDomain>(&d)?;
            let events = mailbox::open(
                &member,
                &domain,
                OpenMailbox {
                    mailbox_id,
                    local_part: local_part.clone(),
                    holder,
                },
            )?;
            let address = match events.first() {
                Some(MailboxEvent::MailboxOpened { address, .. }) => address.clone(),
                _ => return Err(CommandError::Conflict(0)),
            };
            let change = events.iter().fold(Change::new(&b, &events)?, |c, e| {
                c.with_claims(e.claims(member_id))
            });
            Ok((address, vec![change]))
        })
        .await
}

/// `deleteMember`: a disabled member is deleted and its seat (in `subscription_id`, the
/// organization's) released; its account and phone are free again.
pub async fn delete_member(
    handler: &CommandHandler,
    context: &CommandContext,
    organization_id: Uuid,
    member_id: Uuid,
    subscription_id: Option<Uuid>,
) -> Result<Executed<()>, CommandError> {
    let m = streams::member(member_id);
    let mut names = vec![m.clone()];
    names.extend(subscription_id.map(streams::subscription));
    handler
        .execute_tracked(context, &names, |loaded| {
            let member_state = loaded.state::<Member>(&m)?;
            let sub_state = match subscription_id {
                Some(sid) => loaded.state::<Subscription>(&streams::subscription(sid))?,
                None => Default::default(),
            };
            let (member_events, seat_events) = member::delete(&member_state, &sub_state)?;
            let mut changes = vec![member_events
                .iter()
                .fold(Change::new(&m, &member_events)?, |c, e| {
                    c.with_claims(e.claims(organization_id))
                })];
            if let Some(sid) = subscription_id {
                changes.push(Change::new(streams::subscription(sid), &seat_events)?);
            }
            Ok(((), changes))
        })
        .await
}
