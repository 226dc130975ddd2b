-- Text messages a use case asked for (invitations, password resets), to rate-limit them per
-- organization and per phone. The phone is kept only as a hash; rows older than a day are
-- pruned by the timer worker's sweep of operational tables (a cheap DELETE by time).
CREATE TABLE sms_allowances (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    phone_hash       text NOT NULL,
    requested_at     timestamptz NOT NULL
);
CREATE INDEX sms_allowances_by_organization ON sms_allowances (organization_id, requested_at);
CREATE INDEX sms_allowances_by_phone ON sms_allowances (phone_hash, requested_at);
