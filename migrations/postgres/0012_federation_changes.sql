-- Issue 21: the federation is run from Brygga. Every change an administrator makes to a
-- municipality, a category or an agreement is a new federation version, kept in
-- `federation_changes` (who, when, what, the item as it became); replicas follow the highest
-- version. An agreement is a legal document: each of its versions, drafts included, is kept in
-- `agreement_versions` with its author and who signed it. A municipality may keep categories
-- at home (`keeps_home`, a JSON array of category ids): its residents' requests in them are
-- never routed to another member.

CREATE TABLE federation_changes (
    version     BIGINT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    actor_name  TEXT,
    item        TEXT NOT NULL CHECK (item IN ('municipality', 'category', 'agreement')),
    item_id     TEXT NOT NULL,
    change      TEXT NOT NULL,
    body        JSONB NOT NULL           -- JSON: the item as it became (null when removed)
);

CREATE TABLE agreement_versions (
    agreement_id   TEXT NOT NULL,
    version        BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('draft', 'signed', 'superseded', 'discarded')),
    body           JSONB NOT NULL,       -- JSON: the agreement as this version words it
    note           TEXT,
    author         TEXT NOT NULL,
    author_name    TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    signed_by      TEXT,
    signed_by_name TEXT,
    signed_at      TIMESTAMPTZ,
    PRIMARY KEY (agreement_id, version)
);

ALTER TABLE municipalities ADD COLUMN keeps_home JSONB NOT NULL DEFAULT '[]'::jsonb;
