-- A stream's folded state at a revision, so a command loading a long stream (a subscription
-- holding tens of thousands of seats) reads this row and the events after it instead of the
-- whole stream. A cache of the log: deleting every row changes nothing but speed.
CREATE TABLE snapshots (
    stream_name  text PRIMARY KEY,
    revision     bigint NOT NULL,
    -- The decider's snapshot version: a row of another version is ignored.
    version      integer NOT NULL,
    state        jsonb NOT NULL,
    saved_at     timestamptz NOT NULL DEFAULT now()
);
