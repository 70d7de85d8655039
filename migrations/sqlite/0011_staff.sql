-- Issue 21: caseworkers managed in Brygga and provisioned from the municipalities' identity
-- providers. A caseworker is never deleted (history names them): deactivation clears
-- `active`, after which they can neither log in nor act nor be routed to. `subject` is the
-- `sub` of their login at their municipality's provider (just-in-time provisioning);
-- `user_name` and `external_id` are SCIM's (RFC 7643 §4.1, §3.1).
ALTER TABLE caseworkers ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE caseworkers ADD COLUMN deactivated_at TEXT;
ALTER TABLE caseworkers ADD COLUMN subject TEXT;
ALTER TABLE caseworkers ADD COLUMN user_name TEXT;
ALTER TABLE caseworkers ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX caseworkers_by_subject ON caseworkers (municipality, subject)
    WHERE subject IS NOT NULL;
CREATE UNIQUE INDEX caseworkers_by_user_name ON caseworkers (municipality, user_name)
    WHERE user_name IS NOT NULL;

-- SCIM groups (RFC 7643 §4.2) of one municipality; a group whose display name is configured
-- (`skill:<category>`, `Brygga.Supervisor`, `Brygga.ProtectedIdentity`) gives its members
-- that skill or role.
CREATE TABLE scim_groups (
    id            TEXT PRIMARY KEY,
    municipality  TEXT NOT NULL REFERENCES municipalities (code),
    display_name  TEXT NOT NULL,
    external_id   TEXT,
    members       TEXT NOT NULL,  -- JSON array of caseworker ids
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX scim_groups_by_name ON scim_groups (municipality, display_name);
