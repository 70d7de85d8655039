-- The federation's municipalities and agreements keep the order of the federation file, so
-- that what is read back after a restart is the federation that was loaded: the demo login
-- places a citizen without a stated municipality by position, and routing asks a member's
-- agreements in order. Databases seeded before keep the order they had (population; id).

ALTER TABLE municipalities ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agreements ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
