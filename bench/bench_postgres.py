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
from carpark_dagster.resources.postgres import DEFAULT_DSN, PostgresResource

T0 = datetime(2026, 11, 1, tzinfo=UTC)
# History rows made in SQL: closed sessions, one second apart, all in the past, with ids and
# plates shaped like the simulator's (new ticks' ids fall among them, per location).
FILL_HISTORY = """
INSERT INTO carpark.parking_sessions (session_id, plate, location_id, entry_event_id,
    exit_event_id, entry_time, exit_time, duration_seconds, charge_cents, tariff, updated_at)
SELECT 'ses-sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-in',
       'SH' || lpad((g %% 200000)::text, 6, '0'), 'Park' || (g %% 6),
       'sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-in',
       'sim-Park' || (g %% 6) || '-hist-' || lpad(g::text, 9, '0') || '-out',
       %(t0)s + g * interval '1 second', %(t0)s + g * interval '1 second' + interval '75 min',
       4500, 180, 'default', %(t0)s + g * interval '1 millisecond'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""


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
        run(PostgresResource(dsn=make_conninfo(base, dbname=name)), args.quick)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def run(pg: PostgresResource, quick: bool) -> None:
    pg.migrate()
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    print("merge of a tick (COPY into staging + one INSERT ... ON CONFLICT, one transaction)")
    for n in sizes:
        tick = new_sessions(f"m{n}", n)
        seconds = timed(lambda t=tick: pg.record_tick(t, source="bench"))
        print(f"  {n:>9,} new sessions   {seconds:7.2f} s   {n / seconds:>10,.0f} sessions/s")

    print("10k-session tick against a growing history (median of 3)")
    histories = (10_000, 1_000_000) if quick else (10_000, 1_000_000, 5_000_000)
    medians = []
    with pg.connect() as conn:
        conn.execute("TRUNCATE carpark.parking_sessions")
        filled = 0
        for history in histories:
            conn.execute(FILL_HISTORY, {"t0": T0, "first": filled + 1, "last": history})
            conn.execute("VACUUM ANALYZE carpark.parking_sessions")
            filled = history
            runs = [
                timed(lambda i=i, h=history: pg.record_tick(new_sessions(f"h{h}-{i}", 10_000), "b"))
                for i in range(3)
            ]
            medians.append(statistics.median(runs))
            print(f"  history {stored(conn) - 30_000:>9,}   {medians[-1] * 1000:7.0f} ms")
    spread = (max(medians) - min(medians)) / min(medians)
    print(f"  largest vs smallest history: {spread:+.0%} (target within 25%)")

    print("incremental read of 10k changed rows (keyset) from a large table (median of 5)")
    with pg.connect() as conn:
        conn.execute("TRUNCATE carpark.parking_sessions")
        rows = 100_000 if quick else 1_000_000
        conn.execute(FILL_HISTORY, {"t0": T0, "first": 1, "last": rows})
        conn.execute("VACUUM ANALYZE carpark.parking_sessions")
        mark = conn.execute(
            "SELECT updated_at, session_id FROM carpark.parking_sessions "
            "ORDER BY updated_at, session_id OFFSET %s LIMIT 1",
            (rows - 10_001,),
        ).fetchone()
    reads = []
    # As in a Dagster run: the resource holds one connection for the step.
    with dg.build_resources({"postgres": pg}) as resources:
        for _ in range(5):
            started = time.perf_counter()
            page = resources.postgres.changed_sessions((mark[0], mark[1]), limit=10_000)
            reads.append(time.perf_counter() - started)
    assert len(page) == 10_000
    print(
        f"  {len(page):,} of {rows:,} rows   {statistics.median(reads) * 1000:6.1f} ms "
        "(target <= 30 ms)"
    )


if __name__ == "__main__":
    main()
