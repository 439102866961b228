"""The incremental sync from PostgreSQL (system of record) into the search engine.

Exactly-once effect from at-least-once delivery: every document's `_id` is its session id, so
sending a session twice leaves one document; the watermark `(updated_at, session_id)` in
`carpark.sync_watermarks` moves only past rows whose action the engine acknowledged, or
refused for the document's content: those are recorded as dead letters in the same
transaction (`carpark.search_dead_letters`), so one bad row never stops the sync. Whatever
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

from carpark_dagster.domain.earnings import totals_differences, totals_without
from carpark_dagster.domain.sessions import (
    DeadLetter,
    StoredSession,
    Watermark,
    format_watermark,
    has_no_document,
    watermark_of,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import BulkAction, BulkItem, SessionIndex, session_actions

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
    skipped: int = 0  # sessions never closed: no document, nothing sent
    pages: int = 0
    # Sessions the engine refused during this sync, now dead letters; and how many earlier
    # dead letters this sync indexed (or deleted), which left the table.
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    dead_letters_cleared: int = 0
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
    # Rows handled without an action: sessions never closed have no document to delete.
    skipped: frozenset[str] = frozenset()

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
        skipped = frozenset(r.session_id for r in rows if has_no_document(r))
        sent = [r for r in rows if r.session_id not in skipped] if skipped else rows
        return Page(rows, session_actions(sent, target), skipped)

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
    """The engine's answers for one page: acknowledged (indexed, or deleted), refused for the
    document's content (a 4xx: `rejected`, dead letters to be), or failed by the engine
    itself (a 5xx, a 429 after the retries: `failed`, to be sent again)."""

    acknowledged: set[str] = field(default_factory=set)
    indexed: int = 0
    deleted: int = 0
    skipped: int = 0
    rejected: list[BulkItem] = field(default_factory=list)
    failed: list[BulkItem] = field(default_factory=list)

    @property
    def failures(self) -> list[dict]:
        return [item.failure() for item in (*self.rejected, *self.failed)]

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter(i.id, int(i.status), i.reason) for i in self.rejected]


def send_page(index: SessionIndex, page: Page, into: PageResult) -> None:
    """Send one page's actions; record each answer in `into` as it arrives, so that what was
    acknowledged before an EngineError is known to the caller."""
    into.acknowledged.update(page.skipped)
    into.skipped += len(page.skipped)
    if not page.actions:
        return
    for item in index.bulk(page.actions):
        if item.ok:
            into.acknowledged.add(item.id)
            if item.op == "delete":
                into.deleted += 1
            else:
                into.indexed += 1
        elif item.rejected:
            into.rejected.append(item)
        else:
            into.failed.append(item)


def acknowledged_prefix(rows: list[StoredSession], acknowledged: set[str]) -> list[StoredSession]:
    """The rows before the first one not acknowledged: the watermark may move past those only.
    (The engine may answer out of order when it retries 429s, so this is by id, not by order.)"""
    for i, row in enumerate(rows):
        if row.session_id not in acknowledged:
            return rows[:i]
    return rows


def engine_failed_documents(failed: list[BulkItem], url: str) -> EngineError:
    """Documents the engine failed to handle (not refused for their content): as an outage."""
    first = failed[0]
    return EngineError(
        f"search engine at {url} failed {len(failed)} documents (first: {first.id}, status "
        f"{first.status}, {first.reason or 'no reason given'})",
        first.status,
    )


def sync_changed_sessions(
    postgres: PostgresResource,
    index: SessionIndex,
    log: Log,
    consumer: str = SYNC_CONSUMER,
    page_size: int = SYNC_PAGE_SIZE,
) -> SyncOutcome:
    """Send every session changed since `consumer`'s watermark: closed ones as documents, open
    ones as deletes. After each page, in one transaction, the watermark moves to the last row
    handled and the dead letters are settled.

    A document the engine refuses for its content (a 4xx) becomes a dead letter
    (`carpark.search_dead_letters`): any older document of that session is deleted from the
    index, the watermark moves past it and the sync goes on. A dead-lettered session that is
    indexed later (changed again, or re-sent by `carpark search retry`) leaves the table.
    The engine failing (unreachable, a 5xx, a 429 after the retries, a 4xx about the index
    or the cluster such as a write block) raises SyncInterrupted, after committing what was
    handled before the first such document.
    """
    progress = Progress(log, "sync")
    with postgres.search_sync_lock(on_wait=lambda: log.info(WAITING_FOR_LOCK)):
        index.ensure()
        mark = postgres.watermark(consumer)
        outcome = SyncOutcome(started_from=mark, watermark=mark)
        dead_letters = set(postgres.dead_letter_ids())

        def read(after: Watermark) -> list[StoredSession]:
            return postgres.changed_sessions(after, page_size)

        with closing(prefetched_pages(read, mark, page_size, index.alias)) as pages:
            for page in pages:
                result = PageResult()
                settled = False
                try:
                    send_page(index, page, result)
                    _remove_stale_documents(index, result)
                    settled = True
                except EngineError as exc:
                    # The engine went away mid-page: keep what it acknowledged before that.
                    _commit(postgres, consumer, outcome, page, result, dead_letters, settled)
                    raise SyncInterrupted(exc, outcome) from None
                _commit(postgres, consumer, outcome, page, result, dead_letters, settled)
                progress.note(outcome.sent, outcome.watermark)
                if result.rejected:
                    log.warning(
                        "%d sessions refused by the search engine, recorded as dead letters "
                        "(first: %s, %s); the sync goes on",
                        len(result.rejected),
                        result.rejected[0].id,
                        result.rejected[0].reason,
                    )
                if result.failed:
                    raise SyncInterrupted(
                        engine_failed_documents(result.failed, index.engine.url), outcome
                    )
    outcome.seconds = time.perf_counter() - progress.started
    log.info(
        "sync: %d indexed, %d deleted, %d never closed (nothing to send), %d dead-lettered, "
        "%d dead letters cleared, %d pages in %.2fs (%.0f/s); watermark %s",
        outcome.indexed,
        outcome.deleted,
        outcome.skipped,
        len(outcome.dead_lettered),
        outcome.dead_letters_cleared,
        outcome.pages,
        outcome.seconds,
        outcome.docs_per_second,
        format_watermark(outcome.watermark),
    )
    return outcome


def _remove_stale_documents(index: SessionIndex, result: PageResult) -> None:
    """A refused update leaves the session's previous document in the index: delete it, so
    that a dead-lettered session is never in the index (the reconciliation counts on it, and
    nobody searches an outdated charge)."""
    stale = [item.id for item in result.rejected if item.op == "index"]
    if stale:
        index.delete_documents(stale)


def _commit(
    postgres: PostgresResource,
    consumer: str,
    outcome: SyncOutcome,
    page: Page,
    result: PageResult,
    dead_letters: set[str],
    settled: bool,
) -> None:
    """Move the watermark past the rows handled: acknowledged, or refused and `settled` (their
    old documents deleted). The dead letters change in the same transaction."""
    refused = result.dead_letters() if settled else []
    handled = result.acknowledged | {d.session_id for d in refused}
    cleared = result.acknowledged & dead_letters
    done = acknowledged_prefix(page.rows, handled)
    mark = watermark_of(done[-1]) if done else None
    if refused or cleared or mark is not None:
        postgres.settle_search_page(refused, cleared, consumer, mark)
    outcome.pages += 1
    outcome.indexed += result.indexed
    outcome.deleted += result.deleted
    outcome.skipped += result.skipped
    outcome.dead_lettered += refused
    outcome.dead_letters_cleared += len(cleared)
    dead_letters.difference_update(cleared)
    dead_letters.update(d.session_id for d in refused)
    if mark is not None:
        outcome.watermark = mark


@dataclass(frozen=True)
class Reconciliation:
    """The index against PostgreSQL: per location, where the index differs from PostgreSQL's
    closed sessions less the dead-lettered ones (empty: they agree), and the dead letters
    (`dead_letter_count` of them, the oldest few listed)."""

    differences: list[dict]
    dead_letter_count: int
    dead_letters: list[DeadLetter]

    @property
    def matches(self) -> bool:
        return not self.differences


def reconcile(postgres: PostgresResource, index: SessionIndex, log: Log) -> Reconciliation:
    """Compare the index with PostgreSQL, per location: document count and sum of
    `charge_cents` against the closed sessions less the dead letters (which are not in the
    index). Under the search-sync lock, so no sync, retry or rebuild moves either side."""
    with postgres.search_sync_lock(on_wait=lambda: log.info(WAITING_FOR_LOCK)):
        index.refresh()
        expected = postgres.search_expectation()
        found = index.totals_by_location()
    return Reconciliation(
        differences=totals_differences(
            totals_without(expected.closed, expected.dead_lettered), found
        ),
        dead_letter_count=expected.dead_letter_count,
        dead_letters=expected.dead_letters,
    )


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
