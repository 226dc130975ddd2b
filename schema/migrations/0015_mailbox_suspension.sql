-- A disabled member's mailbox is suspended (logins refused, mail kept). The flag outlives
-- provisioning, so a mailbox suspended before the data plane made it comes up SUSPENDED.
ALTER TABLE mailboxes ADD COLUMN suspended boolean NOT NULL DEFAULT false;
