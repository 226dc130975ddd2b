-- Read models, folded from events by the projections runner (projections crate). They are
-- derived data: `mailplane projections rebuild` recreates them from the log.

CREATE TABLE subscriptions (
    id                uuid PRIMARY KEY,
    order_id          text NOT NULL,
    buyer_account_id  text NOT NULL,
    edition           text NOT NULL,
    seats             integer NOT NULL,
    authorized        integer NOT NULL DEFAULT 0,
    status            text NOT NULL,
    trial_ends_at     timestamptz,
    activated_at      timestamptz,
    expires_at        timestamptz,
    paid              bigint NOT NULL DEFAULT 0,
    currency          text NOT NULL DEFAULT '',
    organization_id   uuid,
    data_delete_due   timestamptz,
    created_at        timestamptz NOT NULL
);
CREATE INDEX subscriptions_buyer_idx ON subscriptions (buyer_account_id);

CREATE TABLE organizations (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    identifier       text NOT NULL,
    creator_account  text NOT NULL,
    as_reseller      boolean NOT NULL,
    subscription_id  uuid,
    dissolved        boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL
);

CREATE TABLE organization_admins (
    organization_id  uuid NOT NULL,
    account          text NOT NULL,
    PRIMARY KEY (organization_id, account)
);
CREATE INDEX organization_admins_account_idx ON organization_admins (account);

CREATE TABLE departments (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    parent_id        uuid,
    authorized       boolean NOT NULL DEFAULT false
);
CREATE INDEX departments_organization_idx ON departments (organization_id);

CREATE TABLE invitations (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    phone            text NOT NULL,
    email            text NOT NULL,
    expires_at       timestamptz NOT NULL,
    status           text NOT NULL,
    accepted_by      text
);
CREATE INDEX invitations_organization_idx ON invitations (organization_id);

CREATE TABLE members (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    account          text NOT NULL,
    phone            text,
    email            text,
    department_id    uuid,
    role             text NOT NULL,
    employment_type  text NOT NULL,
    hire_date        date,
    status           text NOT NULL,
    authorized       boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL
);
CREATE INDEX members_organization_idx ON members (organization_id, created_at, id);
CREATE INDEX members_department_idx ON members (department_id);

CREATE TABLE mail_domains (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    display_name     text NOT NULL,
    mode             text NOT NULL,
    status           text NOT NULL,
    records          jsonb NOT NULL,
    results          jsonb NOT NULL DEFAULT '[]',
    removed          boolean NOT NULL DEFAULT false
);
CREATE INDEX mail_domains_organization_idx ON mail_domains (organization_id);

CREATE TABLE mailboxes (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    member_id        uuid NOT NULL,
    domain_id        uuid NOT NULL,
    address          text NOT NULL,
    status           text NOT NULL,
    failure          text,
    closed_at        timestamptz,
    purge_after      timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX mailboxes_organization_idx ON mailboxes (organization_id, created_at, id);
CREATE INDEX mailboxes_member_idx ON mailboxes (member_id);
CREATE INDEX mailboxes_address_idx ON mailboxes (address);

-- Who did what, when: one row per event of an organization's streams.
CREATE TABLE audit_log (
    tx_id            bigint NOT NULL,
    seq              bigint NOT NULL,
    organization_id  uuid,
    stream_name      text NOT NULL,
    event_type       text NOT NULL,
    actor            text,
    correlation_id   uuid,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (tx_id, seq)
);
CREATE INDEX audit_log_organization_idx ON audit_log (organization_id, tx_id DESC, seq DESC);

-- The organization each stream belongs to, as the audit log learns it from the events.
CREATE TABLE audit_streams (
    stream_name      text PRIMARY KEY,
    organization_id  uuid NOT NULL
);
