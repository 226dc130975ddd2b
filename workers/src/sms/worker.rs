//! The SMS worker: which message an event asks for (credentials, invitation, new
//! password, dissolution code, a mailbox opened), sent once per event through a provider.

use app::secrets::Purpose;
use app::sms::Recipient;
use app::{streams, App, Request};
use domain::mailbox::{Mailbox, MailboxEvent};
use domain::member::{Member, MemberEvent};
use domain::notification::{self, SmsEvent, SmsPurpose};
use domain::organization::{Organization, OrganizationEvent};
use eventstore::{RecordedEvent, SubscriptionFilter};
use uuid::Uuid;

use super::{SendError, Sms, SmsProvider};
use crate::consumer::{Failure, Handler};

/// The SMS worker.
pub struct SmsWorker {
    app: App,
    provider: Box<dyn SmsProvider>,
    /// The app's name in the credentials message.
    app_name: String,
    /// Where invitation links point (the admin console).
    console_url: String,
}

impl SmsWorker {
    /// A worker sending through `provider`.
    pub fn new(
        app: App,
        provider: Box<dyn SmsProvider>,
        app_name: impl Into<String>,
        console_url: impl Into<String>,
    ) -> Self {
        SmsWorker {
            app,
            provider,
            app_name: app_name.into(),
            console_url: console_url.into(),
        }
    }

    /// The message an event asks for, if any: (purpose, secret kind and subject, phone, text
    /// with `{secret}` still to fill in).
    async fn wanted(&self, event: &RecordedEvent) -> Result<Option<Wanted>, Failure> {
        match event.category() {
            "member" => {
                let e: MemberEvent = eventstore::decode_serde(event)
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                let (purpose, secret) = match e {
                    MemberEvent::MemberAuthorized {
                        send_credentials_sms: true,
                        ..
                    } => (SmsPurpose::Credentials, Purpose::InitialPassword),
                    MemberEvent::MemberPasswordReset {} => {
                        (SmsPurpose::PasswordReset, Purpose::ResetPassword)
                    }
                    _ => return Ok(None),
                };
                let member = self.app.load::<Member>(&event.stream_name).await?;
                let organization = self
                    .app
                    .load::<Organization>(&streams::organization(member.organization_id))
                    .await?;
                let subject = member.id.unwrap_or_default();
                // The login the message names must open the mailbox: the account at the
                // organization identifier (the data plane takes it beside the address).
                let account =
                    domain::mailbox::login_alias(&member.account, &organization.identifier)
                        .unwrap_or(member.account);
                let (name, org, app) = (member.name, organization.name, self.app_name.clone());
                let render: Render = match purpose {
                    SmsPurpose::PasswordReset => Box::new(move |pw| {
                        notification::password_reset_text(&name, &org, &app, &account, pw)
                    }),
                    _ => Box::new(move |pw| {
                        notification::credentials_text(&name, &org, &app, &account, pw)
                    }),
                };
                Ok(Some(Wanted {
                    purpose,
                    recipient: None,
                    secret: Some(secret),
                    subject,
                    to: member.phone,
                    render,
                }))
            }
            "mailbox" => {
                let e: MailboxEvent = eventstore::decode_serde(event)
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                match e {
                    MailboxEvent::MailboxProvisioned {}
                    | MailboxEvent::MailboxReassigned { .. } => {
                        self.mailbox_opened(event).await.map(Some)
                    }
                    _ => Ok(None),
                }
            }
            "organization" => {
                let e: OrganizationEvent = eventstore::decode_serde(event)
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                if let OrganizationEvent::DissolutionRequested { account, .. } = &e {
                    return self.dissolution_code(event, account).await.map(Some);
                }
                let OrganizationEvent::AdminInvited {
                    invitation_id,
                    name,
                    phone,
                    expires_at,
                    ..
                } = e
                else {
                    return Ok(None);
                };
                let organization = self.app.load::<Organization>(&event.stream_name).await?;
                let org = organization.name;
                let base = self.console_url.trim_end_matches('/').to_owned();
                // A started day counts as a whole one.
                let days = ((expires_at - event.recorded_at).num_hours() + 23).max(24) / 24;
                let render: Render = Box::new(move |token| {
                    let link = format!("{base}/invitations/{invitation_id}?token={token}");
                    notification::invitation_text(&name, &org, &link, days)
                });
                Ok(Some(Wanted {
                    recipient: None,
                    purpose: SmsPurpose::Invitation,
                    secret: Some(Purpose::InvitationToken),
                    subject: invitation_id,
                    to: Some(phone),
                    render,
                }))
            }
            _ => Ok(None),
        }
    }

    /// A mailbox is ready for its member (opened and provisioned, or given to them from the
    /// recycle bin): its address and logins. It holds no secret.
    async fn mailbox_opened(&self, event: &RecordedEvent) -> Result<Wanted, Failure> {
        let mailbox = self.app.load::<Mailbox>(&event.stream_name).await?;
        let member = self
            .app
            .load::<Member>(&streams::member(mailbox.member_id))
            .await?;
        let organization = self
            .app
            .load::<Organization>(&streams::organization(member.organization_id))
            .await?;
        let login = domain::mailbox::login_alias(&member.account, &organization.identifier);
        let (name, org, address) = (member.name, organization.name, mailbox.address);
        Ok(Wanted {
            recipient: Some(Recipient::member(mailbox.member_id, member.organization_id)),
            purpose: SmsPurpose::MailboxOpened,
            secret: None,
            subject: mailbox.id.unwrap_or_default(),
            to: member.phone,
            render: Box::new(move |_| {
                notification::mailbox_opened_text(&name, &org, &address, login.as_deref())
            }),
        })
    }

    /// The code that confirms a dissolution, to the phone of the admin who asked.
    async fn dissolution_code(
        &self,
        event: &RecordedEvent,
        account: &str,
    ) -> Result<Wanted, Failure> {
        let organization = self.app.load::<Organization>(&event.stream_name).await?;
        let to = app::organization::admin_phone(&self.app, &organization, account).await?;
        let org = organization.name;
        let minutes = domain::organization::DISSOLUTION_CODE_MINUTES;
        Ok(Wanted {
            recipient: Some(Recipient::admin(
                organization.id.unwrap_or_default(),
                account,
            )),
            purpose: SmsPurpose::DissolutionCode,
            secret: Some(Purpose::DissolutionCode),
            subject: organization.id.unwrap_or_default(),
            to,
            render: Box::new(move |code| notification::dissolution_code_text(&org, code, minutes)),
        })
    }

    async fn record(
        &self,
        cause: &RecordedEvent,
        outcome: SmsEvent,
        recipient: Option<&Recipient>,
    ) -> Result<(), Failure> {
        let request = Request::worker("sms", cause);
        Ok(app::sms::record_outcome(&self.app, &request, cause, &outcome, recipient).await?)
    }
}

type Render = Box<dyn FnOnce(&str) -> String + Send>;

struct Wanted {
    purpose: SmsPurpose,
    /// Whom it goes to, when the event names nobody.
    recipient: Option<Recipient>,
    /// The kind of secret the text carries (None: the text holds none).
    secret: Option<Purpose>,
    subject: Uuid,
    to: Option<String>,
    render: Render,
}

impl Handler for SmsWorker {
    fn name(&self) -> &'static str {
        "worker:sms"
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::categories(["member", "organization", "mailbox"])
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), Failure> {
        let Some(wanted) = self.wanted(event).await? else {
            return Ok(());
        };
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        let forget = || async {
            match wanted.secret {
                Some(purpose) => self
                    .app
                    .secrets()
                    .delete(purpose, wanted.subject)
                    .await
                    .map_err(|e| transient(&e)),
                None => Ok(()),
            }
        };
        let done = app::sms::is_recorded(&self.app, event).await?;
        if done {
            // Sent (or refused) before a crash that came before the secret was deleted.
            return forget().await;
        }
        let failed = |to: Option<String>, reason: String| SmsEvent::SmsFailed {
            source_event_id: event.event_id,
            purpose: wanted.purpose,
            to,
            reason,
        };
        let secret = match wanted.secret {
            Some(purpose) => self
                .app
                .secrets()
                .get(purpose, wanted.subject)
                .await
                .map_err(|e| transient(&e))?,
            None => Some(String::new()),
        };
        // An erased person is not written to (their number is gone, not "[erased]").
        let to = wanted.to.clone().filter(|t| t != eventstore::ERASED);
        let outcome = match (to, secret) {
            (None, _) => failed(None, "no phone number to send to".into()),
            (Some(to), None) => failed(
                Some(to),
                "the secret for this message is no longer kept".into(),
            ),
            (Some(to), Some(secret)) => {
                let sms = Sms {
                    to: to.clone(),
                    text: (wanted.render)(&secret),
                    id: event.event_id,
                };
                match self.provider.send(&sms).await {
                    Ok(()) => SmsEvent::SmsSent {
                        source_event_id: event.event_id,
                        purpose: wanted.purpose,
                        to,
                        provider: self.provider.name().into(),
                    },
                    Err(SendError::Refused(reason)) => failed(Some(to), reason),
                    Err(SendError::Transient(reason)) => return Err(Failure::Transient(reason)),
                }
            }
        };
        self.record(event, outcome, wanted.recipient.as_ref())
            .await?;
        // Sent or never sendable: either way the secret has served its purpose.
        forget().await
    }
}
