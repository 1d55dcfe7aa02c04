-- Each session once more as one binary record (src/session/record.rs), the form the gateway
-- reads back: two values per session instead of thirteen after a restart. The readable
-- columns stay for queries and operators. Sessions written before this have none and are
-- read from the columns.
ALTER TABLE sessions ADD COLUMN record BLOB;
