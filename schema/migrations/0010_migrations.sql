-- Mail migration tasks (`migration-{id}` streams): a read model of tasks and accounts,
-- rebuilt from the log like every projection.
CREATE TABLE migrations (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    host             text NOT NULL,
    port             integer NOT NULL,
    protocol         text NOT NULL,
    tls              boolean NOT NULL,
    status           text NOT NULL,
    reachable        boolean,
    connection_error text,
    run              integer NOT NULL DEFAULT 0,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX migrations_organization_idx ON migrations (organization_id, created_at DESC, id);

CREATE TABLE migration_accounts (
    id                uuid PRIMARY KEY,
    migration_id      uuid NOT NULL,
    line              integer NOT NULL,
    old_account       text NOT NULL,
    mailbox_id        uuid NOT NULL,
    address           text NOT NULL,
    status            text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    not_before        timestamptz,
    mode              text,
    messages_total    bigint NOT NULL DEFAULT 0,
    failure           text,
    failure_reason    text,
    -- Per folder [{name, total, copied, skipped, bytes}] of the last successful run.
    folders           jsonb NOT NULL DEFAULT '[]',
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX migration_accounts_task_idx ON migration_accounts (migration_id, line, id);
-- The workers' queue: accounts of running tasks that are not finished.
CREATE INDEX migration_accounts_waiting_idx ON migration_accounts (migration_id, status)
    WHERE status IN ('NOT_STARTED', 'CHECKING', 'MIGRATING');

-- Live copy progress per account and folder, written by the migration worker while it
-- copies (not a projection: operational state, like console_jobs).
CREATE TABLE migration_progress (
    account_id   uuid NOT NULL,
    folder       text NOT NULL,
    total        bigint NOT NULL,
    copied       bigint NOT NULL,
    bytes        bigint NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, folder)
);

-- Work on an account is a lease: a worker that stops renewing it (crashed, killed) loses
-- it, and the account is resumed by whoever claims it next.
CREATE TABLE migration_leases (
    account_id    uuid PRIMARY KEY,
    migration_id  uuid NOT NULL,
    holder        uuid NOT NULL,
    expires_at    timestamptz NOT NULL
);
