-- Member imports started from the console: the page polls their progress and offers the
-- per-row report. No password is kept: the rows live in the importing task's memory only;
-- a report row holds the line, the account and the outcome.
CREATE TABLE console_imports (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    account          text NOT NULL,
    total            integer NOT NULL,
    done             integer NOT NULL DEFAULT 0,
    results          jsonb NOT NULL DEFAULT '[]',
    started_at       timestamptz NOT NULL,
    heartbeat_at     timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE INDEX console_imports_organization_idx ON console_imports (organization_id, started_at DESC);
