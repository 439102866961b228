"""Every PostgreSQL advisory lock the platform takes, in one place, so that no two uses can
pick the same id by accident. Any constant works: it only has to be the same for every
process that works on one database."""

from enum import IntEnum


class AdvisoryLock(IntEnum):
    # The database's one writer: a Dagster run (from its start), a replay, an import or a
    # search rebuild, whatever launched it (session lock, held until the writer ends).
    WRITER = 0x0CA7_0001
    # Schema migrations, one at a time (transaction lock).
    MIGRATIONS = 0x0CA7_9A4C
    # A tick's write: `updated_at` then grows in commit order (transaction lock).
    TICK = 0x0CA7_71C4
    # Search syncs and rebuilds take turns: a rebuild resets the watermark a sync moves
    # (session lock).
    SEARCH_SYNC = 0x0CA7_5EA2
