-- The event store: events, uniqueness claims, consumer checkpoints.
--
-- Global order is (tx_id, seq): the id of the writing transaction, then a sequence number.
-- Readers of $all and of categories only read below the oldest transaction still running
-- (pg_snapshot_xmin), so an event whose transaction commits late is never skipped.
-- See DESIGN.md, "Event store semantics".

-- A stream is the set of its events: the unique (stream_name, stream_revision) index is both
-- the stream's read path and its optimistic-concurrency check (two appends of the same
-- revision cannot both commit), so no per-stream row is updated on the hot path.
CREATE TABLE events (
    seq              bigserial NOT NULL,
    tx_id            bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    event_id         uuid NOT NULL,
    stream_name      text NOT NULL,
    category         text NOT NULL,
    stream_revision  bigint NOT NULL,
    event_type       text NOT NULL,
    data             jsonb NOT NULL,
    metadata         jsonb NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_position_pkey PRIMARY KEY (tx_id, seq),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_revision_key UNIQUE (stream_name, stream_revision)
);

CREATE INDEX events_category_position_idx ON events (category, tx_id, seq);

-- Set validation across streams: (scope, key) is held by one stream at a time.
CREATE TABLE claims (
    scope        text NOT NULL,
    key          text NOT NULL,
    stream_name  text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT claims_pkey PRIMARY KEY (scope, key)
);

CREATE INDEX claims_stream_idx ON claims (stream_name);

-- Where each named consumer (projection, worker, subscriber) has got to in $all.
CREATE TABLE checkpoints (
    consumer    text PRIMARY KEY,
    tx_id       bigint NOT NULL,
    seq         bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
