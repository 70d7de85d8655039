-- Issue 21: administrators are people. An audit event names the acting person's id in
-- `actor` (as before) and, for people reading the trail, their name as their login gave it;
-- the seal covers it when present.
ALTER TABLE audit_events ADD COLUMN actor_name TEXT;
