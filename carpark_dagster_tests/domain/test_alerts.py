"""A failed run's summary and payload: short, one line, and never a secret."""

import json
from datetime import UTC, datetime

import pytest

from carpark_dagster.domain.alerts import (
    SUMMARY_LIMIT,
    alert_payload,
    describe_failure,
    error_summary,
    run_url,
)

FAILED_AT = datetime(2026, 12, 1, 1, 2, 3, tzinfo=UTC)


def test_the_summary_is_the_class_and_the_first_line_trimmed():
    message = (
        "\n  could not reach postgresql://carpark:pw@db/carpark  \nTraceback (most recent...)\n"
    )
    assert error_summary("PostgresUnavailable", message) == (
        "PostgresUnavailable: could not reach postgresql://db/carpark"
    )
    # Dagster's messages often start with the class name already
    assert error_summary("Failure", "Failure: search sync failed") == "Failure: search sync failed"
    assert error_summary("PostgresUnavailable", "carpark.x.PostgresUnavailable: down") == (
        "PostgresUnavailable: down"
    )
    assert error_summary(None, None) == "unknown error"
    assert error_summary("KeyError", "") == "KeyError"


def test_a_long_message_is_cut_and_control_characters_dropped():
    summary = error_summary("ValueError", "x\x00y\t" + "z" * 1000)
    assert len(summary) == SUMMARY_LIMIT
    assert summary.endswith("…")
    assert summary.startswith("ValueError: x y z")


def test_run_links_use_the_ui_url_without_credentials():
    assert run_url("http://127.0.0.1:3000/", "abc-1") == "http://127.0.0.1:3000/runs/abc-1"
    assert run_url("https://ops:pw@dagster.example/", "r") == "https://dagster.example/runs/r"
    assert run_url("", "r") == "http://127.0.0.1:3000/runs/r"


def test_the_payload_holds_only_the_failure_and_no_secret():
    failure = describe_failure(
        run_id="run-1",
        job_name="carpark_tick",
        failed_steps=["es_index", "es_index", "location_earnings"],
        error_class="EngineError",
        error_message="bulk to https://elastic:topsecret@es:9200 failed; password=topsecret",
        failed_at=FAILED_AT,
        ui_url="http://127.0.0.1:3000",
    )
    payload = alert_payload(failure)
    assert set(payload) == {
        "event",
        "text",
        "run_id",
        "job_name",
        "failed_steps",
        "error_summary",
        "failed_at",
        "run_url",
    }
    assert payload["failed_steps"] == ["es_index", "location_earnings"]
    assert payload["failed_at"] == "2026-12-01T01:02:03+00:00"
    assert payload["run_url"] == "http://127.0.0.1:3000/runs/run-1"
    assert payload["error_summary"] == ("EngineError: bulk to https://es:9200 failed; password=***")
    assert "topsecret" not in json.dumps(payload)


def test_failure_times_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        describe_failure("r", "j", [], None, None, datetime(2026, 12, 1), "http://x")
