-- The audit trail made tamper-evident (DESIGN.md "Audit and data protection"): one HMAC chain
-- per municipality (the controller's), its head taken under a lock, checkpoints of the heads
-- outside the audit table, and the table append-only in the database itself.

ALTER TABLE audit_events ADD COLUMN seq BIGINT;            -- position in its municipality's chain
ALTER TABLE audit_events ADD COLUMN role TEXT;             -- citizen, anonymous, caseworker, admin, system
ALTER TABLE audit_events ADD COLUMN request_id TEXT;       -- the HTTP request that caused it
ALTER TABLE audit_events ADD COLUMN prev_mac TEXT;
ALTER TABLE audit_events ADD COLUMN mac TEXT;               -- HMAC-SHA256 over the content and prev_mac
CREATE UNIQUE INDEX audit_events_chain ON audit_events (municipality, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, at);
CREATE INDEX audit_events_by_time ON audit_events (at);

-- Events written before the chain existed: sealed into it once, at the first start with a key.
CREATE TABLE audit_legacy (
    max_id   BIGINT NOT NULL
);
INSERT INTO audit_legacy (max_id) SELECT COALESCE(MAX(id), 0) FROM audit_events;

CREATE TABLE audit_heads (
    municipality  TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL,
    mac           TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    mac           TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_checkpoints_by_municipality ON audit_checkpoints (municipality, id);

-- Append-only: no update (except sealing a legacy row once) and no delete or truncate.
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.mac IS NULL AND NEW.mac IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
