"""Retention: delete what is older than each table's days kept (the rules are in
`resources/retention.py`), oldest first, in batches. The job `carpark_retention` runs this
daily under the writer lock. Sessions are never deleted. docs/operations.md#retention."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from carpark_dagster.domain.windows import WINDOW, floor_window
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.retention import RETENTION_RULES, RetentionRule


@dataclass(frozen=True)
class RetentionOutcome:
    """Rows deleted per table; the cutoff per table (None: kept forever); where replays may
    start now (None: unchanged)."""

    deleted: dict[str, int]
    cutoffs: dict[str, datetime | None]
    replayable_from: datetime | None


def cutoff(now: datetime, days: int) -> datetime | None:
    """Rows older than this go; None when `days` is 0 (kept forever)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=days) if days > 0 else None


def replay_horizon(cutoffs: Sequence[datetime], lateness: timedelta) -> datetime | None:
    """The first window a replay may still start at once rows before `cutoffs` are gone: a
    window's events may be up to `lateness` older than its start, so a window starting at
    least that long after every cutoff re-reads nothing deleted (rounded up to a window)."""
    if not cutoffs:
        return None
    earliest_safe = max(cutoffs) + lateness
    start = floor_window(earliest_safe)
    return start if start == earliest_safe else start + WINDOW


def apply_retention(
    postgres: PostgresResource,
    days: Mapping[str, int],
    now: datetime,
    lateness: timedelta,
    rows_per_batch: int,
    rules: Sequence[RetentionRule] = RETENTION_RULES,
    log: Callable[[str], None] = lambda _: None,
) -> RetentionOutcome:
    """Delete every rule's expired rows. Replays are limited first (before anything a replay
    would re-read is deleted), so a job stopped half-way never leaves a replayable range that
    has lost rows. The caller holds the writer lock."""
    cutoffs = {rule.name: cutoff(now, days[rule.name]) for rule in rules}
    limiting = [c for rule in rules if rule.limits_replays and (c := cutoffs[rule.name])]
    replayable_from = replay_horizon(limiting, lateness)
    if replayable_from is not None:
        postgres.limit_replays(replayable_from)
    deleted = {}
    for rule in rules:
        when = cutoffs[rule.name]
        deleted[rule.name] = (
            0 if when is None else postgres.delete_expired(rule, when, rows_per_batch)
        )
        log(
            f"{rule.table}: {deleted[rule.name]} rows deleted"
            + (f" (older than {when.isoformat()})" if when else " (kept forever)")
        )
    return RetentionOutcome(deleted=deleted, cutoffs=cutoffs, replayable_from=replayable_from)
