"""The lineage graph: raw_car_events -> closed_sessions -> carpark_table -> es_index
-> location_earnings. Assets stay thin: the domain decides, the resources do the I/O."""

import time
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from carpark_dagster.defs.tick.partitions import five_minute_windows
from carpark_dagster.domain.earnings import top_average_charges, totals_differences
from carpark_dagster.domain.sessions import format_watermark
from carpark_dagster.domain.ticks import TickBatch, build_tick, charges_off_tariff
from carpark_dagster.lib.search_sync import (
    SYNC_CONSUMER,
    SyncInterrupted,
    SyncOutcome,
    sync_changed_sessions,
)
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    PostgresResource,
)
from carpark_dagster.resources.engines import EngineError, redact

GROUP = "carpark"
OWNERS = ["team:carpark-platform"]

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
    mismatches = charges_off_tariff(closed, config)
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
            "closed sessions (carpark.location_totals).",
            blocking=True,
        )
    ],
)
def es_index(
    context: dg.AssetExecutionContext, postgres: PostgresResource, search: ElasticsearchResource
) -> dg.MaterializeResult:
    """Sessions changed since the last sync, sent to the `carpark-sessions` alias (`_id` =
    session id): closed ones indexed, re-opened ones deleted. The watermark in PostgreSQL
    advances only past documents the engine acknowledged (see `carpark_dagster.lib.search_sync`)."""
    try:
        with search.session_index() as index:
            outcome = sync_changed_sessions(postgres, index, context.log, SYNC_CONSUMER)
            if outcome.failures:
                # After the watermark was committed for what was acknowledged.
                raise _rejected(outcome)
            index.refresh()
            differences = totals_differences(
                postgres.closed_totals_by_location(), index.totals_by_location()
            )
            engine = index.engine.name
    except EngineError as exc:
        raise _engine_failed(exc, search) from None
    return dg.MaterializeResult(
        metadata={
            "documents_indexed": outcome.indexed,
            "documents_deleted": outcome.deleted,
            "engine": engine,
            "watermark": format_watermark(outcome.watermark),
            "seconds": round(outcome.seconds, 3),
            "documents_per_second": round(outcome.docs_per_second),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SEARCH_MATCHES_POSTGRES,
                passed=not differences,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "locations_differing": ", ".join(d["location_id"] for d in differences)
                    or "none",
                    "differences": dg.MetadataValue.json(differences),
                },
            )
        ],
    )


def _rejected(outcome: SyncOutcome) -> dg.Failure:
    failures = outcome.failures
    return dg.Failure(
        description=f"the search engine rejected {len(failures)} sessions; the "
        f"{outcome.sent} it acknowledged are committed, and the rejected ones are retried "
        "from the watermark on the next tick",
        metadata={
            "rejected": len(failures),
            "failures": dg.MetadataValue.json(failures[:50]),
            "documents_indexed": outcome.indexed,
            "documents_deleted": outcome.deleted,
            "watermark": format_watermark(outcome.watermark),
        },
    )


def _engine_failed(exc: EngineError, search: ElasticsearchResource) -> dg.Failure:
    """The engine was unreachable or refused a request. PostgreSQL already holds the tick
    (carpark_table committed); the next successful sync catches up from the watermark."""
    metadata: dict = {"search_url": redact(search.url)}
    if isinstance(exc, SyncInterrupted):
        metadata["documents_indexed"] = exc.outcome.indexed
        metadata["watermark"] = format_watermark(exc.outcome.watermark)
    return dg.Failure(
        description=f"search sync failed: {exc}. PostgreSQL is up to date; the next tick "
        "catches the index up from the watermark.",
        metadata=metadata,
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
