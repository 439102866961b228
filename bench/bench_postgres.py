"""PostgreSQL as the system of record: how fast a tick is stored, and whether the cost of a
tick depends on the size of the history. Uses a scratch database, dropped at the end.

    .venv/bin/python bench/bench_postgres.py [--quick]      (or: make bench-postgres)

Targets (issue 4): >= 150,000 sessions/s for a 1M-session merge; a 10k-session tick within
25% from 10k to 5M stored sessions; reading 10k changed rows of a 1M-row table <= 30 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
from psycopg.conninfo import make_conninfo

from carpark_dagster.domain.plates import sg_plates
from carpark_dagster.domain.sessions import price_sessions
from carpark_dagster.domain.tariff import DEFAULT_TARIFF
from carpark_dagster.domain.ticks import TickBatch
from carpark_dagster.resources.postgres import (
    DEFAULT_DSN,
    PostgresResource,
    copy_rows,
    session_rows,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
# History rows made in SQL: closed sessions, one second apart, all in the past, with ids and
# plates shaped like the simulator's (new ticks' ids fall among them, per location), and
# their exits in the exit log, as ticks leave them.
FILL_HISTORY = """
WITH filled AS (
INSERT INTO carpark.parking_sessions (session_id, plate, location_id, entry_event_id,
    exit_event_id, entry_time, exit_time, duration_seconds, charge_cents, tariff, updated_at,
    status)
SELECT 'ses-sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-in',
       'SH' || lpad((g %% 200000)::text, 6, '0'), 'Park' || (g %% 6),
       'sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-in',
       'sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-out',
       %(t0)s + g * interval '1 second', %(t0)s + g * interval '1 second' + interval '75 min',
       4500, 180, 'default', %(t0)s + g * interval '1 millisecond', 'closed'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
RETURNING location_id, plate, exit_time, session_id
)
INSERT INTO carpark.session_exits (location_id, plate, exit_time, session_id)
SELECT * FROM filled ORDER BY (exit_time AT TIME ZONE 'UTC')::date, location_id, plate
"""


RAW_TABLE = """
CREATE TABLE bench_raw (
    session_id text COLLATE "C" PRIMARY KEY, plate text, location_id text,
    entry_event_id text, exit_event_id text, entry_time timestamptz, exit_time timestamptz,
    duration_seconds bigint, charge_cents bigint, tariff text, source text, updated_at timestamptz
)
"""
PRICED_ONLY = ["duration_seconds", "charge_cents", "tariff"]
# The shared two-core machine varies by tens of percent from one second to the next: medians.
HISTORY_RUNS = 9


def new_sessions(prefix: str, n: int) -> TickBatch:
    """`n` closed sessions shaped like the simulator's: ids `ses-sim-<location>-<prefix>-
    <number>-in`, about five stays per plate, spread over the six locations."""
    rng = np.random.default_rng(zlib.crc32(prefix.encode()))
    entry = pd.Series(pd.to_datetime(T0) + pd.to_timedelta(rng.integers(0, 86_400, n), "s"))
    stay = pd.to_timedelta(rng.integers(60, 6 * 3600, n), "s")
    location = pd.Series(np.arange(n) % 6).astype(str).radd("Park")
    number = pd.Series(np.arange(n) // 6).astype(str).str.zfill(7)
    event = "sim-" + location + f"-{prefix}-" + number
    frame = pd.DataFrame(
        {
            "session_id": "ses-" + event + "-in",
            "plate": sg_plates(rng, max(n // 5, 1))[rng.integers(0, max(n // 5, 1), n)],
            "location_id": location,
            "entry_event_id": event + "-in",
            "exit_event_id": event + "-out",
            "entry_time": entry,
            "exit_time": entry + stay,
        }
    ).sort_values("session_id", ignore_index=True)
    return TickBatch.of_sessions(price_sessions(frame, DEFAULT_TARIFF))


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def settle(conn) -> None:
    """After a synthetic fill (millions of rows in seconds, gigabytes of WAL): statistics, and
    a checkpoint now rather than one running beside the ticks measured next, writing the fill
    out and making every page they touch log a full image. A deployment's history grows over
    months, not seconds before a tick."""
    conn.execute("VACUUM ANALYZE carpark.parking_sessions, carpark.session_exits")
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("  (no CHECKPOINT: the role lacks pg_checkpoint; `make up` grants it)")


def stored(conn) -> int:
    return conn.execute("SELECT count(*) FROM carpark.parking_sessions").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    base = os.environ.get("CARPARK_POSTGRES_DSN") or DEFAULT_DSN
    name = f"carpark_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pg = PostgresResource(dsn=make_conninfo(base, dbname=name))
        pg.migrate()
        # As in a Dagster run: the resource holds one connection for the whole step.
        with dg.build_resources({"postgres": pg}) as resources:
            merges(resources.postgres, args.quick)
            histories(resources.postgres, args.quick)
            reads(resources.postgres, args.quick)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def merges(pg: PostgresResource, quick: bool) -> None:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    print(
        "a tick of new sessions (binary COPY straight into the table, one transaction; "
        "their exits logged beside it on a second connection)"
    )
    for n in sizes:
        runs = 1 if n < 1_000_000 else 3
        seconds = []
        for i in range(runs):
            tick = new_sessions(f"m{n}-{i}", n)
            seconds.append(timed(lambda t=tick: pg.record_tick(t, source="bench")))
        note = f"   (median of {runs}; best {n / min(seconds):,.0f}/s)" if runs > 1 else ""
        median = statistics.median(seconds)
        print(f"  {n:>9,} new sessions  {median:6.2f} s  {n / median:>9,.0f} sessions/s{note}")
    largest_tick = median  # of the largest size, compared with the yardstick below

    n = sizes[-1]
    tick = new_sessions(f"m{n}-0", n)
    seconds = timed(lambda: pg.record_tick(tick, source="bench"))
    print(f"  the {n:,}-session tick again: COPY refused, staging + merge, nothing changes")
    print(f"  {n:>9,} sessions      {seconds:6.2f} s  {n / seconds:>9,.0f} sessions/s")
    later = tick.sessions.assign(exit_time=tick.sessions["exit_time"] + pd.Timedelta(minutes=1))
    corrected = replace(
        TickBatch.of_sessions(price_sessions(later.drop(columns=PRICED_ONLY), DEFAULT_TARIFF)),
        known_session_ids=frozenset(later["session_id"]),
    )
    seconds = timed(lambda: pg.record_tick(corrected, source="bench"))
    print("  late corrections of all of them (new exits and charges): staging + merge")
    print(f"  {n:>9,} sessions      {seconds:6.2f} s  {n / seconds:>9,.0f} sessions/s")

    # The yardstick: binary COPY into a table keyed by text, without the tick's
    # other indexes, constraints or triggers.
    rows = session_rows(new_sessions("raw", n).sessions, "bench", datetime.now(UTC))
    with pg.connect() as conn, conn.transaction():
        conn.execute(RAW_TABLE)
        seconds = timed(lambda: copy_rows(conn, "bench_raw", rows))
        conn.execute("DROP TABLE bench_raw")
    print("  reference: binary COPY into a table with a text primary key and nothing else")
    print(f"  {n:>9,} rows          {seconds:6.2f} s  {n / seconds:>9,.0f} rows/s")
    # The figures (150k/s wanted where this COPY ran at ~270k/s) ask for about 56%;
    # the ratio moves less with the shared machine's speed than either figure alone.
    print(
        f"  the {n:,}-session tick ran at {seconds / largest_tick:.0%} of this speed"
        " (the issue's figures: 150k of ~270k, 56%)"
    )


def histories(pg: PostgresResource, quick: bool) -> None:
    print(f"a 10k-session tick against a growing history (median of {HISTORY_RUNS})")
    sizes = (10_000, 1_000_000) if quick else (10_000, 1_000_000, 5_000_000)
    medians, bests = [], []
    with pg.connect() as conn:
        conn.execute("TRUNCATE carpark.parking_sessions, carpark.session_exits")
        filled = 0
        for history in sizes:
            conn.execute(FILL_HISTORY, {"t0": T0, "first": filled + 1, "last": history})
            settle(conn)
            filled = history
            before = stored(conn)
            ticks = [new_sessions(f"h{history}-{i}", 10_000) for i in range(HISTORY_RUNS)]
            runs = [timed(lambda t=t: pg.record_tick(t, source="bench")) for t in ticks]
            medians.append(statistics.median(runs))
            bests.append(min(runs))
            print(
                f"  history {before:>9,}   {medians[-1] * 1000:7.0f} ms"
                f"   (best {min(runs) * 1000:.0f} ms)"
            )
    spread = (max(medians) - min(medians)) / min(medians)
    best_spread = (max(bests) - min(bests)) / min(bests)
    print(
        f"  slowest vs fastest history: {spread:+.0%} in medians, {best_spread:+.0%} in bests"
        " (target within 25%)"
    )


def reads(pg: PostgresResource, quick: bool) -> None:
    print("incremental read of 10k changed rows (keyset) from a large table (median of 15)")
    rows = 100_000 if quick else 1_000_000
    with pg.connect() as conn:
        conn.execute("TRUNCATE carpark.parking_sessions, carpark.session_exits")
        conn.execute(FILL_HISTORY, {"t0": T0, "first": 1, "last": rows})
        settle(conn)
        mark = conn.execute(
            "SELECT updated_at, session_id FROM carpark.parking_sessions "
            "ORDER BY updated_at, session_id OFFSET %s LIMIT 1",
            (rows - 10_001,),
        ).fetchone()
    seconds = []
    for _ in range(15):
        started = time.perf_counter()
        page = pg.changed_sessions((mark[0], mark[1]), limit=10_000)
        seconds.append(time.perf_counter() - started)
    assert len(page) == 10_000
    print(
        f"  {len(page):,} of {rows:,} rows   {statistics.median(seconds) * 1000:6.1f} ms "
        f"(best {min(seconds) * 1000:.1f} ms; target <= 30 ms)"
    )


if __name__ == "__main__":
    main()
