-- Identity: API tokens (issued to a logged-in browser session, or long-lived integration
-- tokens created by administrators) and the server-side browser sessions (tower-sessions on
-- Brygga's store). Only SHA-256 hashes of tokens and session ids are stored.

DROP TABLE sessions;

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,             -- public id, for listing and revocation
    token_hash   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'integration')),
    principal    TEXT NOT NULL,               -- who the token acts as
    name         TEXT,                         -- an integration's name
    scopes       TEXT NOT NULL,               -- ["read"] or ["read", "write"]
    web_session  TEXT,                         -- hash of the browser session it was issued to
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_by_web_session ON api_tokens (web_session);

CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    data         TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
