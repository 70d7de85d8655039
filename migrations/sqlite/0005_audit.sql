-- The audit trail made tamper-evident (DESIGN.md "Audit and data protection"): one HMAC chain
-- per municipality (the controller's), its head taken under a lock, checkpoints of the heads
-- outside the audit table, and the table append-only in the database itself.

ALTER TABLE audit_events ADD COLUMN seq INTEGER;            -- position in its municipality's chain
ALTER TABLE audit_events ADD COLUMN role TEXT;              -- citizen, anonymous, caseworker, admin, system
ALTER TABLE audit_events ADD COLUMN request_id TEXT;        -- the HTTP request that caused it
ALTER TABLE audit_events ADD COLUMN prev_mac TEXT;
ALTER TABLE audit_events ADD COLUMN mac TEXT;                -- HMAC-SHA256 over the content and prev_mac
CREATE UNIQUE INDEX audit_events_chain ON audit_events (municipality, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, at);
CREATE INDEX audit_events_by_time ON audit_events (at);

-- Events written before the chain existed: sealed into it once, at the first start with a key.
CREATE TABLE audit_legacy (
    max_id   INTEGER NOT NULL
);
INSERT INTO audit_legacy (max_id) SELECT COALESCE(MAX(id), 0) FROM audit_events;

CREATE TABLE audit_heads (
    municipality  TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,
    mac           TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    municipality  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    mac           TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_by_municipality ON audit_checkpoints (municipality, id);

-- Append-only: no update (except sealing a legacy row once) and no delete.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    WHEN OLD.mac IS NOT NULL OR NEW.mac IS NULL
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
