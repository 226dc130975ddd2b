-- One data key per person (a member, an admin invitee), outside the log: events keep the
-- person's name, phone, e-mail and addresses sealed with it (crypto-shredding). Erasing the
-- person empties `wrapped_key`; the row stays as a tombstone so a later event about the same
-- person is written with placeholders instead of under a fresh key.
CREATE TABLE personal_keys (
    subject      text PRIMARY KEY,
    -- The organization the person belongs to: dissolving it erases every key of the group.
    grp          text,
    -- The data key sealed with the key derived from MAILPLANE_SECRET_KEY; NULL once erased.
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz
);
CREATE INDEX personal_keys_group_idx ON personal_keys (grp);
