-- The citizen's pages (issue 20): when the citizen (or the anonymous visitor) last opened their
-- request, so that "my requests" can mark an answer written since then as unread. NULL: never
-- opened since it was sent.
ALTER TABLE cases ADD COLUMN citizen_read_at TIMESTAMPTZ;
