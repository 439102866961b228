-- Whether a session has ever been closed, so could have a search document (docs/search.md,
-- "What a sync sends"). A session a tick opens and that is never closed (still parked, or
-- ended without an exit) never had a document: the search sync skips it instead of sending
-- a delete for each car that drives in. Once true, it stays true: a late exit may re-open a
-- closed session, whose document must then be deleted.
-- Existing rows may have had documents: true for all of them (a constant default: adding the
-- column rewrites nothing). Writers that do not say get true as well, which only costs a
-- delete that finds nothing.
ALTER TABLE carpark.parking_sessions ADD COLUMN ever_closed boolean NOT NULL DEFAULT true;
