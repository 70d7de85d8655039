-- Policies: the consent and harm assessment as they stand on the case (the policies read them
-- at every access; the history stays in `consents` and `harm_assessments`), and the stored
-- versions of the Cedar policy set.

ALTER TABLE cases ADD COLUMN consent_cross_municipality BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN consent_municipalities TEXT;   -- NULL = every member with a covering agreement
ALTER TABLE cases ADD COLUMN harm_assessment TEXT CHECK (harm_assessment IN ('cross_border_ok', 'stay_home'));

UPDATE cases SET
    consent_cross_municipality = (SELECT k.cross_municipality FROM consents k
                                  WHERE k.case_id = cases.id ORDER BY k.id DESC LIMIT 1),
    consent_municipalities = (SELECT k.municipalities FROM consents k
                              WHERE k.case_id = cases.id ORDER BY k.id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM consents k WHERE k.case_id = cases.id);

-- Who recorded a consent change: `citizen`, `anonymous` or `system`.
ALTER TABLE consents ADD COLUMN actor TEXT NOT NULL DEFAULT 'citizen';

CREATE TABLE harm_assessments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id          TEXT NOT NULL REFERENCES cases (id),
    caseworker_id    TEXT NOT NULL REFERENCES caseworkers (id),
    cross_border_ok  BOOLEAN NOT NULL,
    reason           TEXT NOT NULL,
    at               TEXT NOT NULL
);
CREATE INDEX harm_assessments_by_case ON harm_assessments (case_id, id);

CREATE TABLE policy_versions (
    version       INTEGER PRIMARY KEY,
    policies      TEXT NOT NULL,                 -- the whole Cedar policy set
    tests         TEXT NOT NULL,                 -- its policy tests (TOML)
    author        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    activated_at  TEXT,                   -- last activation
    activated_by  TEXT,
    active        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (active) WHERE active;
