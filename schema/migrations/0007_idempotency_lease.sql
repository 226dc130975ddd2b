-- A request running under an idempotency key holds a lease it renews while it runs. A
-- process killed mid-request stops renewing: once the lease is over, a retry with the same
-- key takes the request over instead of waiting for an answer that will never come.
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz NOT NULL DEFAULT now();
