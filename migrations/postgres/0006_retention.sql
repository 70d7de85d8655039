-- Retention and the anonymous channel: when a case was thinned (its personal data removed
-- after the retention period, R17; the audit trail stays), and wrong access codes per request
-- (rate limited).

ALTER TABLE cases ADD COLUMN thinned_at TIMESTAMPTZ;
CREATE INDEX cases_for_retention ON cases (state, thinned_at);

CREATE TABLE access_code_failures (
    case_id  TEXT NOT NULL REFERENCES cases (id),
    at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_code_failures_by_case ON access_code_failures (case_id, at);
