-- Long work started from the console (a member import, opening many mailboxes): the page
-- polls its progress and offers the per-line report. No password is kept: an import's rows
-- live in the working task's memory only; a result holds a line (or a member's position),
-- an account and the outcome.
CREATE TABLE console_jobs (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    account          text NOT NULL,
    -- IMPORT or OPEN_MAILBOXES.
    kind             text NOT NULL,
    total            integer NOT NULL,
    done             integer NOT NULL DEFAULT 0,
    results          jsonb NOT NULL DEFAULT '[]',
    started_at       timestamptz NOT NULL,
    heartbeat_at     timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE INDEX console_jobs_organization_idx ON console_jobs (organization_id, kind, started_at DESC);
