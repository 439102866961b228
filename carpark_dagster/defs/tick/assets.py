"""The lineage graph: raw_car_events -> closed_sessions -> carpark_table -> es_index
-> location_earnings. Assets stay thin: the domain decides, the resources do the I/O.

One run processes every five-minute window that is due (or a replayed range), in order, each
judged as of its own end (docs/time-model.md). No partitions: "Materialize all" in the UI,
`dagster asset materialize --select '*'` and the schedule all do the same."""

import time
from datetime import timedelta

import dagster as dg
from pydantic import Field

from carpark_dagster.defs.tick.earnings_metadata import earnings_metadata
from carpark_dagster.domain.earnings import top_average_charges
from carpark_dagster.domain.redaction import redact_url
from carpark_dagster.domain.reporting import DEFAULT_PERIODS, ReportError
from carpark_dagster.domain.sessions import format_watermark
from carpark_dagster.domain.ticks import (
    anomalies_by_reason,
    charges_off_tariff,
    closed_in,
    figures,
)
from carpark_dagster.domain.windows import parse_moment
from carpark_dagster.lib.reporting import compute_report
from carpark_dagster.lib.search_sync import (
    SYNC_CONSUMER,
    Reconciliation,
    SyncInterrupted,
    reconcile,
    sync_changed_sessions,
)
from carpark_dagster.lib.ticks import (
    TickRun,
    TickWindows,
    close_windows,
    gather_windows,
    plan_tick,
    store_batches,
)
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    InboxResource,
    PostgresResource,
    TickClockResource,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import StaleTick

GROUP = "carpark"
# Upstream of the tick, in a group of its own (the tick job selects GROUP): see defs/inbox.
GATE_EVENT_FILES = dg.AssetKey("gate_event_files")
OWNERS = ["team:carpark-platform"]

CHARGES_FOLLOW_TARIFF = "charges_follow_tariff"
SEARCH_MATCHES_POSTGRES = "search_matches_postgres"
SEARCH_HAS_NO_DEAD_LETTERS = "search_has_no_dead_letters"
EARNINGS_MATCH_POSTGRES = "earnings_match_postgres"

_tick_asset = dict(group_name=GROUP, owners=OWNERS)

# What readers see — the search index behind Kibana and the top 5 — is written by every tick
# (every five minutes, es_index then location_earnings in the same run): two ticks missed
# warn, three fail (docs/operations.md#freshness). One policy for both, since they go stale
# together.
SERVED_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=10)
)


class TickConfig(dg.Config):
    """Leave both empty for a normal tick (what is due); set both to replay a range."""

    replay_from: str | None = Field(
        default=None,
        description="Re-process the windows from this time (ISO; without an offset, carpark "
        "time), already processed, up to replay_to. Idempotent: changes nothing that is right.",
    )
    replay_to: str | None = Field(default=None, description="End of the replayed range.")


@dg.asset(deps=[GATE_EVENT_FILES], kinds={"python"}, **_tick_asset)
def raw_car_events(
    context: dg.AssetExecutionContext,
    config: TickConfig,
    gate_simulator: GateSimulatorResource,
    carpark_config: CarparkConfigResource,
    postgres: PostgresResource,
    tick_clock: TickClockResource,
    inbox: InboxResource,
) -> dg.Output[TickWindows]:
    """Gate events (entries and exits) of every five-minute window due since the last tick,
    window by window: from the simulated gates (CARPARK_SOURCE simulator or both) and from
    the gate files that landed in each window."""
    replay = None
    if config.replay_from or config.replay_to:
        if not (config.replay_from and config.replay_to):
            raise dg.Failure("a replay needs both replay_from and replay_to")
        replay = (
            parse_moment(config.replay_from, "replay_from"),
            parse_moment(config.replay_to, "replay_to"),
        )
    started = time.perf_counter()
    plan = plan_tick(postgres, tick_clock, replay)
    simulator = gate_simulator if inbox.simulator_on else None
    windows = gather_windows(simulator, postgres, carpark_config.load(), plan)
    events = sum(len(e) for _, e in windows.events)
    context.log.info(
        "%s %d windows (%s to %s): %d events (%s) in %.2fs",
        "replaying" if plan.replay else "processing",
        len(plan.windows),
        plan.caught_up_from.isoformat() if plan.caught_up_from else "-",
        plan.caught_up_to.isoformat(),
        events,
        windows.source,
        time.perf_counter() - started,
    )
    entries = sum(int((e["event_type"] == "entry").sum()) for _, e in windows.events)
    return dg.Output(
        windows,
        metadata={
            "windows": len(plan.windows),
            "replay": plan.replay,
            "from": plan.caught_up_from.isoformat() if plan.caught_up_from else "nothing due",
            "to": plan.caught_up_to.isoformat(),
            "processed_until_before": plan.progress.processed_until.isoformat(),
            "events": events,
            "source": windows.source,
            "entries": entries,
            "exits": events - entries,
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
    **_tick_asset,
)
def closed_sessions(
    context: dg.AssetExecutionContext,
    raw_car_events: TickWindows,
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
):
    """Entries paired with exits into sessions priced by each location's tariff, window by
    window. Open sessions and exits still waiting for their entry carry over in PostgreSQL;
    a session whose exit was never read ends as `exit_not_recorded`."""
    started = time.perf_counter()
    config = carpark_config.load()
    postgres.record_locations(config)
    run = close_windows(postgres, config, raw_car_events)
    closed = closed_in(run.batches)
    mismatches = charges_off_tariff(closed, config) if len(closed) else []
    numbers = figures(run.batches)
    context.log.info("closed the windows in %.2fs: %s", time.perf_counter() - started, numbers)
    reasons = anomalies_by_reason(run.batches)
    yield dg.Output(
        run,
        metadata={
            **numbers,
            "anomalies_by_reason": dg.MetadataValue.md(
                reasons.to_markdown(index=False) if len(reasons) else "none"
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=CHARGES_FOLLOW_TARIFF,
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"mismatches": len(mismatches), "first": ", ".join(mismatches[:5])},
    )


@dg.asset(kinds={"postgres"}, **_tick_asset)
def carpark_table(
    context: dg.AssetExecutionContext,
    closed_sessions: TickRun,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    """Sessions, events and quarantined anomalies in PostgreSQL (`carpark.parking_sessions`,
    and the lab's view `public."CarPark"`), one transaction per window, in order; each window
    counts as processed in its own transaction."""
    started = time.perf_counter()
    try:
        counts = store_batches(postgres, closed_sessions)
    except StaleTick as exc:
        raise dg.Failure(description=str(exc)) from None
    progress = postgres.tick_progress()
    context.log.info(
        "stored %d windows in %.2fs; processed until %s",
        len(counts),
        time.perf_counter() - started,
        progress.processed_until.isoformat() if progress else "-",
    )
    return dg.MaterializeResult(
        metadata={
            "windows": len(counts),
            "events_stored": sum(c.events_stored for c in counts),
            "sessions_written": sum(c.sessions_written for c in counts),
            "anomalies_quarantined": sum(c.anomalies_quarantined for c in counts),
            "events_waiting": postgres.waiting_events(),
            "processed_until": progress.processed_until.isoformat() if progress else "-",
            "postgres": postgres.describe(),
        }
    )


@dg.asset(
    deps=[carpark_table],
    kinds={"elasticsearch"},
    group_name=GROUP,
    owners=OWNERS,
    freshness_policy=SERVED_FRESHNESS,
    check_specs=[
        dg.AssetCheckSpec(
            SEARCH_MATCHES_POSTGRES,
            asset="es_index",
            description="Per location, document count and charge sum equal PostgreSQL's "
            "closed sessions (carpark.location_totals) less the search dead letters.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            SEARCH_HAS_NO_DEAD_LETTERS,
            asset="es_index",
            description="No session is waiting in carpark.search_dead_letters (refused by the "
            "search engine): a warning until they are fixed and re-sent (carpark search retry).",
        ),
    ],
)
def es_index(
    context: dg.AssetExecutionContext, postgres: PostgresResource, search: ElasticsearchResource
) -> dg.MaterializeResult:
    """Sessions changed since the last sync, sent to the `carpark-sessions` alias (`_id` =
    session id): closed ones indexed, re-opened ones deleted, ones never closed skipped (they
    have no document). The watermark in PostgreSQL advances past documents the engine
    acknowledged or refused; refused ones become dead letters (see
    `carpark_dagster.lib.search_sync`)."""
    try:
        with search.session_index() as index:
            outcome = sync_changed_sessions(postgres, index, context.log, SYNC_CONSUMER)
            reconciliation = reconcile(postgres, index, context.log)
            engine = index.engine.name
    except EngineError as exc:
        raise _engine_failed(exc, search) from None
    dead_letter_ids = ", ".join(d.session_id for d in reconciliation.dead_letters[:10])
    return dg.MaterializeResult(
        metadata={
            "documents_indexed": outcome.indexed,
            "documents_deleted": outcome.deleted,
            "never_closed_skipped": outcome.skipped,
            "dead_lettered": len(outcome.dead_lettered),
            "dead_letters_cleared": outcome.dead_letters_cleared,
            "dead_letters": reconciliation.dead_letter_count,
            "dead_letter_ids": dead_letter_ids or "none",
            "engine": engine,
            "watermark": format_watermark(outcome.watermark),
            "seconds": round(outcome.seconds, 3),
            "documents_per_second": round(outcome.docs_per_second),
        },
        check_results=search_check_results(reconciliation),
    )


def search_check_results(reconciliation: Reconciliation) -> list[dg.AssetCheckResult]:
    """The two search checks from one reconciliation: the index matches PostgreSQL less the
    dead letters (blocking), and there are no dead letters (a warning, never forgiven
    silently: it stays yellow while any session is missing from the index)."""
    shown = reconciliation.dead_letters
    ids = ", ".join(d.session_id for d in shown) or "none"
    if reconciliation.dead_letter_count > len(shown):
        ids += f" (and {reconciliation.dead_letter_count - len(shown)} more)"
    return [
        dg.AssetCheckResult(
            check_name=SEARCH_MATCHES_POSTGRES,
            passed=reconciliation.matches,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "locations_differing": ", ".join(
                    d["location_id"] for d in reconciliation.differences
                )
                or "none",
                "differences": dg.MetadataValue.json(reconciliation.differences),
                "dead_letters_excluded": reconciliation.dead_letter_count,
                "dead_letter_ids": ids,
            },
        ),
        dg.AssetCheckResult(
            check_name=SEARCH_HAS_NO_DEAD_LETTERS,
            passed=reconciliation.dead_letter_count == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if reconciliation.dead_letter_count == 0
            else f"{reconciliation.dead_letter_count} sessions refused by the search engine "
            "are missing from the index; fix them in PostgreSQL, then run "
            "`carpark search retry`",
            metadata={
                "dead_letters": reconciliation.dead_letter_count,
                "dead_letter_ids": ids,
                "oldest": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "session_id": d.session_id,
                                "status": d.status,
                                "reason": d.reason,
                                "attempts": d.attempts,
                                "first_seen": d.first_seen.isoformat() if d.first_seen else "",
                            }
                        )
                        for d in shown
                    ],
                    schema=DEAD_LETTER_SCHEMA,
                ),
            },
        ),
    ]


DEAD_LETTER_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("session_id", "string"),
        dg.TableColumn("status", "int"),
        dg.TableColumn("reason", "string"),
        dg.TableColumn("attempts", "int"),
        dg.TableColumn("first_seen", "string"),
    ]
)


def _engine_failed(exc: EngineError, search: ElasticsearchResource) -> dg.Failure:
    """The engine was unreachable or refused a request. PostgreSQL already holds the tick
    (carpark_table committed); the next successful sync catches up from the watermark."""
    metadata: dict = {"search_url": redact_url(search.url)}
    if isinstance(exc, SyncInterrupted):
        metadata["documents_indexed"] = exc.outcome.indexed
        metadata["watermark"] = format_watermark(exc.outcome.watermark)
    return dg.Failure(
        description=f"search sync failed: {exc}. PostgreSQL is up to date; the next tick "
        "catches the index up from the watermark.",
        metadata=metadata,
    )


class EarningsConfig(dg.Config):
    periods: list[str] = Field(
        default=list(DEFAULT_PERIODS),
        description="The periods reported, each ending at the data's time: today (since "
        "midnight in carpark time), <N>h or <N>d. The first is the dashboard's headline.",
    )


@dg.asset(
    deps=[es_index],
    kinds={"elasticsearch", "postgres"},
    group_name=GROUP,
    owners=OWNERS,
    freshness_policy=SERVED_FRESHNESS,
    check_specs=[
        dg.AssetCheckSpec(
            EARNINGS_MATCH_POSTGRES,
            asset="location_earnings",
            description="Every period's sessions and earnings per location and by hour, as "
            "reported from the search engine, equal PostgreSQL's recomputation over the "
            "sessions up to the search sync watermark (less the dead letters), to the cent.",
            blocking=True,
        )
    ],
)
def location_earnings(
    context: dg.AssetExecutionContext,
    config: EarningsConfig,
    search: ElasticsearchResource,
    postgres: PostgresResource,
):
    """The earnings report (docs/reporting.md): the lab's question (top 5 average charges by
    location, all time, in `carpark.location_earnings`) and, per period (default today, 24h,
    7d), per location: the top 5, earnings, closed sessions, average and median stay,
    occupancy, earnings by hour; totals. Every computation is kept in
    `carpark.earnings_reports`."""
    try:
        with search.session_index() as index:
            ranking = top_average_charges(index.totals_by_location(), top=5)
            checked = compute_report(postgres, index, config.periods)
    except ReportError as exc:
        raise dg.Failure(description=str(exc)) from None
    except EngineError as exc:
        raise dg.Failure(description=f"search engine failed: {exc}") from None
    report = checked.report
    postgres.record_location_earnings(report.computed_at, ranking)
    rows = postgres.record_earnings_report(report)
    context.log.info("earnings report as of %s: %d rows kept", report.as_of.isoformat(), rows)
    yield dg.Output(report, metadata=earnings_metadata(report, ranking, rows))
    yield dg.AssetCheckResult(
        check_name=EARNINGS_MATCH_POSTGRES,
        passed=not checked.differences,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "differences": len(checked.differences),
            "first": ", ".join(checked.differences[:10]) or "none",
            "watermark": report.watermark,
        },
    )


# The checks the tick's own ops evaluate (they guard each tick's money and search sync).
TICK_CHECKS = [
    key for asset in (closed_sessions, es_index, location_earnings) for key in asset.check_keys
]
