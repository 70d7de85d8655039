-- The router: rings that widen with waiting time, offers (reservations that are accepted,
-- rejected or expire), per-category routing settings, and the municipalities each case may be
-- handled in (policy output with its reasons, so queues and access checks are one join).

ALTER TABLE cases ADD COLUMN ring_since TEXT;              -- when the current ring began
ALTER TABLE cases ADD COLUMN assigned_at TEXT;             -- last claim or accepted offer
ALTER TABLE cases ADD COLUMN target_municipality TEXT;     -- a transfer's target
ALTER TABLE cases ADD COLUMN transfer_reason TEXT;
ALTER TABLE caseworkers ADD COLUMN last_assigned_at TEXT;

CREATE TABLE case_permits (
    case_id       TEXT NOT NULL REFERENCES cases (id),
    municipality  TEXT NOT NULL REFERENCES municipalities (code),
    ring          INTEGER NOT NULL,
    policies      TEXT NOT NULL,                           -- JSON array of rule ids
    PRIMARY KEY (case_id, municipality)
);
CREATE INDEX case_permits_by_municipality ON case_permits (municipality, ring);

CREATE TABLE offers (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    caseworker_id TEXT NOT NULL REFERENCES caseworkers (id),
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ended_at      TEXT,
    outcome       TEXT CHECK (outcome IN ('accepted', 'rejected', 'timed_out', 'rescinded', 'withdrawn'))
);
CREATE INDEX offers_open ON offers (expires_at) WHERE ended_at IS NULL;
CREATE INDEX offers_by_case ON offers (case_id);
CREATE INDEX offers_by_caseworker ON offers (caseworker_id, ended_at);

CREATE TABLE routing_settings (
    category            TEXT PRIMARY KEY REFERENCES categories (id),
    mode                TEXT NOT NULL CHECK (mode IN ('push', 'pull')),
    ring_timeouts       TEXT NOT NULL,                     -- JSON: seconds in ring 0, ring 1
    offer_timeout_secs  INTEGER NOT NULL CHECK (offer_timeout_secs > 0),
    fair_share_per_10k  REAL,                              -- cross-border cases a day per 10 000 inhabitants
    updated_at          TEXT NOT NULL,
    updated_by          TEXT NOT NULL
);
