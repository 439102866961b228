"""No secret in any message. Known secrets are planted in the environment (a DSN password, the
search engine's password and API key, a webhook token) and in input files (a "CSV" that is an
environment file, a gate file with a secret in its fields); then every path that can fail runs
for real: the legacy import and the ingest of that file (command line and Dagster job), a tick
whose PostgreSQL or search engine is unreachable through URLs with credentials, a DSN whose
password has a `%` that is no valid escape, and the run-failure sensor posting to a real local
webhook. No log line (caplog), Dagster event (the runs' event logs, metadata included),
exception message, command output or webhook payload may contain a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest

from carpark_dagster.cli import main
from carpark_dagster.defs.automation.alerts import run_failure_alerts
from carpark_dagster.defs.automation.jobs import carpark_tick_job
from carpark_dagster.defs.maintenance.legacy_import import import_legacy_csv
from carpark_dagster.defs.tick import assets
from carpark_dagster.domain.inbox import InboxRules
from carpark_dagster.lib.inbox import land_file
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    PostgresResource,
    TickClockResource,
)
from carpark_dagster.resources.alerts import AlertWebhookResource
from carpark_dagster.resources.migrations import apply_migrations, bundled_migrations
from carpark_dagster.resources.postgres import PostgresUnavailable
from carpark_dagster_tests.integration.pipeline_runs import START, pipeline_resources
from carpark_dagster_tests.webhook_server import webhook

PG_SECRET = "pgS3cretPlanted"
ES_SECRET = "esS3cretPlanted"
API_KEY = "apiKeyS3cretPlanted"
HOOK_TOKEN = "hookT0kenPlanted"
SECRETS = (PG_SECRET, ES_SECRET, API_KEY, HOOK_TOKEN)
UI = "http://127.0.0.1:3000"
# The legacy import pointed at a file of environment variables (what `/proc/self/environ`
# or a `.env` holds).
ENV_FILE = (
    f"CARPARK_POSTGRES_DSN=postgresql://u:{PG_SECRET}@h/db\n"
    f"CARPARK_ES_PASSWORD={ES_SECRET}\n"
    f"CARPARK_ES_API_KEY={API_KEY}\n"
    f"CARPARK_ALERT_WEBHOOK_URL=https://hooks.example/services/{HOOK_TOKEN}\n"
)
# A gate file with a secret in each field a reason could quote.
GATES = (
    "event_id,plate,location_id,event_type,event_time\n"
    f"s1,{PG_SECRET},Park0,entry,2026-11-27T07:01:00+08:00\n"
    f"s2,SBS1A,{ES_SECRET},entry,2026-11-27T07:02:00+08:00\n"
    f"s3,SBS2B,Park0,{API_KEY},2026-11-27T07:03:00+08:00\n"
    f"s4,SBS3C,Park0,entry,{HOOK_TOKEN}\n"
    f"{HOOK_TOKEN},SBS4D,Park0,entry,2026-11-27T07:04:00+08:00\n"
)


class Seen:
    """Everything a person could read, gathered as the test goes."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        self.texts.append((where, text if isinstance(text, str) else repr(text)))

    def run(self, instance: dg.DagsterInstance, run_id: str) -> None:
        for entry in instance.all_logs(run_id):
            self.add(f"event log of {run_id[:8]}", dg.serialize_value(entry))
        self.add("run", dg.serialize_value(instance.get_run_by_id(run_id)))

    def assert_clean(self) -> None:
        leaks = [
            (where, secret)
            for where, text in self.texts
            for secret in SECRETS
            if secret in text or secret.lower() in text.lower()
        ]
        assert leaks == []
        assert len(self.texts) > 3  # something was looked at


def test_the_detector_sees_a_leak():
    for secret in SECRETS:
        leaky = Seen()
        leaky.add("somewhere", ["a", "b", "c", f"x {secret.upper()} y"])
        with pytest.raises(AssertionError):
            leaky.assert_clean()


@pytest.fixture
def seen(caplog, capsys) -> Iterator[Seen]:
    caplog.set_level("DEBUG")
    gathered = Seen()
    yield gathered
    gathered.add("log", caplog.text)
    for record in caplog.records:
        gathered.add("log record", record.getMessage())
    captured = capsys.readouterr()
    gathered.add("stdout", captured.out)
    gathered.add("stderr", captured.err)
    gathered.assert_clean()


@pytest.fixture
def planted(monkeypatch, postgres_dsn) -> str:
    """The secrets in the environment, with a working DSN (the test's database, migrated)."""
    PostgresResource(dsn=postgres_dsn).migrate()
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    monkeypatch.setenv("CARPARK_ES_USERNAME", "elastic")
    monkeypatch.setenv("CARPARK_ES_PASSWORD", ES_SECRET)
    monkeypatch.setenv("CARPARK_ES_API_KEY", API_KEY)
    monkeypatch.setenv("CARPARK_ALERT_WEBHOOK_URL", f"http://127.0.0.1:9/hooks/{HOOK_TOKEN}")
    return postgres_dsn


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def test_an_environment_file_given_to_the_legacy_import_is_never_echoed(
    planted, seen, tmp_path, instance, capsys
):
    env_file = tmp_path / "carpark_system.csv"
    env_file.write_text(ENV_FILE)
    assert main(["import-legacy", str(env_file)]) == 2
    err = capsys.readouterr().err
    seen.add("stderr", err)
    assert err.startswith("carpark import-legacy: not a carpark_system.csv: missing column(s)")

    binary = tmp_path / "environ.csv"  # /proc/self/environ: NUL-separated
    binary.write_bytes(ENV_FILE.replace("\n", "\0").encode() + b"\xff")
    assert main(["import-legacy", str(binary)]) == 2
    err = capsys.readouterr().err
    seen.add("stderr", err)
    assert err.startswith("carpark import-legacy: not a readable CSV file")

    result = import_legacy_csv.execute_in_process(
        instance=instance,
        run_config={"ops": {"import_legacy_files": {"config": {"paths": [str(env_file)]}}}},
        resources={
            "postgres": PostgresResource(dsn=planted),
            "carpark_config": CarparkConfigResource(),
        },
        raise_on_error=False,
    )
    assert not result.success
    seen.run(instance, result.run_id)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    seen.add("step failure", message)
    assert "missing column" in message


def test_an_environment_file_and_secret_fields_given_to_the_inbox(planted, seen, tmp_path, capsys):
    env_file = tmp_path / "gates-env.csv"
    env_file.write_text(ENV_FILE)
    assert main(["ingest", str(env_file)]) == 2
    out = capsys.readouterr().out
    seen.add("stdout", out)
    assert "refused" in out

    gates = tmp_path / "gates.csv"
    gates.write_text(GATES)
    postgres = PostgresResource(dsn=planted)
    rules = InboxRules(known_locations=frozenset({"Park0"}))
    outcome = land_file(postgres, gates, rules, datetime(2026, 11, 26, 23, 10, tzinfo=UTC))
    seen.add("outcome", outcome.summary())
    # s2-s4 quarantined; s1 (a plate the "any" rule takes) and the odd event id land: data.
    assert (outcome.events, outcome.quarantined) == (2, 3)
    with psycopg.connect(planted) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM carpark.quarantine")]
        records = [json.dumps(r[0]) for r in conn.execute("SELECT record FROM carpark.quarantine")]
        refusals = [r[0] for r in conn.execute("SELECT reason FROM carpark.inbox_files")]
    seen.add("quarantine reasons", "\n".join(reasons))
    seen.add("inbox refusals", "\n".join(str(r) for r in refusals))
    # The raw records are kept, where only the database's readers see them.
    assert any(ES_SECRET in record for record in records)


def test_a_tick_whose_postgres_url_has_a_bad_percent_escape(planted, seen, monkeypatch, capsys):
    bad = f"postgresql://carpark:{PG_SECRET}%zz@127.0.0.1:9/carpark"
    with pytest.raises(PostgresUnavailable) as caught, PostgresResource(dsn=bad).connect():
        pass
    seen.add("exception", str(caught.value))
    assert "not a valid libpq connection string" in str(caught.value)

    monkeypatch.setenv("CARPARK_POSTGRES_DSN", bad)
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    seen.add("stderr", err)
    assert "CARPARK_POSTGRES_DSN is not a valid" in err


def test_failed_ticks_and_their_alerts_show_no_secret(planted, seen, instance, tmp_path):
    """A tick whose PostgreSQL is unreachable (a DSN with a password, and one with a bad
    escape), a tick whose search engine is (a URL with credentials, a password and an API
    key): the runs' event logs, and the sensor's rows and webhook payloads, are clean."""
    at = TickClockResource(start=START, now="2026-11-27T07:30+08:00")
    engines = ElasticsearchResource(
        url=f"http://elastic:{ES_SECRET}@127.0.0.1:9",
        username="elastic",
        password=ES_SECRET,
        api_key=API_KEY,
        max_retries=0,
    )
    databases = [
        PostgresResource(dsn=planted),
        PostgresResource(
            dsn=f"postgresql://carpark:{PG_SECRET}@127.0.0.1:9/carpark", connect_timeout_s=2
        ),
        PostgresResource(dsn=f"postgresql://carpark:{PG_SECRET}%zz@127.0.0.1:9/carpark"),
    ]
    monitor = PostgresResource(dsn=planted, writer=False)
    run_ids = []
    with webhook(200, path=f"/hooks/{HOOK_TOKEN}") as hook:
        for number, postgres in enumerate(databases):
            resources = {
                **pipeline_resources(postgres, engines, tmp_path, seed=3),
                "tick_clock": at,
            }
            defs = dg.Definitions(
                assets=dg.load_assets_from_modules([assets]),
                jobs=[carpark_tick_job],
                sensors=[run_failure_alerts],
                resources=resources,
            )
            alerts = AlertWebhookResource(url=hook.url, ui_url=UI, backoff_s=0.05)
            sensor_resources = {"postgres_monitor": monitor, "alert_webhook": alerts}
            with dg.build_sensor_context(
                instance=instance, definitions=defs, resources=sensor_resources
            ) as context:
                cursor = run_failure_alerts.evaluate_tick(context).cursor
            result = defs.resolve_job_def("carpark_tick").execute_in_process(
                instance=instance, raise_on_error=False
            )
            assert not result.success, number
            run_ids.append(result.run_id)
            seen.run(instance, result.run_id)
            with dg.build_sensor_context(
                instance=instance, definitions=defs, resources=sensor_resources, cursor=cursor
            ) as context:
                run_failure_alerts.evaluate_tick(context)
        for body in hook.raw:
            seen.add("webhook", body.decode())
    assert [p["run_id"] for p in hook.received] == run_ids
    with psycopg.connect(planted, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("SELECT * FROM carpark.run_failures ORDER BY failed_at").fetchall()
    seen.add("run_failures", json.dumps(rows, default=str))
    summaries = [row["error_summary"] for row in rows]
    assert summaries[0].startswith("Failure: search sync failed: search engine at")
    assert summaries[1].startswith("PostgresUnavailable: cannot connect to PostgreSQL")
    assert "not a valid libpq connection string" in summaries[2]


def test_the_command_line_never_prints_a_secret_from_an_error(planted, seen, monkeypatch, capsys):
    """Even an unexpected error's message passes the redaction on its way to stderr."""
    monkeypatch.setenv("CARPARK_ES_URL", f"http://elastic:{ES_SECRET}@127.0.0.1:9")
    monkeypatch.setenv("CARPARK_ES_MAX_RETRIES", "0")
    assert main(["search", "retry"]) == 1
    err = capsys.readouterr().err
    seen.add("stderr", err)
    assert "search engine at http://127.0.0.1:9 is unreachable" in err


def test_legacy_quarantine_reasons_are_fixed_texts(planted, seen, tmp_path, capsys):
    legacy = tmp_path / "carpark_system.csv"
    legacy.write_text(
        ",Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
        f"0,A1,{PG_SECRET},2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"
        f"1,A2,Park0,{ES_SECRET},2025-10-08 14:00:00,0.5\n"
        f"2,A3,Park0,2025-10-08 13:00:00,{API_KEY},0.5\n"
    )
    assert main(["import-legacy", str(legacy)]) == 0
    seen.add("stdout", capsys.readouterr().out)
    with psycopg.connect(planted) as conn:
        reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM carpark.quarantine"))
    assert reasons == ["unknown location", "unparseable entry time", "unparseable exit time"]


def test_old_quarantine_reasons_quoting_values_become_fixed_texts(postgres_dsn):
    """Migration 0014 rewrites the reasons older ticks and imports wrote (they quoted the
    bad value) to the fixed texts, so that a replay finds each record under the same key."""
    everything = bundled_migrations()
    before = [m for m in everything if m.version != "0014_least_privilege"]
    old = [
        ("k1", f"unknown location '{PG_SECRET}'"),
        ("k2", f"malformed plate '{ES_SECRET}' (rule 'sg')"),
        ("k3", f"unparseable entry time '{API_KEY}'"),
        ("k4", "unparseable exit time 'yesterday'"),
        ("k5", "unknown location 'Mars'"),
        ("k5", "unknown location"),  # already written again by a newer tick: left alone
        ("k6", "exit without a matching entry"),
        ("k7", f"exit earlier than the open entry (ses-{HOOK_TOKEN})"),
        ("k7", "exit earlier than the open entry (ses-other)"),  # one of the two is rewritten
    ]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        apply_migrations(conn, before)
        conn.cursor().executemany(
            "INSERT INTO carpark.quarantine (record_key, reason, source, record)"
            " VALUES (%s, %s, 'simulator', '{}')",
            old,
        )
        assert apply_migrations(conn, everything) == ["0014_least_privilege"]
        rows = conn.execute(
            "SELECT record_key, reason FROM carpark.quarantine ORDER BY 1, 2"
        ).fetchall()
    assert rows == [
        ("k1", "unknown location"),
        ("k2", "malformed plate (rule sg)"),
        ("k3", "unparseable entry time"),
        ("k4", "unparseable exit time"),
        ("k5", "unknown location"),
        ("k5", "unknown location 'Mars'"),
        ("k6", "exit without a matching entry"),
        ("k7", "exit earlier than the open entry"),
        ("k7", "exit earlier than the open entry (ses-other)"),
    ]
