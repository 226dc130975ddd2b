-- Webhook endpoints (registered by operators for billing and other consumers). Each
-- endpoint's position in the log is its checkpoint, consumer `webhook:<id>`.
CREATE TABLE webhooks (
    id             uuid PRIMARY KEY,
    url            text NOT NULL,
    categories     text[] NOT NULL DEFAULT '{}',
    -- ACTIVE, PAUSED, or FAILING (flagged: keeps failing; deliveries go on being retried).
    status         text NOT NULL DEFAULT 'ACTIVE',
    failing_since  timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Signing secrets; their values are encrypted in `secrets` (purpose webhook_secret,
-- subject = this id). A rotated-out secret keeps signing until it expires.
CREATE TABLE webhook_secrets (
    id          uuid PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX webhook_secrets_webhook_idx ON webhook_secrets (webhook_id);

-- Every delivery attempt, per endpoint.
CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    webhook_id    uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id      uuid NOT NULL,
    position      text NOT NULL,
    event_type    text NOT NULL,
    attempt       integer NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   integer NOT NULL,
    outcome       text NOT NULL,   -- DELIVERED, FAILED (retried), GAVE_UP (after 3 days)
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id DESC);
