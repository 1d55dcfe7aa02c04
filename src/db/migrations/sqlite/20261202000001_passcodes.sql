-- Email one-time passcodes (see src/directory/passcodes.rs): one row per address, so only
-- the newest code is valid, and the failure count and lock-out belong to the address, not
-- to a browser. Rows exist for addresses nobody invited too: guessing against them locks the
-- same way, so a lock-out says nothing about who is a guest.
CREATE TABLE passcodes (
    address TEXT PRIMARY KEY,
    salt TEXT,
    code_hash TEXT,
    expires_at BIGINT,
    failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);
