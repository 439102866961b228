"""Checks of what PostgreSQL and the search index hold, not of one tick's data: they read the
stored state through the resources, so the job `carpark_checks` runs them without
materialising any asset (docs/checks.md).

The tick's own checks (`charges_follow_tariff`, `search_matches_postgres`, in
`defs/tick/assets.py`) judge each tick's data inside its ops, before it is stored or served.
These judge the state the ticks leave behind. ERROR checks are blocking: in the checks job
their failure fails the run (which the failure alerts report); in a run that also
materialises their asset (the UI's "Materialize all") it stops the assets downstream. They are
kept out of the five-minute tick job (`defs/automation/jobs.py`): the tick already guards its
own data, and a state check that failed there would stop every later tick's search sync over
one stored row.
"""

import dagster as dg

from carpark_dagster.defs.tick.assets import carpark_table, es_index
from carpark_dagster.domain.checks import (
    QUARANTINE_PERIOD,
    max_stay_cutoffs,
    quarantine_growth_within,
)
from carpark_dagster.domain.redaction import redact_url
from carpark_dagster.lib.checks import judge_changed_charges, search_differences
from carpark_dagster.resources import (
    CarparkConfigResource,
    CheckLimitsResource,
    ElasticsearchResource,
    PostgresResource,
)
from carpark_dagster.resources.engines import EngineError

SESSIONS_NOT_NEGATIVE = "sessions_not_negative"
NO_OPEN_SESSION_PAST_MAX_STAY = "no_open_session_past_max_stay"
QUARANTINE_GROWTH_WITHIN_LIMIT = "quarantine_growth_within_limit"
STORED_CHARGES_FOLLOW_TARIFF = "stored_charges_follow_tariff"
SEARCH_RECONCILES_WITH_POSTGRES = "search_reconciles_with_postgres"

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


@dg.asset_check(
    asset=carpark_table,
    name=SESSIONS_NOT_NEGATIVE,
    blocking=True,
    description="No stored session has a negative duration or a negative charge.",
)
def sessions_not_negative(postgres: PostgresResource) -> dg.AssetCheckResult:
    found = postgres.negative_sessions()
    return dg.AssetCheckResult(
        passed=not found,
        severity=ERROR,
        metadata={
            "negative_durations": sum(f.negative_durations for f in found),
            "negative_charges": sum(f.negative_charges for f in found),
            "locations": ", ".join(f.location_id for f in found) or "none",
            "by_location": dg.MetadataValue.json(
                [
                    {
                        "location_id": f.location_id,
                        "negative_durations": f.negative_durations,
                        "negative_charges": f.negative_charges,
                    }
                    for f in found
                ]
            ),
        },
    )


@dg.asset_check(
    asset=carpark_table,
    name=NO_OPEN_SESSION_PAST_MAX_STAY,
    blocking=True,
    description="No session is still open whose stay is over its location's max_stay_hours "
    "as of the last processed window (carpark.tick_progress.processed_until).",
)
def no_open_session_past_max_stay(
    postgres: PostgresResource, carpark_config: CarparkConfigResource
) -> dg.AssetCheckResult:
    progress = postgres.tick_progress()
    if progress is None:
        return dg.AssetCheckResult(
            passed=True, severity=ERROR, metadata={"processed_until": "nothing processed yet"}
        )
    cutoffs = max_stay_cutoffs(progress.processed_until, carpark_config.load().max_stays)
    stale = postgres.open_sessions_entered_before(cutoffs)
    return dg.AssetCheckResult(
        passed=not stale,
        severity=ERROR,
        metadata={
            "processed_until": progress.processed_until.isoformat(),
            "open_past_max_stay": sum(s.sessions for s in stale),
            "locations": ", ".join(s.location_id for s in stale) or "none",
            "oldest_entry": min(s.oldest_entry for s in stale).isoformat() if stale else "-",
            "by_location": dg.MetadataValue.json(
                [
                    {
                        "location_id": s.location_id,
                        "sessions": s.sessions,
                        "oldest_entry": s.oldest_entry.isoformat(),
                        "entered_before": cutoffs[s.location_id].isoformat(),
                    }
                    for s in stale
                ]
            ),
        },
    )


@dg.asset_check(
    asset=carpark_table,
    name=QUARANTINE_GROWTH_WITHIN_LIMIT,
    blocking=False,
    description="Records quarantined in the last hour (by first_seen) are at most "
    "CARPARK_QUARANTINE_MAX_PER_HOUR.",
)
def quarantine_growth_within_limit(
    postgres: PostgresResource, check_limits: CheckLimitsResource
) -> dg.AssetCheckResult:
    by_source = postgres.quarantined_since(QUARANTINE_PERIOD)
    quarantined = sum(by_source.values())
    limit = check_limits.quarantine_max_per_hour
    return dg.AssetCheckResult(
        passed=quarantine_growth_within(quarantined, limit),
        # Bad input is expected and never stops the pipeline: a warning, not an error.
        severity=WARN,
        metadata={
            "quarantined_last_hour": quarantined,
            "limit_per_hour": limit,
            "by_source": dg.MetadataValue.json(by_source),
        },
    )


@dg.asset_check(
    asset=carpark_table,
    name=STORED_CHARGES_FOLLOW_TARIFF,
    blocking=True,
    description="Every session changed since the last evaluation is charged what its tariff's "
    "scalar reference says (closed: the stay; exit not recorded: the lost-exit charge).",
)
def stored_charges_follow_tariff(
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
    check_limits: CheckLimitsResource,
) -> dg.AssetCheckResult:
    outcome = judge_changed_charges(
        postgres,
        carpark_config.load().tariffs,
        limit=check_limits.charges_per_run,
        page_size=check_limits.page_size,
    )
    findings = outcome.findings
    return dg.AssetCheckResult(
        passed=findings.mismatches == 0,
        severity=ERROR,
        metadata={
            "sessions_checked": findings.checked,
            "mismatches": findings.mismatches,
            "locations": ", ".join(sorted(findings.mismatches_by_location)) or "none",
            "mismatches_by_location": dg.MetadataValue.json(
                dict(sorted(findings.mismatches_by_location.items()))
            ),
            "unknown_tariff": findings.unknown_tariff,
            # Times only: the keyset's session id is made of an event id, which is input.
            "changed_after": outcome.checked_from[0].isoformat(),
            "changed_until": outcome.checked_until[0].isoformat(),
            "caught_up": outcome.caught_up,
        },
    )


@dg.asset_check(
    asset=es_index,
    name=SEARCH_RECONCILES_WITH_POSTGRES,
    blocking=True,
    description="Per location, the index's document count and charge sum equal PostgreSQL's "
    "closed sessions (carpark.location_totals) less the search dead letters, as they stand "
    "between ticks.",
)
def search_reconciles_with_postgres(
    postgres: PostgresResource, search: ElasticsearchResource
) -> dg.AssetCheckResult:
    try:
        with search.session_index() as index:
            differences, dead_letters = search_differences(postgres, index)
    except EngineError as exc:
        raise dg.Failure(
            description=f"cannot reconcile the search index: {exc}",
            metadata={"search_url": redact_url(search.url)},
        ) from None
    return dg.AssetCheckResult(
        passed=not differences,
        severity=ERROR,
        metadata={
            "locations_differing": ", ".join(d["location_id"] for d in differences) or "none",
            "differences": dg.MetadataValue.json(differences),
            # Refused by the engine, so not in the index: see search_has_no_dead_letters.
            "dead_letters_excluded": dead_letters,
        },
    )


STORED_STATE_CHECKS = [
    sessions_not_negative,
    no_open_session_past_max_stay,
    quarantine_growth_within_limit,
    stored_charges_follow_tariff,
    search_reconciles_with_postgres,
]
