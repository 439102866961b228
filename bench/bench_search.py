"""Search sync throughput on this machine, against the real PostgreSQL and search node.

    .venv/bin/python bench/bench_search.py [--sizes 100000 1000000]    (or: make bench-search)

For each size: fill a scratch database with closed sessions (one INSERT … generate_series),
then measure documents/s of
  - sync:    the incremental sync from an empty watermark (`sync_changed_sessions`),
  - rebuild: the zero-downtime rebuild into the next index (`rebuild_search_index`),
  - raw:     the node's bulk limit measured the same way — the client's `streaming_bulk` with
             the same chunking, fed pre-built actions, no PostgreSQL at all.
Targets (issue 5): sync >= 70% of raw, and >= 15,000 documents/s. The scratch database and
the scratch aliases are created here and dropped at the end, even on failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.conninfo import make_conninfo

from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.lib.search_rebuild import rebuild_search_index
from carpark_dagster.lib.search_sync import sync_changed_sessions
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import DEFAULT_DSN
from carpark_dagster.resources.search import (
    BULK_CHUNK_BYTES,
    BULK_CHUNK_DOCS,
    BULK_FILTER_PATH,
    DEFAULT_URL,
    session_actions,
    session_document,
)

BASE_DSN = os.environ.get("CARPARK_POSTGRES_DSN") or DEFAULT_DSN
SEARCH_URL = os.environ.get("CARPARK_ES_URL") or DEFAULT_URL

# Closed sessions shaped like the simulator's: six locations, stays of 0-5 hours, the default
# tariff's charges. Same updated_at for the whole batch (one statement), as after a big import.
FILL = """
INSERT INTO carpark.parking_sessions
    (session_id, plate, location_id, entry_event_id, exit_event_id, entry_time, exit_time,
     duration_seconds, charge_cents, tariff, updated_at, source, status)
SELECT 'bench-' || lpad(i::text, 9, '0'),
       'S' || chr(65 + i %% 26) || chr(65 + (i / 26) %% 26) || (1000 + i %% 9000) || 'Z',
       'Park' || (i %% 6),
       'entry-' || i,
       'exit-' || i,
       t,
       t + minutes * interval '1 minute',
       minutes * 60,
       ceil(minutes / 30.0)::bigint * 60,
       'default',
       now(),
       'bench',
       'closed'
FROM generate_series(1, %(n)s::int) AS i,
     LATERAL (SELECT timestamptz '2026-01-01 00:00+08' + i * interval '3 seconds' AS t,
                     (i * 37) %% 300 AS minutes) AS s
"""

log = logging.getLogger("bench_search")


def scratch_database() -> str:
    name = f"carpark_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(BASE_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(BASE_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_alias(search: ElasticsearchResource) -> None:
    with search.session_index() as index:
        index.engine.request("DELETE", f"/{search.alias}-v*")
        try:
            index.engine.request("DELETE", f"/_index_template/{search.alias}")
        except EngineError as exc:
            if exc.status != 404:
                raise


def fill(postgres: PostgresResource, n: int) -> float:
    started = time.perf_counter()
    with postgres.connect() as conn:
        conn.execute("TRUNCATE carpark.parking_sessions, carpark.sync_watermarks")
        conn.execute(FILL, {"n": n})
        conn.execute("VACUUM ANALYZE carpark.parking_sessions")
    return time.perf_counter() - started


def measure_sync(postgres: PostgresResource, search: ElasticsearchResource, n: int) -> float:
    drop_alias(search)
    with search.session_index() as index:
        started = time.perf_counter()
        outcome = sync_changed_sessions(postgres, index, log)
        seconds = time.perf_counter() - started
        assert outcome.indexed == n and not outcome.failures, outcome
        index.refresh()
        assert index.count() == n
    return n / seconds


def measure_rebuild(postgres: PostgresResource, search: ElasticsearchResource, n: int) -> float:
    with search.session_index() as index:
        started = time.perf_counter()
        outcome = rebuild_search_index(postgres, index, log)
        seconds = time.perf_counter() - started
        assert outcome.documents == n
        assert index.count() == n
    return n / seconds


def prebuilt_sessions(n: int) -> list[StoredSession]:
    """The rows FILL writes, as PostgreSQL would hand them over."""
    start = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    updated = datetime.now(UTC)
    sessions = []
    for i in range(1, n + 1):
        minutes = (i * 37) % 300
        entry = start + timedelta(seconds=3 * i)
        sessions.append(
            StoredSession(
                session_id=f"bench-{i:09d}",
                plate=f"SBS{1000 + i % 9000}Z",
                location_id=f"Park{i % 6}",
                entry_time=entry,
                exit_time=entry + timedelta(minutes=minutes),
                duration_seconds=minutes * 60,
                charge_cents=-(-minutes // 30) * 60,
                tariff="default",
                updated_at=updated,
            )
        )
    return sessions


def measure_raw(search: ElasticsearchResource, sessions: list[StoredSession], lines: bool) -> float:
    """The node's limit through the same client helper and chunking, without PostgreSQL:
    with `lines`, the pre-built NDJSON pairs the sync sends (the client only joins them);
    otherwise ordinary action dicts with a `_source` dict, which the client encodes."""
    drop_alias(search)
    with search.session_index() as index:
        index.ensure()
        if lines:
            actions = session_actions(sessions, search.alias)
            options = {"expand_action_callback": lambda pair: pair}
        else:
            actions = [
                {
                    "_index": search.alias,
                    "_id": s.session_id,
                    "_source": session_document(s),
                }
                for s in sessions
            ]
            options = {}
        started = time.perf_counter()
        acknowledged = sum(
            ok
            for ok, _ in index.engine.streaming_bulk(
                actions,
                chunk_size=BULK_CHUNK_DOCS,
                max_chunk_bytes=BULK_CHUNK_BYTES,
                raise_on_error=False,
                filter_path=BULK_FILTER_PATH,
                **options,
            )
        )
        seconds = time.perf_counter() - started
        assert acknowledged == len(sessions)
    return len(sessions) / seconds


def describe_machine(search: ElasticsearchResource) -> str:
    with search.session_index() as index:
        info = index.engine.request("GET", "/")
    version = info["version"]
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}; "
        f"{version.get('distribution', 'elasticsearch')} {version['number']} (single node, "
        "same machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("opensearch").setLevel(logging.ERROR)  # the 404s of cleaning up
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)

    tag = uuid.uuid4().hex[:8]
    synced = ElasticsearchResource(url=SEARCH_URL, alias=f"bench-{tag}-sync", legacy_alias=None)
    raw = ElasticsearchResource(url=SEARCH_URL, alias=f"bench-{tag}-raw", legacy_alias=None)
    database = scratch_database()
    postgres = PostgresResource(dsn=make_conninfo(BASE_DSN, dbname=database))
    print(describe_machine(synced))
    print(f"chunks of {BULK_CHUNK_DOCS} documents or {BULK_CHUNK_BYTES // 2**20} MiB")
    try:
        postgres.migrate()
        for n in args.sizes:
            filled = fill(postgres, n)
            print(f"{n:,} sessions (PostgreSQL filled in {filled:.1f} s), documents/s:")
            sync_rate = measure_sync(postgres, synced, n)
            print(f"  sync from PostgreSQL             {sync_rate:>8,.0f}")
            rebuild_rate = measure_rebuild(postgres, synced, n)
            print(f"  rebuild from PostgreSQL          {rebuild_rate:>8,.0f}")
            sessions = prebuilt_sessions(n)
            raw_dicts = measure_raw(raw, sessions, lines=False)
            print(f"  raw bulk, action dicts           {raw_dicts:>8,.0f}")
            raw_lines = measure_raw(raw, sessions, lines=True)
            del sessions
            print(f"  raw bulk, pre-built lines        {raw_lines:>8,.0f}")
            best_raw = max(raw_dicts, raw_lines)
            print(
                f"  sync = {sync_rate / best_raw:.0%} of the faster raw bulk "
                "(targets: >= 70% and >= 15,000/s)"
            )
    finally:
        drop_alias(synced)
        drop_alias(raw)
        drop_database(database)


if __name__ == "__main__":
    main()
