-- Console sign-ins. Neither the session cookie nor the sign-in token is stored: only their
-- SHA-256, so a copy of this table opens nothing. Signing out deletes the row; a row past
-- its idle or absolute end is refused and pruned.
CREATE TABLE console_sessions (
    id_hash          text PRIMARY KEY,
    account          text NOT NULL,
    created_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Sign-in tokens already exchanged for a session: a link works once.
CREATE TABLE console_used_tokens (
    token_hash       text PRIMARY KEY,
    expires_at       timestamptz NOT NULL
);
