"""docs/migrating-from-the-lab.md is exercised: its worked examples are the tariff's numbers and
the lab formula's, its import command runs as written against a lab-shaped database, and it
names every asset, check, schedule and sensor there is."""

import re
import shlex
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from psycopg.conninfo import conninfo_to_dict

from carpark_dagster.cli import main
from carpark_dagster.definitions import defs
from carpark_dagster.domain.config import load_config
from carpark_dagster_tests.integration.lab_database import as_lab_tuple, create_lab_table
from carpark_dagster_tests.lab_files import lab_sample

SINGAPORE = ZoneInfo("Asia/Singapore")
GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "migrating-from-the-lab.md").read_text()
EXAMPLE = re.compile(
    r"^\| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| ([^|]+) \| "
    r"\$([\d.]+) \| \$([\d.]+) \|$",
    re.M,
)


def lab_formula(entry: datetime, exit_: datetime) -> float:
    """The lab's notebook, verbatim: `duration.seconds/60/60/2 * 60/100` dollars."""
    return (exit_ - entry).seconds / 60 / 60 / 2 * 60 / 100


def test_the_worked_examples_are_the_lab_formulas_and_the_tariffs_numbers():
    examples = EXAMPLE.findall(GUIDE)
    assert len(examples) == 3
    tariff = load_config().locations["Park0"].tariff  # the lab's locations: the default tariff
    for entry_text, exit_text, stay, lab, ours in examples:
        entry, exit_ = datetime.fromisoformat(entry_text), datetime.fromisoformat(exit_text)
        assert str(exit_ - entry) == stay.strip()
        assert repr(lab_formula(entry, exit_)) == lab
        cents = tariff.charge_cents(
            entry.replace(tzinfo=SINGAPORE), exit_.replace(tzinfo=SINGAPORE)
        )
        assert Decimal(cents) / 100 == Decimal(ours)


def _documented_import() -> tuple[str, list[str]]:
    """The guide's DSN template and its `carpark import-legacy --from-postgres` command."""
    [block] = [b for b in re.findall(r"```bash\n(.*?)```", GUIDE, re.S) if "--from-postgres" in b]
    export, command = block.strip().splitlines()
    name, _, value = export.removeprefix("export ").partition("=")
    assert name == "CARPARK_LAB_POSTGRES_DSN"
    return shlex.split(value)[0], shlex.split(command)


def test_the_documented_import_command_runs_as_written(
    new_database, postgres_dsn, monkeypatch, capsys
):
    template, command = _documented_import()
    assert command[:2] == ["carpark", "import-legacy"]
    lab_dsn = new_database()
    sample = lab_sample(closed=5, parked=2, entry_after_exit=1)
    create_lab_table(lab_dsn, [as_lab_tuple(r) for r in sample.rows] * 2)  # public."CarPark"
    parts = conninfo_to_dict(lab_dsn)
    # The local services' generated password (a trust cluster takes any).
    password = parts.get("password") or "guide-pw"
    dsn = (
        template.replace("airflow", parts.get("user", "carpark"))
        .replace("<password>", password)
        .replace("<ip_address>", parts.get("host", "127.0.0.1"))
        .replace("5432", str(parts.get("port", 5432)))
        .replace("carpark_system", parts["dbname"])
    )
    monkeypatch.setenv("CARPARK_LAB_POSTGRES_DSN", dsn)
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)

    assert main(command[1:]) == 0
    out, err = capsys.readouterr()
    assert "rows read                16" in out and "duplicates                8" in out
    assert "sessions                  7  (closed 5, still parked 2)" in out
    assert password not in out + err

    assert main(command[1:]) == 0  # again: nothing written
    assert "written                   0  sessions, 0 quarantined rows" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["assets", "checks", "schedules", "sensors", "jobs"])
def test_the_guide_names_everything_the_pipeline_has(kind):
    repository = defs().get_repository_def()
    graph = defs().resolve_asset_graph()
    names = {
        "assets": {k.to_user_string() for k in graph.get_all_asset_keys()},
        "checks": {k.name for k in graph.asset_check_keys},
        "schedules": {s.name for s in repository.schedule_defs},
        "sensors": {s.name for s in repository.sensor_defs},
        "jobs": {
            j.name
            for j in repository.get_all_jobs()
            if not j.name.startswith("__") and j.name != "import_legacy_csv"
        },
    }[kind]
    assert names and {n for n in names if f"`{n}`" not in GUIDE} == set()
