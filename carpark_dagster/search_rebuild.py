"""Rebuild the search index from PostgreSQL with no downtime for searches.

    python -m carpark_dagster.search_rebuild [--page-size N]

(also the Dagster job `rebuild_search_index`). Loads every closed session into the next
versioned index (`carpark-sessions-v<N+1>`), checks per-location counts and charge sums against
PostgreSQL, moves both aliases (`carpark-sessions`, `frompostgresql`) to it in one atomic
request, deletes the old index and sets the sync watermark to what was loaded, so the
incremental sync carries on from there. Until the swap, searches use the old index; if anything
fails before it, the new index is deleted and nothing changed for readers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import closing
from dataclasses import dataclass

import pandas as pd
import psycopg

from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import (
    EPOCH_WATERMARK,
    STORED_SESSION_FIELDS,
    PostgresResource,
    PostgresUnavailable,
    read_stored_sessions,
)
from carpark_dagster.resources.search import ElasticsearchResource, SessionIndex
from carpark_dagster.settings import build_resources
from carpark_dagster.sync import (
    SYNC_CONSUMER,
    Log,
    PageResult,
    Progress,
    SyncLockTimeout,
    Watermark,
    format_watermark,
    prefetched_pages,
    search_sync_lock,
    send_page,
    totals_differences,
)

REBUILD_PAGE_SIZE = 10_000

# Everything the rebuild reads comes from one snapshot: the rows, the watermark they add up to,
# and the totals they are checked against, even while ticks keep writing.
BEGIN_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
SELECT_LAST_CHANGE = """
SELECT updated_at, session_id FROM carpark.parking_sessions
ORDER BY updated_at DESC, session_id DESC
LIMIT 1
"""
SELECT_CLOSED_SESSIONS_PAGE = f"""
SELECT {STORED_SESSION_FIELDS}
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
  AND (updated_at, session_id) > (%(updated_at)s, %(session_id)s)
ORDER BY updated_at, session_id
LIMIT %(limit)s
"""
SELECT_CLOSED_TOTALS = """
SELECT location_id, count(*) AS sessions, sum(charge_cents) AS total_charge_cents
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
GROUP BY location_id ORDER BY location_id
"""

logger = logging.getLogger(__name__)


class RebuildFailed(RuntimeError):
    """The new index was refused or did not match PostgreSQL; it was deleted, the old one
    still serves every search."""


@dataclass(frozen=True)
class RebuildOutcome:
    old_index: str
    new_index: str
    documents: int
    locations: int
    watermark: Watermark
    seconds: float

    def lines(self) -> list[str]:
        rate = self.documents / max(self.seconds, 1e-9)
        return [
            f"rebuilt {self.new_index} (was {self.old_index}):",
            f"  documents  {self.documents:>10,}  in {self.locations} locations, equal to "
            "PostgreSQL's closed sessions",
            f"  watermark  {format_watermark(self.watermark)}",
            f"  took       {self.seconds:>10.1f} s  ({rate:,.0f} documents/s)",
        ]


@dataclass(frozen=True)
class _Snapshot:
    watermark: Watermark
    totals: pd.DataFrame

    @property
    def sessions(self) -> int:
        return int(self.totals["sessions"].sum())


def rebuild_search_index(
    postgres: PostgresResource,
    index: SessionIndex,
    log: Log,
    consumer: str = SYNC_CONSUMER,
    page_size: int = REBUILD_PAGE_SIZE,
) -> RebuildOutcome:
    """Load the next index from PostgreSQL, verify it, swap the aliases, drop the old one."""
    started = time.perf_counter()
    # Incremental syncs wait meanwhile: they write to the old index and move the watermark,
    # which the rebuild is about to reset.
    with search_sync_lock(postgres, log):
        old = index.ensure()
        _drop_leftovers(index, keep=old, log=log)
        new = index.next_index()
        log.info(
            "rebuilding %s: loading %s from PostgreSQL (searches use %s)", index.alias, new, old
        )
        index.create_index(new, bulk_load=True)
        try:
            snapshot, loaded = _load(postgres, index, new, page_size, log)
            index.finish_bulk_load(new)
            _verify(index, new, snapshot)
        except BaseException:
            _abandon(index, new, log)
            raise
        index.swap_aliases(new)
        log.info("aliases %s now point at %s", ", ".join(index.aliases), new)
        # After the swap: a crash in between leaves the older watermark, which only means
        # re-sending rows the new index already has.
        postgres.set_watermark(consumer, snapshot.watermark)
        index.delete_index(old)
    outcome = RebuildOutcome(
        old_index=old,
        new_index=new,
        documents=loaded,
        locations=len(snapshot.totals),
        watermark=snapshot.watermark,
        seconds=time.perf_counter() - started,
    )
    log.info("%s", "\n".join(outcome.lines()))
    return outcome


def _drop_leftovers(index: SessionIndex, keep: str, log: Log) -> None:
    """Versioned indices none of our aliases points at are what a crashed rebuild left (we
    hold the lock, so no other rebuild is running)."""
    for name, aliases in sorted(index.versioned_indices().items()):
        if name != keep and not aliases & set(index.aliases):
            log.warning("deleting %s, left over by an earlier rebuild", name)
            index.delete_index(name)


def _abandon(index: SessionIndex, new: str, log: Log) -> None:
    """Delete the half-built index; if even that fails, the next rebuild deletes it."""
    try:
        index.delete_index(new)
    except EngineError as exc:
        log.warning("could not delete %s (%s); the next rebuild will", new, exc)


def _load(
    postgres: PostgresResource, index: SessionIndex, target: str, page_size: int, log: Log
) -> tuple[_Snapshot, int]:
    """Every closed session of one snapshot into `target`, in keyset pages."""
    with postgres.connect() as conn, conn.transaction():
        conn.execute(BEGIN_SNAPSHOT)
        snapshot = _read_snapshot(conn)
        log.info(
            "%s closed sessions to load, up to %s",
            f"{snapshot.sessions:,}",
            format_watermark(snapshot.watermark),
        )

        def read(after: Watermark) -> list[StoredSession]:
            return read_stored_sessions(
                conn,
                SELECT_CLOSED_SESSIONS_PAGE,
                {"updated_at": after[0], "session_id": after[1], "limit": page_size},
            )

        progress = Progress(log, f"rebuild {target}", total=snapshot.sessions)
        loaded = 0
        with closing(prefetched_pages(read, EPOCH_WATERMARK, page_size, target)) as pages:
            for page in pages:
                result = PageResult()
                send_page(index, page, result)
                if result.failures:
                    raise RebuildFailed(
                        f"the search engine rejected {len(result.failures)} sessions; "
                        f"{target} was deleted, searches still use the old index. "
                        f"First rejections: {result.failures[:5]}"
                    )
                loaded += len(page.rows)
                progress.note(loaded, page.last_key)
    return snapshot, loaded


def _read_snapshot(conn: psycopg.Connection) -> _Snapshot:
    last = conn.execute(SELECT_LAST_CHANGE).fetchone()
    with conn.cursor() as cur:
        cur.execute(SELECT_CLOSED_TOTALS)
        totals = pd.DataFrame(
            cur.fetchall(), columns=["location_id", "sessions", "total_charge_cents"]
        )
    return _Snapshot(watermark=(last[0], last[1]) if last else EPOCH_WATERMARK, totals=totals)


def _verify(index: SessionIndex, target: str, snapshot: _Snapshot) -> None:
    differences = totals_differences(snapshot.totals, index.totals_by_location(target))
    if differences:
        raise RebuildFailed(
            f"{target} does not match PostgreSQL in {len(differences)} locations "
            f"({differences[:5]}); it was deleted, searches still use the old index"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="carpark-search-rebuild",
        description="Rebuild the search index from PostgreSQL and swap its aliases atomically "
        "(CARPARK_POSTGRES_DSN, CARPARK_ES_*).",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=REBUILD_PAGE_SIZE,
        help=f"sessions read from PostgreSQL per page (default {REBUILD_PAGE_SIZE})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # The clients log every request, and the 404s we expect (no alias yet) as warnings;
    # what goes wrong reaches us as an EngineError anyway.
    for client in ("opensearch", "elastic_transport"):
        logging.getLogger(client).setLevel(logging.ERROR)

    resources = build_resources(resolve=True)  # the same settings as the pipeline's
    postgres: PostgresResource = resources["postgres"]
    search: ElasticsearchResource = resources["search"]
    try:
        with search.session_index() as index:
            rebuild_search_index(postgres, index, logger, page_size=args.page_size)
    except (EngineError, PostgresUnavailable, RebuildFailed, SyncLockTimeout) as exc:
        print(f"carpark-search-rebuild: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
