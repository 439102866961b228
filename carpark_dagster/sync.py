"""The incremental sync from PostgreSQL (system of record) into the search engine.

Exactly-once effect from at-least-once delivery: every document's `_id` is its session id, so
sending a session twice leaves one document; the watermark `(updated_at, session_id)` in
`carpark.sync_watermarks` moves only past rows whose action the engine acknowledged. Whatever
happens after a send and before the watermark commit (a crash, the engine going away) is sent
again by the next sync, which changes nothing that was already right.

The asset `es_index` is a thin wrapper around `sync_changed_sessions`; the rebuild
(`carpark_dagster.search_rebuild`) shares the locking, paging and sending below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import (
    BulkAction,
    LocationTotals,
    SessionIndex,
    session_actions,
)

Watermark = tuple[datetime, str]

SYNC_CONSUMER = "es_index"
# A page is read, turned into actions and sent as two bulk requests (BULK_CHUNK_DOCS); the
# next page is read meanwhile. The watermark is committed once per page.
SYNC_PAGE_SIZE = 10_000
PROGRESS_EVERY_S = 10.0

# Syncs and rebuilds of one database take turns: a rebuild resets the watermark, which must not
# race with a sync moving it. Distinct from PostgresResource's tick lock.
SEARCH_SYNC_LOCK_ID = 0x0CA7_5EA2
LOCK_WAIT_S = 30 * 60
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"


class Log(Protocol):
    """What we log through: a `logging.Logger` or Dagster's `context.log`."""

    def info(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...


class SyncLockTimeout(RuntimeError):
    """Another sync or a rebuild kept the lock for longer than we were willing to wait."""


class SyncInterrupted(EngineError):
    """The engine failed mid-sync; `outcome` says what it acknowledged (and was committed)."""

    def __init__(self, cause: EngineError, outcome: SyncOutcome):
        super().__init__(
            f"{cause}; the {outcome.sent} actions acknowledged before that are kept "
            f"(watermark {format_watermark(outcome.watermark)})",
            cause.status,
        )
        self.outcome = outcome


@dataclass
class SyncOutcome:
    started_from: Watermark
    watermark: Watermark
    indexed: int = 0
    deleted: int = 0
    pages: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        """Actions the engine acknowledged (a delete of a missing document included)."""
        return self.indexed + self.deleted

    @property
    def docs_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


@contextmanager
def search_sync_lock(
    postgres: PostgresResource, log: Log, wait_s: float = LOCK_WAIT_S
) -> Iterator[None]:
    """Hold the search-sync advisory lock for the block.

    A session lock, so it dies with the connection if the process is killed. We poll with
    `pg_try_advisory_lock` instead of blocking in `pg_advisory_lock`, whose wait would count
    against the statement timeout and could not log why we wait.
    """
    with postgres.connect() as conn:
        deadline = time.monotonic() + wait_s
        next_note = 0.0
        while not conn.execute(TRY_LOCK, (SEARCH_SYNC_LOCK_ID,)).fetchone()[0]:
            now = time.monotonic()
            if now >= deadline:
                raise SyncLockTimeout(
                    f"another search sync or rebuild has held the lock for over {wait_s:.0f}s"
                )
            if now >= next_note:
                log.info("waiting for another search sync or rebuild to finish")
                next_note = now + 30
            time.sleep(0.5)
        try:
            yield
        finally:
            # A broken connection has taken the lock with it already.
            if not conn.closed and not conn.broken:
                conn.execute(UNLOCK, (SEARCH_SYNC_LOCK_ID,))


@dataclass(frozen=True)
class Page:
    rows: list[StoredSession]
    actions: list[BulkAction]

    @property
    def last_key(self) -> Watermark:
        return key_of(self.rows[-1])


def key_of(row: StoredSession) -> Watermark:
    return (row.updated_at, row.session_id)


def prefetched_pages(
    read: Callable[[Watermark], list[StoredSession]], start: Watermark, page_size: int, target: str
) -> Iterator[Page]:
    """Pages in keyset order, each with its bulk actions; the next page is read and turned
    into actions in a worker thread while the caller sends the current one (the engine's
    indexing and PostgreSQL's reading overlap instead of taking turns)."""

    def fetch(after: Watermark) -> Page:
        rows = read(after)
        return Page(rows, session_actions(rows, target))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-sync-read") as pool:
        pending = pool.submit(fetch, start)
        while True:
            page = pending.result()
            if not page.rows:
                return
            # A short page is the last one: no need to ask again.
            more = len(page.rows) >= page_size
            if more:
                pending = pool.submit(fetch, page.last_key)
            yield page
            if not more:
                return


@dataclass
class PageResult:
    acknowledged: set[str] = field(default_factory=set)
    indexed: int = 0
    deleted: int = 0
    failures: list[dict] = field(default_factory=list)


def send_page(index: SessionIndex, page: Page, into: PageResult) -> None:
    """Send one page's actions; record each answer in `into` as it arrives, so that what was
    acknowledged before an EngineError is known to the caller."""
    for item in index.bulk(page.actions):
        if not item.ok:
            into.failures.append(item.failure())
            continue
        into.acknowledged.add(item.id)
        if item.op == "delete":
            into.deleted += 1
        else:
            into.indexed += 1


def acknowledged_prefix(rows: list[StoredSession], acknowledged: set[str]) -> list[StoredSession]:
    """The rows before the first one not acknowledged: the watermark may move past those only.
    (The engine may answer out of order when it retries 429s, so this is by id, not by order.)"""
    for i, row in enumerate(rows):
        if row.session_id not in acknowledged:
            return rows[:i]
    return rows


def sync_changed_sessions(
    postgres: PostgresResource,
    index: SessionIndex,
    log: Log,
    consumer: str = SYNC_CONSUMER,
    page_size: int = SYNC_PAGE_SIZE,
) -> SyncOutcome:
    """Send every session changed since `consumer`'s watermark: closed ones as documents, open
    ones as deletes. The watermark is committed after each page, up to the first action the
    engine did not acknowledge.

    Rejected documents end the sync at the end of their page and come back in
    `outcome.failures` (they are retried from the watermark next time). An unreachable engine
    raises EngineError, after committing what was acknowledged before it went away.
    """
    progress = Progress(log, "sync")
    with search_sync_lock(postgres, log):
        index.ensure()
        mark = postgres.watermark(consumer)
        outcome = SyncOutcome(started_from=mark, watermark=mark)

        def read(after: Watermark) -> list[StoredSession]:
            return postgres.changed_sessions(after, page_size)

        with closing(prefetched_pages(read, mark, page_size, index.alias)) as pages:
            for page in pages:
                result = PageResult()
                try:
                    send_page(index, page, result)
                except EngineError as exc:
                    # The engine went away mid-page: keep what it acknowledged before that.
                    _commit(postgres, consumer, outcome, page, result)
                    raise SyncInterrupted(exc, outcome) from None
                _commit(postgres, consumer, outcome, page, result)
                progress.note(outcome.sent, outcome.watermark)
                if outcome.failures:
                    log.warning(
                        "%d documents rejected; the sync stops after their page and retries "
                        "them next time",
                        len(outcome.failures),
                    )
                    break
    outcome.seconds = time.perf_counter() - progress.started
    log.info(
        "sync: %d indexed, %d deleted, %d rejected, %d pages in %.2fs (%.0f/s); watermark %s",
        outcome.indexed,
        outcome.deleted,
        len(outcome.failures),
        outcome.pages,
        outcome.seconds,
        outcome.docs_per_second,
        format_watermark(outcome.watermark),
    )
    return outcome


def _commit(
    postgres: PostgresResource,
    consumer: str,
    outcome: SyncOutcome,
    page: Page,
    result: PageResult,
) -> None:
    outcome.pages += 1
    outcome.indexed += result.indexed
    outcome.deleted += result.deleted
    outcome.failures += result.failures
    done = acknowledged_prefix(page.rows, result.acknowledged)
    if done:
        outcome.watermark = key_of(done[-1])
        postgres.set_watermark(consumer, outcome.watermark)


class Progress:
    """A log line every PROGRESS_EVERY_S seconds of a long load, so operators see it move."""

    def __init__(self, log: Log, what: str, total: int | None = None):
        self._log = log
        self._what = what
        self._total = total
        self.started = time.perf_counter()
        self._next = self.started + PROGRESS_EVERY_S

    def note(self, done: int, watermark: Watermark) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + PROGRESS_EVERY_S
        seconds = now - self.started
        of = f" of {self._total:,}" if self._total is not None else ""
        self._log.info(
            "%s: %s documents%s in %.1fs (%.0f/s); watermark %s",
            self._what,
            f"{done:,}",
            of,
            seconds,
            done / seconds,
            format_watermark(watermark),
        )


def format_watermark(mark: Watermark) -> str:
    return f"{mark[0].isoformat()} {mark[1]}".rstrip()


def totals_differences(postgres_totals: pd.DataFrame, search: list[LocationTotals]) -> list[dict]:
    """Per location, where PostgreSQL's closed sessions and the index disagree in document
    count or sum of `charge_cents`; empty when they agree."""
    expected = {
        row.location_id: (int(row.sessions), int(row.total_charge_cents))
        for row in postgres_totals.itertuples(index=False)
    }
    found = {t.location_id: (t.sessions, t.total_charge_cents) for t in search}
    differences = []
    for location in sorted(expected.keys() | found.keys()):
        postgres_side = expected.get(location, (0, 0))
        index_side = found.get(location, (0, 0))
        if postgres_side != index_side:
            differences.append(
                {
                    "location_id": location,
                    "postgres_sessions": postgres_side[0],
                    "index_documents": index_side[0],
                    "postgres_charge_cents": postgres_side[1],
                    "index_charge_cents": index_side[1],
                }
            )
    return differences
