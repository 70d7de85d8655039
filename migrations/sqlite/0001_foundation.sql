-- Foundation schema: federation configuration, caseworkers, sessions, cases with their
-- messages, consents, routing traces and audit events. SQLite variant; PostgreSQL has the
-- same tables in migrations/postgres. Timestamps are RFC 3339 text written by sqlx (UTC).

CREATE TABLE federation (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    languages   TEXT NOT NULL            -- JSON array of ISO 639-1 codes
);

CREATE TABLE municipalities (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    population  INTEGER NOT NULL,
    socialjour_phone TEXT
);

CREATE TABLE categories (
    id                  TEXT PRIMARY KEY,
    position            INTEGER NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('service', 'authority', 'volunteer')),
    urgent              BOOLEAN NOT NULL,
    must_stay_home      BOOLEAN NOT NULL,
    family_counselling  BOOLEAN NOT NULL,
    name_sv             TEXT NOT NULL,
    name_en             TEXT NOT NULL
);

CREATE TABLE agreements (
    id                       TEXT PRIMARY KEY,
    members                  TEXT NOT NULL,  -- JSON array of municipality codes
    categories               TEXT NOT NULL,  -- JSON array of category ids
    valid_from               TEXT NOT NULL,  -- inclusive calendar date, Europe/Stockholm
    valid_to                 TEXT NOT NULL,
    delegates_authority      BOOLEAN NOT NULL,
    covers_minors            BOOLEAN NOT NULL,
    names_family_counselling BOOLEAN NOT NULL
);

CREATE TABLE caseworkers (
    id                           TEXT PRIMARY KEY,
    municipality                 TEXT NOT NULL REFERENCES municipalities (code),
    name                         TEXT NOT NULL,
    skills                       TEXT NOT NULL,  -- JSON array of category ids
    languages                    TEXT NOT NULL,  -- JSON array of language codes
    max_capacity                 INTEGER NOT NULL CHECK (max_capacity >= 0),
    capacity                     INTEGER NOT NULL CHECK (capacity >= 0 AND capacity <= max_capacity),
    status                       TEXT NOT NULL CHECK (status IN ('available', 'away')),
    protected_identity_clearance BOOLEAN NOT NULL,
    status_since                 TEXT NOT NULL
);
CREATE INDEX caseworkers_by_municipality ON caseworkers (municipality);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,            -- SHA-256 of the bearer token; the token itself is never stored
    principal   TEXT NOT NULL,               -- JSON
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE cases (
    id                  TEXT PRIMARY KEY,
    category            TEXT NOT NULL REFERENCES categories (id),
    language            TEXT NOT NULL,
    channel             TEXT NOT NULL CHECK (channel IN ('identified', 'anonymous')),
    urgent              BOOLEAN NOT NULL,
    home                TEXT NOT NULL REFERENCES municipalities (code),
    citizen_personnummer TEXT,
    citizen_home        TEXT,
    citizen_protection  TEXT,
    citizen_loa         TEXT,
    access_code_hash    TEXT,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'offered', 'assigned', 'waiting_citizen', 'closed', 'cancelled')),
    ring                INTEGER NOT NULL,
    owner               TEXT REFERENCES caseworkers (id),
    handler             TEXT REFERENCES municipalities (code),
    outcome             TEXT,
    interpreter_needed  BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    queued_since        TEXT NOT NULL,
    closed_at           TEXT
);
CREATE INDEX cases_queue ON cases (home, state, urgent, queued_since);
CREATE INDEX cases_by_owner ON cases (owner, state);
CREATE INDEX cases_by_citizen ON cases (citizen_personnummer, created_at);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    sender      TEXT NOT NULL CHECK (sender IN ('citizen', 'caseworker')),
    author      TEXT,
    body        TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX messages_by_case ON messages (case_id, id);

CREATE TABLE consents (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id             TEXT NOT NULL REFERENCES cases (id),
    cross_municipality  BOOLEAN NOT NULL,
    municipalities      TEXT,                -- JSON array; NULL = every member with a covering agreement
    at                  TEXT NOT NULL
);
CREATE INDEX consents_by_case ON consents (case_id, id);

CREATE TABLE routing_traces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    at          TEXT NOT NULL,
    trace       TEXT NOT NULL                -- JSON
);
CREATE INDEX routing_traces_by_case ON routing_traces (case_id, id);

CREATE TABLE audit_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  TEXT NOT NULL,
    actor               TEXT NOT NULL,
    actor_municipality  TEXT,
    municipality        TEXT NOT NULL,       -- whose chain: the case's home (the controller)
    action              TEXT NOT NULL,
    case_id             TEXT,
    policies            TEXT NOT NULL,       -- JSON array of the rule ids that permitted it
    detail              TEXT NOT NULL        -- JSON
);
CREATE INDEX audit_events_by_case ON audit_events (case_id, id);
