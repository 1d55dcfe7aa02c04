-- SAML assertion ids seen, until the assertion could no longer be used anyway: a replayed
-- response (same assertion id) is refused by whichever instance receives it.
CREATE TABLE saml_assertions (
    id_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX saml_assertions_expires_at ON saml_assertions (expires_at);
