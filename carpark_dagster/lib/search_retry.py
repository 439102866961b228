"""Re-send the search dead letters, once their data is fixed in PostgreSQL.

    carpark search retry [--batch-size N]

Every session in `carpark.search_dead_letters` is read again from PostgreSQL (its current row)
and sent: a closed session as its document, an open one (or one no longer stored) as a delete.
Those the engine now accepts leave the table; those it still refuses stay, with one more
attempt and the engine's latest reason. The watermark does not move: a session changed since
is sent again by the next sync anyway, which changes nothing. Under the search-sync lock, so a
sync, a rebuild and a retry never interleave.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from carpark_dagster.domain.sessions import DeadLetter
from carpark_dagster.lib.search_sync import (
    WAITING_FOR_LOCK,
    Log,
    Page,
    PageResult,
    engine_failed_documents,
    send_page,
)
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import SessionIndex, delete_actions, session_actions

RETRY_BATCH_SIZE = 1_000


class RetryIncomplete(RuntimeError):
    """The engine still refuses some dead letters: fix their rows, then retry again."""


@dataclass
class RetryOutcome:
    tried: int = 0
    indexed: int = 0
    deleted: int = 0
    still_refused: list[DeadLetter] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if not self.tried:
            return ["no search dead letters: nothing to retry"]
        lines = [
            f"retried {self.tried} search dead letters in {self.seconds:.1f} s:",
            f"  indexed         {self.indexed:>8}  (left the dead letters)",
            f"  deleted         {self.deleted:>8}  (open again, or no longer stored)",
            f"  still refused   {len(self.still_refused):>8}",
        ]
        lines += [
            f"    {d.session_id}: status {d.status}, {d.reason}" for d in self.still_refused[:20]
        ]
        if len(self.still_refused) > 20:
            lines.append(f"    … and {len(self.still_refused) - 20} more")
        return lines


def retry_dead_letters(
    postgres: PostgresResource,
    index: SessionIndex,
    log: Log,
    batch_size: int = RETRY_BATCH_SIZE,
) -> RetryOutcome:
    """Send every dead-lettered session again, from its current row; settle the table.

    An engine failure (unreachable, a 5xx) raises EngineError after settling the batches
    before it; whatever was not settled stays a dead letter for the next retry."""
    started = time.perf_counter()
    outcome = RetryOutcome()
    with postgres.search_sync_lock(on_wait=lambda: log.info(WAITING_FOR_LOCK)):
        index.ensure()
        ids = postgres.dead_letter_ids()
        for first in range(0, len(ids), batch_size):
            batch = ids[first : first + batch_size]
            rows = postgres.sessions_by_id(batch)
            gone = sorted(set(batch) - {r.session_id for r in rows})
            page = Page(
                rows,
                session_actions(rows, index.alias) + delete_actions(gone, index.alias),
            )
            result = PageResult()
            try:
                send_page(index, page, result)
            finally:
                # What was answered is settled even if the engine went away mid-batch.
                postgres.settle_search_page(result.dead_letters(), result.acknowledged)
            if result.failed:
                raise engine_failed_documents(result.failed, index.engine.url)
            outcome.tried += len(batch)
            outcome.indexed += result.indexed
            outcome.deleted += result.deleted
            outcome.still_refused += result.dead_letters()
            log.info(
                "retry: %d of %d dead letters sent, %d still refused",
                outcome.tried,
                len(ids),
                len(outcome.still_refused),
            )
    outcome.seconds = time.perf_counter() - started
    return outcome
