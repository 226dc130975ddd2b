-- Secrets encrypted with AES-256-GCM (key outside the database); deleted after use.
CREATE TABLE secrets (
    purpose     text NOT NULL,
    subject     uuid NOT NULL,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, subject)
);

-- The first answer of a mutation sent with an idempotency key, per principal.
CREATE TABLE idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    operation     text NOT NULL,
    request_hash  text NOT NULL,
    answer        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
