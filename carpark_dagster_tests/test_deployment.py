"""The deployment files cannot be started here (no Docker engine), so check what we can:
they parse and Dagster accepts both instance configs. docker-compose.yaml itself is checked by
a real Compose loader in test_compose.py."""

import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from carpark_dagster_tests.test_compose import NOT_FOR_RUNS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["dagster.yaml", "ops/docker/dagster.yaml"])
def test_instance_configs_are_valid(path, tmp_path, monkeypatch):
    for name in ("HOST", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "x")
    shutil.copy(ROOT / path, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["telemetry"] == {"enabled": False}


def test_runs_launched_in_containers_get_every_setting_the_code_reads():
    code = "\n".join(p.read_text() for p in (ROOT / "carpark_dagster").rglob("*.py"))
    read = set(re.findall(r'"(CARPARK_[A-Z_]+)"', code)) - NOT_FOR_RUNS
    launcher = yaml.safe_load((ROOT / "ops/docker/dagster.yaml").read_text())["run_launcher"]
    assert read <= set(launcher["config"]["env_vars"])


def test_every_setting_the_code_reads_is_documented():
    code = "\n".join(p.read_text() for p in (ROOT / "carpark_dagster").rglob("*.py"))
    documented = (ROOT / ".env.example").read_text()
    missing = {v for v in re.findall(r'"(CARPARK_[A-Z_]+)"', code) if v not in documented}
    assert missing == set()


def instance_settings(instance: dg.DagsterInstance) -> tuple[bool, dict, dict]:
    from dagster._core.definitions.run_request import InstigatorType

    return (
        instance.freshness_enabled,
        {
            s.value: d
            for s, d in instance.get_tick_retention_settings(InstigatorType.SENSOR).items()
        },
        {
            s.value: d
            for s, d in instance.get_tick_retention_settings(InstigatorType.SCHEDULE).items()
        },
    )


EXPECTED_INSTANCE_SETTINGS = (
    True,
    {"STARTED": 30, "SKIPPED": 7, "SUCCESS": 30, "FAILURE": 30},
    {"STARTED": 90, "SKIPPED": 90, "SUCCESS": 90, "FAILURE": 90},
)


@pytest.mark.parametrize("path", ["dagster.yaml", "ops/docker/dagster.yaml"])
def test_both_instances_turn_freshness_on_and_set_tick_retention(path):
    """Said explicitly in both files, whatever Dagster's defaults are."""
    config = yaml.safe_load((ROOT / path).read_text())
    assert config["freshness"] == {"enabled": True}
    assert config["retention"]["schedule"] == {"purge_after_days": 90}
    assert config["retention"]["sensor"]["purge_after_days"]["skipped"] == 7


def test_the_local_instance_loads_with_freshness_and_tick_retention(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance_settings(instance) == EXPECTED_INSTANCE_SETTINGS
