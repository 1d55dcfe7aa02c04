-- The guest directory: users, invitations, groups, app assignments, admin API keys, audit
-- events, and the revocation feed other gateway processes poll. Times are Unix seconds.

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    user_type       TEXT NOT NULL,              -- Guest | Member
    state           TEXT NOT NULL,              -- PendingAcceptance | Accepted
    upn             TEXT NOT NULL UNIQUE,
    mail            TEXT NOT NULL UNIQUE,       -- lower-case
    display_name    TEXT NOT NULL,
    company         TEXT,
    invited_by      TEXT,
    sponsor         TEXT,
    created_at      BIGINT NOT NULL,
    redeemed_at     BIGINT,
    last_sign_in_at BIGINT,
    expires_at      BIGINT,
    disabled        BIGINT NOT NULL DEFAULT 0,  -- 0 or 1 (sqlx Any has no SQLite bool)
    idp             TEXT,
    issuer          TEXT,
    subject         TEXT,
    UNIQUE (issuer, subject)
);

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    redirect_url     TEXT NOT NULL,
    apps             TEXT NOT NULL,             -- JSON array of app ids
    groups           TEXT NOT NULL,             -- JSON array of group names
    invited_by       TEXT NOT NULL,
    message          TEXT,
    secret_hash      TEXT NOT NULL UNIQUE,      -- SHA-256 of the link secret, hex
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    status           TEXT NOT NULL,             -- PendingAcceptance | Accepted | Revoked
    redeemed_at      BIGINT,
    email_status     TEXT NOT NULL,             -- NotRequested | Queued | Sent | Failed
    email_error      TEXT,
    email_attempts   BIGINT NOT NULL DEFAULT 0,
    email_updated_at BIGINT
);
CREATE INDEX invitations_by_user ON invitations (user_id);

CREATE TABLE groups (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE group_owners (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    owner    TEXT NOT NULL,                     -- an email address, lower-case
    PRIMARY KEY (group_id, owner)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE assignments (
    app            TEXT NOT NULL,
    principal_type TEXT NOT NULL,               -- user | group
    principal_id   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (app, principal_type, principal_id)
);
CREATE INDEX assignments_by_principal ON assignments (principal_type, principal_id);

CREATE TABLE admin_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL UNIQUE,          -- SHA-256 of the key, hex
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE audit_events (
    seq    BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at);

-- Every "this user's sessions end now" goes here; each gateway process polls it and drops
-- the user's sessions from its cache, so a removal from the CLI reaches a running gateway.
CREATE TABLE revocations (
    seq     BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    at      BIGINT NOT NULL
);
