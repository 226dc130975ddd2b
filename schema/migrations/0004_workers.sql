-- Due times, filled from events by the timers projection; the timer worker fires a due row
-- (locked with SKIP LOCKED, so several workers never fire one twice) and removes or
-- reschedules it.
CREATE TABLE timers (
    kind       text NOT NULL,
    subject    uuid NOT NULL,
    stream     text NOT NULL,
    due_at     timestamptz NOT NULL,
    -- DNS re-checks stop after this time.
    not_after  timestamptz,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX timers_due ON timers (due_at);

-- Events a worker cannot handle (a permanent failure): parked here, visible to operators,
-- never blocking the events after them.
CREATE TABLE parked_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    stream_name  text NOT NULL,
    event_type   text NOT NULL,
    position     text NOT NULL,
    reason       text NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
