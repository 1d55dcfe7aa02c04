-- Server-side sessions. The cookie carries a random 256-bit id; only its SHA-256 is stored,
-- so a copy of this table cannot be replayed as cookies.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    user_key     TEXT NOT NULL,
    idp          TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    amr          TEXT NOT NULL,
    acr          TEXT,
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_key);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
