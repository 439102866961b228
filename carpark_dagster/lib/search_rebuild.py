"""Rebuild the search index from PostgreSQL with no downtime for searches.

    carpark search rebuild [--page-size N]

(also the Dagster job `rebuild_search_index`). Loads every closed session into the next
versioned index (`carpark-sessions-v<N+1>`), checks per-location counts and charge sums against
PostgreSQL, moves both aliases (`carpark-sessions`, `frompostgresql`) to it in one atomic
request, deletes the old index and sets the sync watermark to what was loaded, so the
incremental sync carries on from there. Until the swap, searches use the old index; if anything
fails before it, the new index is deleted and nothing changed for readers.

Sessions the engine refuses are left out of the new index and become the dead letters (the
others are dropped: the rebuild sent every closed session), with the watermark, in one
transaction after the swap; the verification expects PostgreSQL less those. More than
MAX_REBUILD_DEAD_LETTERS refusals means the mapping is wrong, not a few rows: the rebuild fails.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field

from carpark_dagster.domain.earnings import LocationTotals, totals_differences, totals_without
from carpark_dagster.domain.sessions import (
    EPOCH_WATERMARK,
    DeadLetter,
    StoredSession,
    Watermark,
    format_watermark,
)
from carpark_dagster.lib.search_sync import (
    SYNC_CONSUMER,
    WAITING_FOR_LOCK,
    Log,
    PageResult,
    Progress,
    engine_failed_documents,
    prefetched_pages,
    send_page,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import ClosedSessionsSnapshot, PostgresResource
from carpark_dagster.resources.search import SessionIndex

REBUILD_PAGE_SIZE = 10_000
MAX_REBUILD_DEAD_LETTERS = 1_000


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
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def lines(self) -> list[str]:
        rate = self.documents / max(self.seconds, 1e-9)
        return [
            f"rebuilt {self.new_index} (was {self.old_index}):",
            f"  documents  {self.documents:>10,}  in {self.locations} locations, equal to "
            "PostgreSQL's closed sessions",
            f"  watermark  {format_watermark(self.watermark)}",
            f"  took       {self.seconds:>10.1f} s  ({rate:,.0f} documents/s)",
        ] + (
            [
                f"  refused    {len(self.dead_letters):>10,}  sessions, recorded as dead letters "
                f"(first: {self.dead_letters[0].session_id}); see `carpark search retry`"
            ]
            if self.dead_letters
            else []
        )


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
    with postgres.search_sync_lock(on_wait=lambda: log.info(WAITING_FOR_LOCK)):
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
            _verify(index, new, snapshot, loaded)
        except BaseException:
            _abandon(index, new, log)
            raise
        index.swap_aliases(new)
        log.info("aliases %s now point at %s", ", ".join(index.aliases), new)
        # After the swap: a crash in between leaves the older watermark, which only means
        # re-sending rows the new index already has (and refused rows being refused again).
        postgres.settle_search_page(
            loaded.refused,
            consumer=consumer,
            mark=snapshot.watermark,
            keep_only_refused=True,
        )
        index.delete_index(old)
    outcome = RebuildOutcome(
        old_index=old,
        new_index=new,
        documents=loaded.documents,
        locations=len(snapshot.totals),
        watermark=snapshot.watermark,
        seconds=time.perf_counter() - started,
        dead_letters=loaded.refused,
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


@dataclass
class Loaded:
    """What a rebuild loaded: documents acknowledged, sessions refused and their totals."""

    documents: int = 0
    refused: list[DeadLetter] = field(default_factory=list)
    refused_totals: list[LocationTotals] = field(default_factory=list)

    def refuse(self, rows: list[StoredSession], result: PageResult) -> None:
        refused = result.dead_letters()
        ids = {d.session_id for d in refused}
        self.refused += refused
        self.refused_totals += [
            LocationTotals(r.location_id, 1, int(r.charge_cents))
            for r in rows
            if r.session_id in ids
        ]


def _load(
    postgres: PostgresResource, index: SessionIndex, target: str, page_size: int, log: Log
) -> tuple[ClosedSessionsSnapshot, Loaded]:
    """Every closed session of one snapshot into `target`, in keyset pages."""
    with postgres.closed_sessions_snapshot() as snapshot:
        log.info(
            "%s closed sessions to load, up to %s",
            f"{snapshot.sessions:,}",
            format_watermark(snapshot.watermark),
        )

        def read(after: Watermark) -> list[StoredSession]:
            return snapshot.read_page(after, page_size)

        progress = Progress(log, f"rebuild {target}", total=snapshot.sessions)
        loaded = Loaded()
        with closing(prefetched_pages(read, EPOCH_WATERMARK, page_size, target)) as pages:
            for page in pages:
                result = PageResult()
                send_page(index, page, result)
                if result.failed:
                    raise engine_failed_documents(result.failed, index.engine.url)
                loaded.refuse(page.rows, result)
                if len(loaded.refused) > MAX_REBUILD_DEAD_LETTERS:
                    raise RebuildFailed(
                        f"the search engine refused over {MAX_REBUILD_DEAD_LETTERS} sessions "
                        f"(first: {loaded.refused[0].session_id}, {loaded.refused[0].reason}): "
                        f"is the mapping wrong? {target} was deleted, searches still use the "
                        "old index"
                    )
                loaded.documents += len(result.acknowledged)
                progress.note(loaded.documents, page.last_key)
        if loaded.refused:
            log.warning(
                "%d sessions refused by the search engine, left out of %s and recorded as dead "
                "letters after the swap (first: %s, %s)",
                len(loaded.refused),
                target,
                loaded.refused[0].session_id,
                loaded.refused[0].reason,
            )
    return snapshot, loaded


def _verify(
    index: SessionIndex, target: str, snapshot: ClosedSessionsSnapshot, loaded: Loaded
) -> None:
    """The new index holds PostgreSQL's closed sessions, less those it refused."""
    expected = totals_without(snapshot.totals, loaded.refused_totals)
    differences = totals_differences(expected, index.totals_by_location(target))
    if differences:
        raise RebuildFailed(
            f"{target} does not match PostgreSQL in {len(differences)} locations "
            f"({differences[:5]}); it was deleted, searches still use the old index"
        )
