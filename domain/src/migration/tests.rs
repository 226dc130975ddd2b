//! Given/when/then for migration tasks.

use chrono::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{day, given, t0};

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn source() -> MailSource {
    MailSource {
        host: "imap.old-provider.cn".into(),
        port: 993,
        protocol: MailProtocol::Imap,
        tls: true,
    }
}

fn created() -> MigrationEvent {
    MigrationEvent::MigrationCreated {
        migration_id: id(1),
        organization_id: id(2),
        source: source(),
        expires_at: day(VALID_DAYS),
    }
}

fn account(n: u128) -> NewMigrationAccount {
    NewMigrationAccount {
        account_id: id(100 + n),
        line: n as u32 + 1,
        old_account: format!("user{n}@old.cn"),
        mailbox_id: id(200 + n),
        address: format!("user{n}@new.cn"),
    }
}

fn added(ns: &[u128]) -> MigrationEvent {
    MigrationEvent::MigrationAccountsAdded {
        accounts: ns.iter().map(|n| account(*n)).collect(),
    }
}

fn started(ns: &[u128]) -> MigrationEvent {
    MigrationEvent::MigrationRunStarted {
        run: 1,
        accounts: ns.iter().map(|n| id(100 + n)).collect(),
    }
}

fn checking(n: u128) -> MigrationEvent {
    MigrationEvent::AccountCheckStarted {
        account_id: id(100 + n),
    }
}

fn copying(n: u128, mode: CopyMode) -> MigrationEvent {
    MigrationEvent::AccountCopyStarted {
        account_id: id(100 + n),
        mode,
        messages: 10,
    }
}

fn succeeded(n: u128) -> MigrationEvent {
    MigrationEvent::AccountSucceeded {
        account_id: id(100 + n),
        folders: vec![],
        sync_state: None,
    }
}

#[test]
fn a_task_is_created_valid_for_thirty_days() {
    given::<Migration>(&[])
        .when(MigrationCommand::Create {
            migration_id: id(1),
            organization_id: id(2),
            source: source(),
        })
        .then(&[created()]);
}

#[test]
fn a_host_that_could_smuggle_configuration_or_a_zero_port_is_refused() {
    for host in [
        "",
        "imap old.cn",
        "a\nimapc_user=x",
        "-bad.cn",
        "x\"y",
        "a..b",
    ] {
        let source = MailSource {
            host: host.into(),
            ..source()
        };
        given::<Migration>(&[])
            .when(MigrationCommand::Create {
                migration_id: id(1),
                organization_id: id(2),
                source,
            })
            .then_invalid();
    }
    let source = MailSource {
        port: 0,
        ..source()
    };
    given::<Migration>(&[])
        .when(MigrationCommand::Create {
            migration_id: id(1),
            organization_id: id(2),
            source,
        })
        .then_invalid();
}

#[test]
fn accounts_repeating_an_old_account_or_a_target_or_past_a_thousand_are_refused() {
    let mut twice = account(2);
    twice.old_account = account(1).old_account;
    given::<Migration>(&[created(), added(&[1])])
        .when(MigrationCommand::AddAccounts {
            accounts: vec![twice],
        })
        .then_invalid();
    let mut same_target = account(3);
    same_target.mailbox_id = account(1).mailbox_id;
    given::<Migration>(&[created(), added(&[1])])
        .when(MigrationCommand::AddAccounts {
            accounts: vec![same_target],
        })
        .then_invalid();
    let many: Vec<NewMigrationAccount> = (0..1_001).map(account).collect();
    given::<Migration>(&[created()])
        .when(MigrationCommand::AddAccounts { accounts: many })
        .then_err(DomainError::ImportTooLarge {
            rows: 1_001,
            max: MAX_ACCOUNTS,
        });
    let mut spaced = account(4);
    spaced.old_account = "a b@old.cn".into();
    given::<Migration>(&[created()])
        .when(MigrationCommand::AddAccounts {
            accounts: vec![spaced],
        })
        .then_invalid();
}

#[test]
fn starting_needs_accounts_and_happens_once() {
    given::<Migration>(&[created()])
        .when(MigrationCommand::Start)
        .then_invalid();
    given::<Migration>(&[created(), added(&[1, 2])])
        .when(MigrationCommand::Start)
        .then(&[started(&[1, 2])]);
    given::<Migration>(&[created(), added(&[1]), started(&[1])])
        .when(MigrationCommand::Start)
        .then_err(DomainError::MigrationNotDraft);
}

#[test]
fn the_first_copy_into_an_empty_mailbox_mirrors_and_into_one_with_mail_tops_up() {
    let running = [created(), added(&[1]), started(&[1]), checking(1)];
    given::<Migration>(&running)
        .when(MigrationCommand::BeginCopy {
            account_id: id(101),
            messages: 10,
            target_has_mail: false,
        })
        .then(&[copying(1, CopyMode::Mirror)]);
    given::<Migration>(&running)
        .when(MigrationCommand::BeginCopy {
            account_id: id(101),
            messages: 10,
            target_has_mail: true,
        })
        .then(&[copying(1, CopyMode::TopUp)]);
}

#[test]
fn a_resumed_mirror_stays_a_mirror_but_a_rerun_after_success_only_tops_up() {
    // A worker died mid-mirror: the mailbox holds the partial mirror; resuming it is safe.
    let resumed = [
        created(),
        added(&[1]),
        started(&[1]),
        checking(1),
        copying(1, CopyMode::Mirror),
        checking(1),
    ];
    given::<Migration>(&resumed)
        .when(MigrationCommand::BeginCopy {
            account_id: id(101),
            messages: 10,
            target_has_mail: true,
        })
        .then(&[copying(1, CopyMode::Mirror)]);
    // After success the mailbox is live: even an empty-looking one only gets a top-up.
    let rerun = [
        created(),
        added(&[1]),
        started(&[1]),
        checking(1),
        copying(1, CopyMode::Mirror),
        succeeded(1),
        MigrationEvent::MigrationCompleted {},
        MigrationEvent::MigrationRunStarted {
            run: 2,
            accounts: vec![id(101)],
        },
        checking(1),
    ];
    given::<Migration>(&rerun)
        .when(MigrationCommand::BeginCopy {
            account_id: id(101),
            messages: 10,
            target_has_mail: false,
        })
        .then(&[copying(1, CopyMode::TopUp)]);
}

#[test]
fn the_last_account_to_end_completes_the_run() {
    let running = [
        created(),
        added(&[1, 2]),
        started(&[1, 2]),
        checking(1),
        copying(1, CopyMode::Mirror),
        checking(2),
        copying(2, CopyMode::Mirror),
    ];
    given::<Migration>(&running)
        .when(MigrationCommand::RecordSuccess {
            account_id: id(101),
            folders: vec![],
            sync_state: None,
        })
        .then(&[succeeded(1)]);
    let mut one_done = running.to_vec();
    one_done.push(succeeded(1));
    given::<Migration>(&one_done)
        .when(MigrationCommand::RecordFailure {
            account_id: id(102),
            failure: MigrationFailure::AuthenticationFailed,
            reason: "authentication failed".into(),
            retry_in: None,
        })
        .then(&[
            MigrationEvent::AccountFailed {
                account_id: id(102),
                failure: MigrationFailure::AuthenticationFailed,
                reason: "authentication failed".into(),
            },
            MigrationEvent::MigrationCompleted {},
        ]);
}

#[test]
fn an_unreachable_server_is_retried_with_the_workers_backoff_then_fails() {
    let running = [created(), added(&[1]), started(&[1]), checking(1)];
    given::<Migration>(&running)
        .when(MigrationCommand::RecordFailure {
            account_id: id(101),
            failure: MigrationFailure::ServerUnreachable,
            reason: "connection refused".into(),
            retry_in: Some(Duration::seconds(4)),
        })
        .then(&[MigrationEvent::AccountRetryScheduled {
            account_id: id(101),
            attempt: 1,
            reason: "connection refused".into(),
            not_before: t0() + Duration::seconds(4),
        }]);
    // Not before its time.
    let mut waiting = running.to_vec();
    waiting.push(MigrationEvent::AccountRetryScheduled {
        account_id: id(101),
        attempt: 1,
        reason: "connection refused".into(),
        not_before: t0() + Duration::seconds(4),
    });
    given::<Migration>(&waiting)
        .when(MigrationCommand::BeginCheck {
            account_id: id(101),
        })
        .then_err(DomainError::MigrationAccountNotRunnable);
    given::<Migration>(&waiting)
        .at(t0() + Duration::seconds(5))
        .when(MigrationCommand::BeginCheck {
            account_id: id(101),
        })
        .then(&[checking(1)]);
    // The last attempt fails for good.
    let mut exhausted = running.to_vec();
    for attempt in 1..MAX_ATTEMPTS {
        exhausted.push(MigrationEvent::AccountRetryScheduled {
            account_id: id(101),
            attempt,
            reason: "connection refused".into(),
            not_before: t0(),
        });
        exhausted.push(checking(1));
    }
    let events = given::<Migration>(&exhausted)
        .when(MigrationCommand::RecordFailure {
            account_id: id(101),
            failure: MigrationFailure::ServerUnreachable,
            reason: "connection refused".into(),
            retry_in: Some(Duration::seconds(4)),
        })
        .events();
    assert!(matches!(events[0], MigrationEvent::AccountFailed { .. }));
}

#[test]
fn retry_takes_the_failed_rerun_takes_every_ended_account() {
    let failed = MigrationEvent::AccountFailed {
        account_id: id(102),
        failure: MigrationFailure::AuthenticationFailed,
        reason: "authentication failed".into(),
    };
    let done = [
        created(),
        added(&[1, 2]),
        started(&[1, 2]),
        checking(1),
        copying(1, CopyMode::Mirror),
        succeeded(1),
        checking(2),
        failed,
        MigrationEvent::MigrationCompleted {},
    ];
    given::<Migration>(&done)
        .when(MigrationCommand::RetryFailed)
        .then(&[MigrationEvent::MigrationRunStarted {
            run: 2,
            accounts: vec![id(102)],
        }]);
    given::<Migration>(&done)
        .when(MigrationCommand::Rerun)
        .then(&[MigrationEvent::MigrationRunStarted {
            run: 2,
            accounts: vec![id(101), id(102)],
        }]);
    given::<Migration>(&[created(), added(&[1])])
        .when(MigrationCommand::RetryFailed)
        .then_err(DomainError::MigrationNotStarted);
}

#[test]
fn cancelling_ends_the_unfinished_accounts_and_frees_every_target() {
    let running = [
        created(),
        added(&[1, 2]),
        started(&[1, 2]),
        checking(1),
        copying(1, CopyMode::Mirror),
        succeeded(1),
    ];
    given::<Migration>(&running)
        .when(MigrationCommand::Cancel)
        .then(&[MigrationEvent::MigrationCancelled {
            accounts: vec![id(102)],
        }]);
    let state = Migration::fold(&running);
    let (claims, releases) = MigrationEvent::MigrationCancelled { accounts: vec![] }.claims(&state);
    assert!(claims.is_empty());
    assert_eq!(releases.len(), 2);
    let mut cancelled = running.to_vec();
    cancelled.push(MigrationEvent::MigrationCancelled {
        accounts: vec![id(102)],
    });
    given::<Migration>(&cancelled)
        .when(MigrationCommand::Rerun)
        .then_err(DomainError::MigrationEnded);
    given::<Migration>(&cancelled)
        .when(MigrationCommand::BeginCheck {
            account_id: id(102),
        })
        .then_err(DomainError::MigrationEnded);
    given::<Migration>(&cancelled)
        .when(MigrationCommand::Cancel)
        .then(&[]);
}

#[test]
fn after_thirty_days_the_task_expires_and_refuses_work() {
    let running = [created(), added(&[1]), started(&[1])];
    given::<Migration>(&running)
        .at(day(VALID_DAYS - 1))
        .when(MigrationCommand::ExpireIfDue)
        .then(&[]);
    given::<Migration>(&running)
        .at(day(VALID_DAYS))
        .when(MigrationCommand::ExpireIfDue)
        .then(&[MigrationEvent::MigrationExpired {
            accounts: vec![id(101)],
        }]);
    given::<Migration>(&running)
        .at(day(VALID_DAYS))
        .when(MigrationCommand::BeginCheck {
            account_id: id(101),
        })
        .then_err(DomainError::MigrationEnded);
}

#[test]
fn accounts_added_after_a_run_ended_start_their_own_run() {
    let done = [
        created(),
        added(&[1]),
        started(&[1]),
        checking(1),
        copying(1, CopyMode::Mirror),
        succeeded(1),
        MigrationEvent::MigrationCompleted {},
    ];
    given::<Migration>(&done)
        .when(MigrationCommand::AddAccounts {
            accounts: vec![account(2)],
        })
        .then(&[
            added(&[2]),
            MigrationEvent::MigrationRunStarted {
                run: 2,
                accounts: vec![id(102)],
            },
        ]);
}

#[test]
fn a_pop3_task_is_not_re_run() {
    let pop3 = MigrationEvent::MigrationCreated {
        migration_id: id(1),
        organization_id: id(2),
        source: MailSource {
            protocol: MailProtocol::Pop3,
            port: 110,
            tls: false,
            ..source()
        },
        expires_at: day(VALID_DAYS),
    };
    let done = [
        pop3,
        added(&[1]),
        started(&[1]),
        checking(1),
        copying(1, CopyMode::Mirror),
        succeeded(1),
        MigrationEvent::MigrationCompleted {},
    ];
    given::<Migration>(&done)
        .when(MigrationCommand::Rerun)
        .then_invalid();
}
