"""What the daily job `carpark_retention` deletes, as ONE declarative list: a table, the time
column its age is read from, the variable that sets how many days are kept, the default, and
optionally a fixed condition rows must also meet to go. Add a table by adding a rule; the
statements are built from the rules (identifiers only, values are parameters).

Sessions (`carpark.parking_sessions`) are the record of every charge and are never deleted;
neither are the locations, the totals, the watermarks or the tick progress. Why each default:
docs/operations.md#retention.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
from psycopg import sql
from pydantic import Field

# Rows deleted per statement: short transactions, so ticks waiting for the writer lock and
# readers of the tables are held up for at most one batch.
DEFAULT_BATCH_ROWS = 10_000

# An exit-log entry is stale when its session no longer ends at that time (a late exit moved
# the end, or the tick that logged it never committed), or when it repeats an entry logged
# before (a tick stored again). Readers find a session through the entry of its current end,
# which is always logged, so stale entries change no read (docs/operations.md#the-exit-log).
STALE_EXIT = """
NOT EXISTS (
    SELECT 1 FROM carpark.parking_sessions s
    WHERE s.session_id = t.session_id AND coalesce(s.exit_time, s.ended_at) = t.exit_time)
OR EXISTS (
    SELECT 1 FROM carpark.session_exits d
    WHERE (d.exit_time AT TIME ZONE 'UTC')::date = (t.exit_time AT TIME ZONE 'UTC')::date
      AND d.location_id = t.location_id AND d.plate = t.plate
      AND d.exit_time = t.exit_time AND d.session_id = t.session_id
      AND d.ctid < t.ctid)
"""


@dataclass(frozen=True)
class RetentionRule:
    """Rows of `table` whose `time_column` is older than the days kept (`env_var`, else
    `default_days`) are deleted, if they also meet `only` (SQL over the row, aliased `t`).
    `limits_replays`: a replay re-reads these rows, so a replay may no longer reach windows
    that could have seen deleted ones (see `replay_horizon`)."""

    table: str
    time_column: str
    env_var: str
    default_days: int
    only: str | None = None
    limits_replays: bool = False

    @property
    def name(self) -> str:
        return self.table.split(".")[-1]


RETENTION_RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "carpark.gate_events",
        "event_time",
        "CARPARK_RETENTION_GATE_EVENTS_DAYS",
        400,
        limits_replays=True,
    ),
    # The events landed from gate files, by when they landed: as long as the gate events, since
    # replays read both. (carpark.inbox_files, one row per file, is kept: it is what makes a
    # file count once, however late it is offered again.)
    RetentionRule(
        "carpark.landed_events",
        "landed_at",
        "CARPARK_RETENTION_GATE_EVENTS_DAYS",
        400,
        limits_replays=True,
    ),
    RetentionRule(
        "carpark.quarantine",
        "first_seen",
        "CARPARK_RETENTION_QUARANTINE_DAYS",
        400,
        limits_replays=True,
    ),
    RetentionRule(
        "carpark.location_earnings",
        "computed_at",
        "CARPARK_RETENTION_LOCATION_EARNINGS_DAYS",
        90,
    ),
    # Every computation of the earnings report (docs/reporting.md): as long as the ranking.
    RetentionRule(
        "carpark.earnings_reports",
        "computed_at",
        "CARPARK_RETENTION_LOCATION_EARNINGS_DAYS",
        90,
    ),
    RetentionRule(
        "carpark.run_failures",
        "failed_at",
        "CARPARK_RETENTION_RUN_FAILURES_DAYS",
        90,
    ),
    RetentionRule(
        "carpark.session_exits",
        "exit_time",
        "CARPARK_RETENTION_EXIT_LOG_DAYS",
        7,
        only=STALE_EXIT,
    ),
)
# Dagster's own runs (and their event logs), deleted through the instance by the same job.
DAGSTER_RUNS_ENV_VAR = "CARPARK_RETENTION_DAGSTER_RUNS_DAYS"
DAGSTER_RUNS_DEFAULT_DAYS = 90
BATCH_ENV_VAR = "CARPARK_RETENTION_BATCH_ROWS"
DAGSTER_RUNS = "dagster_runs"


def days_kept(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Days kept per rule (by table name) and for Dagster's runs (`dagster_runs`), from the
    environment; 0 keeps forever. A bad value is refused with one line naming the variable."""
    environ = os.environ if environ is None else environ
    pairs = [(rule.name, rule.env_var, rule.default_days) for rule in RETENTION_RULES]
    pairs.append((DAGSTER_RUNS, DAGSTER_RUNS_ENV_VAR, DAGSTER_RUNS_DEFAULT_DAYS))
    return {name: _whole_number(environ, var, default) for name, var, default in pairs}


def batch_rows(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    rows = _whole_number(environ, BATCH_ENV_VAR, DEFAULT_BATCH_ROWS)
    if rows < 1:
        raise ValueError(f"{BATCH_ENV_VAR} must be at least 1")
    return rows


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    value = (environ.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number (for days, 0 keeps forever)")
    return int(value)


class RetentionResource(dg.ConfigurableResource):
    """Days kept per table (the rules' names) and for Dagster's runs (`dagster_runs`); 0 keeps
    forever. From the environment (`from_environment`)."""

    days: dict[str, int] = Field(description="Days kept, by table name; 0: forever.")
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, description="Rows per DELETE.")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RetentionResource:
        return cls(days=days_kept(environ), batch_rows=batch_rows(environ))

    @property
    def dagster_runs_days(self) -> int:
        return self.days[DAGSTER_RUNS]


def delete_batch_statement(rule: RetentionRule) -> sql.Composed:
    """At most %(limit)s rows of the rule older than %(cutoff)s, found by the time index and
    deleted by their physical address (no key needed: the exit log has none)."""
    table = sql.SQL(".").join(sql.Identifier(part) for part in rule.table.split("."))
    extra = sql.SQL(f" AND ({rule.only})") if rule.only else sql.SQL("")  # a fixed constant
    return sql.SQL(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        "SELECT t.ctid FROM {table} t WHERE t.{column} < %(cutoff)s{extra} LIMIT %(limit)s))"
    ).format(table=table, column=sql.Identifier(rule.time_column), extra=extra)


# Replays may start no earlier than this (only ever moved forward).
LIMIT_REPLAYS = """
UPDATE carpark.tick_progress
SET replayable_from = greatest(coalesce(replayable_from, start_at), %(from)s)
WHERE coalesce(replayable_from, start_at) < %(from)s
"""
