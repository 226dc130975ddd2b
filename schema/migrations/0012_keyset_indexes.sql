-- Member and mailbox lists page by id after a cursor (keyset paging): these serve the
-- organization's list, and a department's, at any depth with one index range scan.
CREATE INDEX members_organization_id_idx ON members (organization_id, id);
CREATE INDEX members_department_id_idx ON members (organization_id, department_id, id);
CREATE INDEX mailboxes_organization_id_idx ON mailboxes (organization_id, id);

-- Who holds the addresses a new mailbox may take: a range of addresses by local-part
-- prefix (byte order), never every mailbox of the domain.
CREATE INDEX mailboxes_address_prefix_idx ON mailboxes ((address COLLATE "C"));
