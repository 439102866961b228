"""`gate_event_files`: the complete files in the inbox, landed in PostgreSQL for the ticks
(`carpark_dagster.lib.inbox`), then moved to done/ or rejected/. The inbox sensor launches it
when files are waiting; the next tick takes their events, window by window."""

import time

import dagster as dg

from carpark_dagster.defs.tick.assets import GATE_EVENT_FILES, OWNERS
from carpark_dagster.lib.inbox import DUPLICATE, LANDED, REFUSED, land_file
from carpark_dagster.resources import (
    CarparkConfigResource,
    InboxResource,
    PostgresResource,
    TickClockResource,
)

INBOX_GROUP = "inbox"

FILES_TABLE = dg.TableSchema(
    columns=[
        dg.TableColumn("file", "string"),
        dg.TableColumn("outcome", "string"),
        dg.TableColumn("events", "int"),
        dg.TableColumn("seen_before", "int"),
        dg.TableColumn("quarantined", "int"),
        dg.TableColumn("reason", "string"),
    ]
)


@dg.asset(
    key=GATE_EVENT_FILES,
    group_name=INBOX_GROUP,
    kinds={"file", "postgres"},
    owners=OWNERS,
)
def gate_event_files(
    context: dg.AssetExecutionContext,
    inbox: InboxResource,
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
    tick_clock: TickClockResource,
) -> dg.MaterializeResult:
    """Gate event files (`*.csv`, `*.jsonl`) from the inbox: each file once by its content;
    good records land for the tick of the current window, bad ones go to quarantine with
    their line, refused files to rejected/ with the reason."""
    started = time.perf_counter()
    now = tick_clock.current_time()
    rules = inbox.rules(frozenset(carpark_config.load().locations))
    outcomes = []
    if not inbox.inbox_on:
        context.log.info("CARPARK_SOURCE=%s: the inbox is not read", inbox.source)
    for path in inbox.complete_files(time.time()) if inbox.inbox_on else []:
        outcome = land_file(postgres, path, rules, now)
        moved_to = inbox.file_away(path, outcome.reason if outcome.refused else None)
        context.log.info("%s -> %s", outcome.summary(), moved_to.parent.name)
        outcomes.append(outcome)
    count = {s: sum(o.status == s for o in outcomes) for s in (LANDED, DUPLICATE, REFUSED)}
    return dg.MaterializeResult(
        metadata={
            "files": len(outcomes),
            "files_landed": count[LANDED],
            "files_seen_before": count[DUPLICATE],
            "files_refused": count[REFUSED],
            "events": sum(o.events for o in outcomes),
            "records_quarantined": sum(o.quarantined for o in outcomes),
            "seconds": round(time.perf_counter() - started, 3),
            "inbox": inbox.directory,
            "by_file": dg.TableMetadataValue(
                records=[
                    dg.TableRecord(
                        {
                            "file": o.name,
                            "outcome": o.status,
                            "events": o.events,
                            "seen_before": o.duplicates,
                            "quarantined": o.quarantined,
                            "reason": o.reason or "",
                        }
                    )
                    for o in outcomes[:200]
                ],
                schema=FILES_TABLE,
            ),
        }
    )
