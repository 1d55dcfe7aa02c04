-- Terms of use accepted (src/signin/terms.rs): one row per user, document and version, so
-- a new version is asked for again and the history stays.
CREATE TABLE terms_acceptances (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    terms_id    TEXT NOT NULL,
    version     TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, terms_id, version)
);
