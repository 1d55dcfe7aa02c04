-- Sign-in flow states waiting for the browser's next request (see src/signin/flow_store.rs).
CREATE TABLE flows (
    id_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX flows_expires_at ON flows (expires_at);
