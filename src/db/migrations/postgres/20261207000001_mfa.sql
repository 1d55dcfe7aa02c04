-- MFA the gateway performs (src/mfa/): each user's methods, their recovery codes and the
-- wrong-code count that locks the account's second factor.
CREATE TABLE mfa_methods (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    -- The TOTP secret, sealed with AES-256-GCM under the key in [mfa] key_file, bound to
    -- the row's id and user; a copy of the database alone does not reveal it.
    secret     TEXT NOT NULL,
    -- Pending until the first code proves the authenticator holds the secret.
    confirmed  BIGINT NOT NULL DEFAULT 0,
    -- The last time step accepted: a code of that step or before is a replay.
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX mfa_methods_by_user ON mfa_methods (user_id);

-- Single-use recovery codes, stored as SHA-256 (they are random, 50 bits each).
CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_lockouts (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);

-- MFA the gateway performed for a session: its strength and when.
ALTER TABLE sessions ADD COLUMN mfa TEXT;
ALTER TABLE sessions ADD COLUMN mfa_at BIGINT;
