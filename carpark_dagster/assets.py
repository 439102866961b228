"""The lineage graph: raw_car_events -> closed_sessions -> carpark_table -> es_index
-> location_earnings. Assets stay thin: the domain decides, the resources do the I/O."""

import time
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.ticks import TickBatch, build_tick
from carpark_dagster.partitions import five_minute_windows
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    PostgresResource,
)
from carpark_dagster.resources.search import top_average_charges

GROUP = "carpark"
OWNERS = ["team:carpark-platform"]
SYNC_CONSUMER = "es_index"
SYNC_PAGE_SIZE = 5_000

CHARGES_FOLLOW_TARIFF = "charges_follow_tariff"
SEARCH_MATCHES_POSTGRES = "search_matches_postgres"

_window_asset = dict(
    partitions_def=five_minute_windows,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="window_io_manager",
    group_name=GROUP,
    owners=OWNERS,
)


@dg.asset(kinds={"python"}, **_window_asset)
def raw_car_events(
    context: dg.AssetExecutionContext,
    gate_simulator: GateSimulatorResource,
    carpark_config: CarparkConfigResource,
) -> dg.Output[pd.DataFrame]:
    """Gate events (entries and exits) delivered in the window, from the simulated gates."""
    window = context.partition_time_window
    started = time.perf_counter()
    events = gate_simulator.events_between(carpark_config.load(), window.start, window.end)
    context.log.info("simulated %d events in %.2fs", len(events), time.perf_counter() - started)
    by_type = events["event_type"].value_counts()
    return dg.Output(
        events,
        metadata={
            "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
            "events": len(events),
            "entries": int(by_type.get("entry", 0)),
            "exits": int(by_type.get("exit", 0)),
        },
    )


@dg.asset(
    kinds={"python", "pandas"},
    check_specs=[
        dg.AssetCheckSpec(
            CHARGES_FOLLOW_TARIFF,
            asset="closed_sessions",
            description="Every closed session's charge equals its tariff's scalar reference.",
            blocking=True,
        )
    ],
    **_window_asset,
)
def closed_sessions(
    context: dg.AssetExecutionContext,
    raw_car_events: pd.DataFrame,
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
):
    """Entries paired with exits into sessions priced by each location's tariff. Open
    sessions and exits still waiting for their entry carry over in PostgreSQL."""
    started = time.perf_counter()
    config = carpark_config.load()
    postgres.migrate()
    postgres.record_locations(config)
    as_of = pd.Timestamp(context.partition_time_window.end)
    tick = build_tick(
        raw_car_events,
        already_seen=postgres.known_event_ids(raw_car_events["event_id"].tolist()),
        state=postgres.session_state(raw_car_events, horizon=as_of - config.lateness),
        config=config,
        as_of=as_of,
    )
    closed = tick.closed
    mismatches = _charges_off_tariff(closed, config)
    context.log.info(
        "closed %d sessions, opened %d, %d events waiting, %d anomalies in %.2fs",
        len(closed),
        len(tick.opened),
        len(tick.pending),
        len(tick.anomalies),
        time.perf_counter() - started,
    )
    reasons = tick.anomalies["reason"].str.replace(r" \(.*\)$", "", regex=True).value_counts()
    yield dg.Output(
        tick,
        metadata={
            "closed_sessions": len(closed),
            "opened_sessions": len(tick.opened),
            "events_waiting": len(tick.pending),
            "anomalies": len(tick.anomalies),
            "anomalies_by_reason": dg.MetadataValue.md(
                reasons.rename_axis("reason").reset_index().to_markdown(index=False)
                if len(reasons)
                else "none"
            ),
            "duplicate_events": tick.duplicate_events,
            "already_seen_events": tick.already_seen_events,
            "revenue_cents": int(closed["charge_cents"].sum()),
        },
    )
    yield dg.AssetCheckResult(
        check_name=CHARGES_FOLLOW_TARIFF,
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"mismatches": len(mismatches), "first": ", ".join(mismatches[:5])},
    )


def _charges_off_tariff(closed: pd.DataFrame, config: CarparkConfig) -> list[str]:
    """Sessions whose charge differs from the scalar reference of their location's tariff."""
    return [
        row.session_id
        for row in closed.itertuples(index=False)
        if row.charge_cents
        != config.tariff_for(row.location_id).charge_cents(row.entry_time, row.exit_time)
    ]


@dg.asset(kinds={"postgres"}, **_window_asset)
def carpark_table(
    context: dg.AssetExecutionContext, closed_sessions: TickBatch, postgres: PostgresResource
) -> dg.MaterializeResult:
    """Sessions, events and quarantined anomalies in PostgreSQL (`carpark.parking_sessions`,
    and the lab's view `public."CarPark"`), written in one transaction."""
    started = time.perf_counter()
    counts = postgres.record_tick(closed_sessions, source="simulator")
    context.log.info("stored tick in %.2fs: %s", time.perf_counter() - started, counts)
    return dg.MaterializeResult(
        metadata={
            "events_stored": counts.events_stored,
            "sessions_written": counts.sessions_written,
            "anomalies_quarantined": counts.anomalies_quarantined,
            "postgres": postgres.describe(),
        }
    )


@dg.asset(
    deps=[carpark_table],
    kinds={"elasticsearch"},
    group_name=GROUP,
    owners=OWNERS,
    check_specs=[
        dg.AssetCheckSpec(
            SEARCH_MATCHES_POSTGRES,
            asset="es_index",
            description="Per location, document count and charge sum equal PostgreSQL's "
            "closed sessions up to the sync watermark.",
            blocking=True,
        )
    ],
)
def es_index(
    context: dg.AssetExecutionContext, postgres: PostgresResource, search: ElasticsearchResource
) -> dg.MaterializeResult:
    """Closed sessions changed since the last sync, bulk-indexed into the `carpark-sessions`
    alias with `_id` = session id; the watermark advances only past acknowledged documents."""
    started = time.perf_counter()
    mark = postgres.watermark(SYNC_CONSUMER)
    indexed, failures = 0, []
    with search.session_index() as index:
        index.ensure()
        while True:
            page = postgres.changed_sessions(mark, SYNC_PAGE_SIZE)
            if not page:
                break
            outcome = index.index_sessions(s for s in page if s["exit_time"] is not None)
            indexed += outcome.indexed
            failed_ids = {f["id"] for f in outcome.failures}
            acknowledged = _acknowledged_prefix(page, failed_ids)
            if acknowledged:
                mark = (acknowledged[-1]["updated_at"], acknowledged[-1]["session_id"])
                postgres.set_watermark(SYNC_CONSUMER, mark)
            context.log.info(
                "synced %d documents so far (%.1fs)", indexed, time.perf_counter() - started
            )
            failures = outcome.failures
            if failures:
                break
        index.refresh()
        search_totals = {t.location_id: t for t in index.totals_by_location()}
        engine = index.engine.name

    if failures:
        raise dg.Failure(
            description=f"{len(failures)} sessions were rejected by the search engine; "
            "they are retried on the next tick",
            metadata={"failures": dg.MetadataValue.json(failures[:50]), "indexed": indexed},
        )
    pg_totals = postgres.closed_totals_by_location(mark)
    differences = [
        row.location_id
        for row in pg_totals.itertuples(index=False)
        if (t := search_totals.pop(row.location_id, None)) is None
        or (t.sessions, t.total_charge_cents) != (row.sessions, row.total_charge_cents)
    ] + sorted(search_totals)
    return dg.MaterializeResult(
        metadata={
            "documents_indexed": indexed,
            "engine": engine,
            "watermark": f"{mark[0].isoformat()} {mark[1]}",
            "seconds": round(time.perf_counter() - started, 3),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SEARCH_MATCHES_POSTGRES,
                passed=not differences,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"locations_differing": ", ".join(differences) or "none"},
            )
        ],
    )


@dg.asset(deps=[es_index], kinds={"elasticsearch", "postgres"}, group_name=GROUP, owners=OWNERS)
def location_earnings(
    context: dg.AssetExecutionContext, search: ElasticsearchResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    """The top 5 average parking charges by location, from a search aggregation; each
    computation is kept in `carpark.location_earnings`."""
    with search.session_index() as index:
        ranking = top_average_charges(index.totals_by_location(), top=5)
    computed_at = datetime.now(UTC)
    postgres.record_location_earnings(computed_at, ranking)
    shown = ranking.assign(
        average_charge=ranking["average_charge_cents"].map(lambda c: f"${c / 100:.2f}")
    )
    return dg.MaterializeResult(
        metadata={
            "top_5_average_charge": dg.MetadataValue.md(shown.to_markdown(index=False)),
            "computed_at": computed_at.isoformat(),
            "top_average_charge_cents": float(ranking["average_charge_cents"].iloc[0])
            if len(ranking)
            else 0.0,
        }
    )


def _acknowledged_prefix(page: list[dict], failed_ids: set[str]) -> list[dict]:
    """The rows before the first failure: the watermark may move past those only."""
    for i, row in enumerate(page):
        if row["session_id"] in failed_ids:
            return page[:i]
    return page
