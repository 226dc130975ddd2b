-- Subjects (`member-{uuid}`, `invitation-{uuid}`) are compared byte by byte: a reader looks up
-- the keys of a page's people on every page, and the database's own collation made each of
-- those index probes several times dearer for no ordering anyone needs.
ALTER TABLE personal_keys ALTER COLUMN subject TYPE text COLLATE "C";
