-- Legal corrections (issue 19).
-- R12, R15: the role a municipality names to read its cases' content and assess harm.
ALTER TABLE caseworkers ADD COLUMN supervisor BOOLEAN NOT NULL DEFAULT FALSE;
-- R2: whether the eID broker reported a samordningsnummer as confirmed (NULL: not one); an eIDAS
-- citizen's own stable subject (a hash of the eIDAS person identifier), so that they find their
-- requests again.
ALTER TABLE cases ADD COLUMN citizen_id_confirmed BOOLEAN;
ALTER TABLE cases ADD COLUMN citizen_eidas TEXT;
CREATE INDEX cases_by_eidas ON cases (citizen_eidas);
-- R16: a category whose requests record no identity.
ALTER TABLE categories ADD COLUMN record_identity BOOLEAN NOT NULL DEFAULT TRUE;
-- R17: free text about the citizen lives with the case (and is thinned with it); the audit
-- event names the note, never copies its text.
CREATE TABLE case_notes (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id  TEXT NOT NULL REFERENCES cases (id),
    kind     TEXT NOT NULL CHECK (kind IN ('transfer_reason')),
    body     TEXT NOT NULL,
    author   TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX case_notes_by_case ON case_notes (case_id, id);
-- #11: wrong access codes are limited per client address, in memory (R1: no address stored);
-- the per-request count, whose 429 told that a request exists, goes.
DROP TABLE access_code_failures;
