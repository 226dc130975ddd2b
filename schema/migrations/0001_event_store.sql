-- The event store: streams, events, uniqueness claims, consumer checkpoints.
--
-- Global order is (tx_id, seq): the id of the writing transaction, then a sequence number.
-- Readers of $all and of categories only read below the oldest transaction still running
-- (pg_snapshot_xmin), so an event whose transaction commits late is never skipped.
-- See DESIGN.md, "Event store semantics".

-- One row per stream: its last revision and the transaction that wrote it last. The row is
-- the optimistic-concurrency lock of the stream; there is no global lock.
CREATE TABLE streams (
    stream_name  text PRIMARY KEY,
    category     text NOT NULL,
    revision     bigint NOT NULL,
    last_tx_id   bigint NOT NULL
);

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
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
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

-- Appends a batch of events to one stream, checking the expected revision.
-- expected_kind: 'any' | 'no_stream' | 'stream_exists' | 'exact' (then expected_revision).
-- Returns one row instead of raising, so a refusal leaves the caller's transaction usable:
--   outcome 'ok'        revision = the stream's new last revision
--   outcome 'wrong'     revision = the actual last revision (-1: no stream)
--   outcome 'duplicate' every event id is already in this stream (an idempotent retry):
--                       nothing written, revision = the last of those events
--   outcome 'elsewhere' an event id is already in other_stream: nothing written
--   outcome 'partial'   some event ids are already in this stream, some are new
--   outcome 'reordered' a transaction that started later has already written this stream;
--                       committing would put this stream's events out of order in $all, so
--                       the caller retries in a new transaction (which gets a newer id)
CREATE FUNCTION append_to_stream(
    p_stream_name text,
    p_category text,
    p_expected_kind text,
    p_expected_revision bigint,
    p_event_ids uuid[],
    p_event_types text[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (outcome text, revision bigint, other_stream text, tx_id bigint, seq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_count     bigint := cardinality(p_event_ids);
    v_tx        bigint := pg_current_xact_id()::text::bigint;
    v_current   bigint;
    v_last_tx   bigint;
    v_new       bigint;
    v_dups      bigint;
    v_dups_here bigint;
    v_dup_rev   bigint;
    v_other     text;
    v_seq       bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE e.stream_name = p_stream_name),
           max(e.stream_revision) FILTER (WHERE e.stream_name = p_stream_name),
           min(e.stream_name) FILTER (WHERE e.stream_name <> p_stream_name)
    INTO v_dups, v_dups_here, v_dup_rev, v_other
    FROM events e WHERE e.event_id = ANY (p_event_ids);
    IF v_dups > 0 THEN
        IF v_other IS NOT NULL THEN
            RETURN QUERY SELECT 'elsewhere'::text, NULL::bigint, v_other, NULL::bigint, NULL::bigint;
        ELSIF v_dups_here = v_count THEN
            RETURN QUERY SELECT 'duplicate'::text, v_dup_rev, NULL::text, e.tx_id, e.seq
                FROM events e WHERE e.stream_name = p_stream_name AND e.stream_revision = v_dup_rev;
        ELSE
            RETURN QUERY SELECT 'partial'::text, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint;
        END IF;
        RETURN;
    END IF;

    LOOP
        -- FOR UPDATE waits for a concurrent writer of this stream and then returns the row it
        -- committed, so the checks below always see the latest revision.
        SELECT s.revision, s.last_tx_id INTO v_current, v_last_tx
        FROM streams s WHERE s.stream_name = p_stream_name FOR UPDATE;
        EXIT WHEN FOUND;
        IF p_expected_kind IN ('stream_exists', 'exact') THEN
            RETURN QUERY SELECT 'wrong'::text, -1::bigint, NULL::text, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        INSERT INTO streams (stream_name, category, revision, last_tx_id)
        VALUES (p_stream_name, p_category, v_count - 1, v_tx)
        ON CONFLICT (stream_name) DO NOTHING;
        IF FOUND THEN
            v_new := v_count - 1;
            EXIT;
        END IF;
        -- Another transaction created the stream meanwhile: look again.
    END LOOP;

    IF v_new IS NULL THEN
        IF p_expected_kind = 'no_stream'
           OR (p_expected_kind = 'exact' AND v_current <> p_expected_revision) THEN
            RETURN QUERY SELECT 'wrong'::text, v_current, NULL::text, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        IF v_last_tx > v_tx THEN
            RETURN QUERY SELECT 'reordered'::text, v_current, NULL::text, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        v_new := v_current + v_count;
        UPDATE streams SET revision = v_new, last_tx_id = v_tx WHERE stream_name = p_stream_name;
    END IF;

    WITH inserted AS (
        INSERT INTO events (event_id, stream_name, category, stream_revision, event_type, data, metadata)
        SELECT e.event_id, p_stream_name, p_category, v_new - v_count + e.ord, e.event_type, e.data, e.metadata
        FROM unnest(p_event_ids, p_event_types, p_data, p_metadata) WITH ORDINALITY
             AS e(event_id, event_type, data, metadata, ord)
        ORDER BY e.ord
        RETURNING events.seq
    )
    SELECT max(i.seq) INTO v_seq FROM inserted i;

    RETURN QUERY SELECT 'ok'::text, v_new, NULL::text, v_tx, v_seq;
END;
$$;
