-- Sessions the search engine rejected (a 4xx answer for that one document: a value the
-- mapping cannot take), so that one bad row no longer stops the search sync: the watermark
-- moves past it, and it waits here, visibly, until it is indexed (changed again, or re-sent by
-- `carpark search retry`). A dead-lettered session has no document in the index.
-- `reason` is the engine's error type and message with every quoted value removed: never the
-- document's content.
CREATE TABLE carpark.search_dead_letters (
    session_id  text COLLATE "C" PRIMARY KEY,
    status      integer     NOT NULL,
    reason      text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1)
);
