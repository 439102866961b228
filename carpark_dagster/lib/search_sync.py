"""The incremental sync from PostgreSQL (system of record) into the search engine.

Exactly-once effect from at-least-once delivery: every document's `_id` is its session id, so
sending a session twice leaves one document; the watermark `(updated_at, session_id)` in
`carpark.sync_watermarks` moves only past rows whose action the engine acknowledged. Whatever
happens after a send and before the watermark commit (a crash, the engine going away) is sent
again by the next sync, which changes nothing that was already right.

The asset `es_index` is a thin wrapper around `sync_changed_sessions`; the rebuild
(`carpark_dagster.lib.search_rebuild`) shares the paging and sending below. Every statement and
lock is the PostgreSQL resource's, every request the search resource's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol

from carpark_dagster.domain.sessions import (
    StoredSession,
    Watermark,
    format_watermark,
    watermark_of,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import BulkAction, SessionIndex, session_actions

SYNC_CONSUMER = "es_index"
# A page is read, turned into actions and sent as two bulk requests (BULK_CHUNK_DOCS); the
# next page is read meanwhile. The watermark is committed once per page.
SYNC_PAGE_SIZE = 10_000
PROGRESS_EVERY_S = 10.0


WAITING_FOR_LOCK = "waiting for another search sync or rebuild to finish"


class Log(Protocol):
    """What we log through: a `logging.Logger` or Dagster's `context.log`."""

    def info(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...


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


@dataclass(frozen=True)
class Page:
    rows: list[StoredSession]
    actions: list[BulkAction]

    @property
    def last_key(self) -> Watermark:
        return watermark_of(self.rows[-1])


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
    with postgres.search_sync_lock(on_wait=lambda: log.info(WAITING_FOR_LOCK)):
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
        outcome.watermark = watermark_of(done[-1])
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
