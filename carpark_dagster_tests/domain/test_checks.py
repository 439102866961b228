"""The rules of the checks of the stored state (the checks themselves run against the real
services in integration/test_checks_job.py)."""

from datetime import UTC, datetime, timedelta

from carpark_dagster.domain.checks import (
    ChargeFindings,
    judge_charges,
    max_stay_cutoffs,
    quarantine_growth_within,
)
from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.domain.tariff import tariff_from_mapping

TARIFFS = {
    "default": tariff_from_mapping(
        "default", {"block_minutes": 30, "rate_cents": 60, "lost_exit_charge_cents": 2000}
    )
}
ENTRY = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Singapore


def _session(
    number: int,
    minutes: int | None,
    charge: int | None,
    location: str = "Park0",
    tariff: str = "default",
) -> StoredSession:
    exit_time = None if minutes is None else ENTRY + timedelta(minutes=minutes)
    return StoredSession(
        session_id=f"ses-{number}",
        plate="SGX1234A",
        location_id=location,
        entry_time=ENTRY,
        exit_time=exit_time,
        duration_seconds=None if minutes is None else minutes * 60,
        charge_cents=charge,
        tariff=tariff,
        updated_at=ENTRY + timedelta(days=1),
    )


def test_charges_are_judged_against_the_tariff_that_priced_them():
    findings = judge_charges(
        [
            _session(1, 60, 120),  # two blocks: right
            _session(2, 61, 180),  # three started blocks: right
            _session(3, 61, 120, location="Park2"),  # one block short
            _session(4, None, 2000),  # exit not recorded: the lost-exit charge, right
            _session(5, None, 120, location="Park2"),  # exit not recorded, charged a stay
            _session(6, None, None),  # open: nothing to judge yet
            _session(7, 30, 60, tariff="retired"),  # a tariff no longer configured
            _session(8, -5, 0, location="Park4"),  # an exit before its entry: never right
        ],
        TARIFFS,
    )
    assert findings.checked == 6
    assert findings.mismatches == 3
    assert findings.mismatches_by_location == {"Park2": 2, "Park4": 1}
    assert findings.unknown_tariff == 1


def test_findings_of_several_pages_add_up():
    total = ChargeFindings()
    total.add(judge_charges([_session(1, 60, 120), _session(2, 60, 1)], TARIFFS))
    total.add(judge_charges([_session(3, 60, 2, location="Park1")], TARIFFS))
    total.add(judge_charges([_session(4, 60, 0, tariff="retired")], TARIFFS))
    assert (total.checked, total.mismatches, total.unknown_tariff) == (3, 2, 1)
    assert total.mismatches_by_location == {"Park0": 1, "Park1": 1}


def test_max_stay_cutoffs_count_back_from_the_last_processed_window():
    processed_until = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    cutoffs = max_stay_cutoffs(
        processed_until, {"Park0": timedelta(hours=72), "Park1": timedelta(hours=1.5)}
    )
    assert cutoffs == {
        "Park0": datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        "Park1": datetime(2026, 11, 26, 23, 30, tzinfo=UTC),
    }


def test_quarantine_growth_is_within_the_limit_up_to_the_limit_itself():
    assert quarantine_growth_within(0, 0)
    assert quarantine_growth_within(1000, 1000)
    assert not quarantine_growth_within(1001, 1000)
