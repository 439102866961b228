"""The carpark configuration: locations, their tariffs and plate rules (a TOML file).

The file shipped with the package (`carpark_dagster/config/carpark.toml`) documents every key;
`CARPARK_CONFIG` names another one.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from carpark_dagster.domain.sessions import DEFAULT_MAX_STAY
from carpark_dagster.domain.tariff import Tariff, tariff_from_mapping

PLATE_RULES = ("any", "sg")
_LOCATION_KEYS = {"name", "tariff", "plate_rule", "capacity", "sessions_per_day", "max_stay_hours"}
DEFAULT_MAX_STAY_HOURS = DEFAULT_MAX_STAY // timedelta(hours=1)
_DEFAULT_KEYS = (_LOCATION_KEYS - {"name"}) | {"lateness_hours"}


# Limits of every number in the file (the shipped carpark.toml lists them):
# what the storage and the pricing can hold, and what makes sense for a carpark.
INT32_MAX = 2**31 - 1  # carpark.locations.capacity is an integer column
MAX_SESSIONS_PER_DAY = 10_000_000  # the simulator draws this many a day per location
MAX_HOURS = 24 * 366  # lateness and max stay: at most a (leap) year
MAX_LOCATION_ID_CHARS = 64
MAX_NAME_CHARS = 200


class ConfigError(ValueError):
    """The configuration file is wrong; each problem names the file, the key and what is
    allowed. `problems` lists them all, one line each (`str()` joins them with newlines)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Location:
    location_id: str
    name: str
    tariff: Tariff
    plate_rule: str
    capacity: int
    sessions_per_day: int
    # An open session older than this ends with its exit not recorded (docs/time-model.md).
    max_stay: timedelta = DEFAULT_MAX_STAY


@dataclass(frozen=True)
class CarparkConfig:
    locations: Mapping[str, Location]
    tariffs: Mapping[str, Tariff]
    lateness: timedelta
    source: str

    def tariff_for(self, location_id: str) -> Tariff:
        return self.locations[location_id].tariff

    @property
    def tariffs_by_location(self) -> dict[str, Tariff]:
        return {loc: location.tariff for loc, location in self.locations.items()}

    @property
    def max_stays(self) -> dict[str, timedelta]:
        return {loc: location.max_stay for loc, location in self.locations.items()}


def bundled_config_path() -> Path:
    return Path(str(resources.files("carpark_dagster") / "config" / "carpark.toml"))


def load_config(path: str | Path | None = None) -> CarparkConfig:
    path = Path(path) if path else bundled_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (CARPARK_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Mapping[str, Any], source: str = "<config>") -> CarparkConfig:
    """The configuration, or a ConfigError listing every problem (not only the first)."""
    problems: list[str] = []

    def problem(where: str, message: str) -> None:
        problems.append(f"{source}: {where}{': ' if where else ''}{message}")

    if unknown := sorted(str(k) for k in set(raw) - {"defaults", "tariffs", "locations"}):
        problem("", f"unknown section(s) {unknown} (allowed: defaults, tariffs, locations)")
    defaults = _table(raw, "defaults", problem)
    if bad := sorted(str(k) for k in set(defaults) - _DEFAULT_KEYS):
        problem("[defaults]", f"unknown key(s) {bad} (allowed: {sorted(_DEFAULT_KEYS)})")

    tariffs: dict[str, Tariff] = {}
    broken: set[str] = set()  # tariffs with a problem of their own, said once
    for name, spec in _table(raw, "tariffs", problem).items():
        try:
            tariffs[name] = tariff_from_mapping(name, spec)
        except ValueError as exc:
            problem(f"[tariffs.{name}]", str(exc))
            broken.add(name)

    lateness_hours = _hours(
        defaults.get("lateness_hours", 24), "[defaults]", "lateness_hours", 0, problem, above=True
    )

    locations: dict[str, Location] = {}
    for location_id, spec in _table(raw, "locations", problem).items():
        where = f"[locations.{location_id}]"
        if not _valid_location_id(location_id):
            problem(
                "[locations]",
                f"a location id must be 1 to {MAX_LOCATION_ID_CHARS} printable characters "
                "without spaces at either end",
            )
            continue
        if not isinstance(spec, Mapping):
            problem(where, "must be a table of settings")
            continue
        if bad := sorted(str(k) for k in set(spec) - _LOCATION_KEYS):
            problem(where, f"unknown key(s) {bad} (allowed: {sorted(_LOCATION_KEYS)})")
        merged = {**defaults, **spec}
        location = _location(location_id, merged, tariffs, broken, where, problem)
        if location is not None:
            locations[location_id] = location
    if not locations and not problems:
        problem("", "no [locations.*] defined")
    if problems:
        raise ConfigError(problems[0], problems)
    assert lateness_hours is not None
    return CarparkConfig(
        locations=locations,
        tariffs=tariffs,
        lateness=timedelta(hours=lateness_hours),
        source=source,
    )


def _table(raw: Mapping[str, Any], key: str, problem) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        problem(f"[{key}]", "must be a table")
        return {}
    return dict(value)


def _valid_location_id(location_id: Any) -> bool:
    return (
        isinstance(location_id, str)
        and 1 <= len(location_id) <= MAX_LOCATION_ID_CHARS
        and location_id.isprintable()
        and location_id == location_id.strip()
    )


def _location(
    location_id: str,
    merged: dict,
    tariffs: dict[str, Tariff],
    broken: set[str],
    where: str,
    problem,
) -> Location | None:
    ok = True

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        problem(where, f"{key} {message}")

    tariff_name = merged.get("tariff", "default")
    if not _valid_location_id(tariff_name):  # the same rule for names of tariffs
        bad("tariff", f"must name a [tariffs.NAME] table{_got(tariff_name)}")
    elif tariff_name in broken:
        ok = False
    elif tariff_name not in tariffs:
        bad("tariff", f"{tariff_name!r} is not defined under [tariffs]")
    plate_rule = merged.get("plate_rule", "any")
    if not isinstance(plate_rule, str) or plate_rule not in PLATE_RULES:
        bad("plate_rule", f"must be one of {', '.join(repr(r) for r in PLATE_RULES)}")
    name = merged.get("name", location_id)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        bad("name", f"must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    counts = {}
    for key, most in (("capacity", INT32_MAX), ("sessions_per_day", MAX_SESSIONS_PER_DAY)):
        value = merged.get(key)
        if not _whole(value) or not 0 <= value <= most:
            bad(key, f"must be a whole number from 0 to {most}{_got(value)}")
        counts[key] = value
    max_stay_hours = _hours(
        merged.get("max_stay_hours", DEFAULT_MAX_STAY_HOURS),
        where,
        "max_stay_hours",
        1,
        problem,
    )
    if not ok or max_stay_hours is None:
        return None
    return Location(
        location_id=location_id,
        name=name,
        tariff=tariffs[tariff_name],
        plate_rule=plate_rule,
        capacity=counts["capacity"],
        sessions_per_day=counts["sessions_per_day"],
        max_stay=timedelta(hours=max_stay_hours),
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hours(
    value: Any, where: str, key: str, least: float, problem, above: bool = False
) -> float | None:
    """A number of hours in [least, MAX_HOURS] (or (least, MAX_HOURS] when `above`): an
    integer or a finite float, never a boolean."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    finite = number and math.isfinite(value)
    in_range = finite and (value > least if above else value >= least) and value <= MAX_HOURS
    if in_range:
        return value
    lower = f"more than {least:g}" if above else f"from {least:g}"
    problem(where, f"{key} must be a number of hours {lower} to {MAX_HOURS}{_got(value)}")
    return None


def _got(value: Any) -> str:
    """What was wrong with a value, by kind (never the value itself, which may be anything)."""
    if value is None:
        return " (missing)"
    if isinstance(value, bool):
        return " (got a boolean)"
    if isinstance(value, float) and math.isnan(value):
        return " (got nan)"
    if isinstance(value, float) and math.isinf(value):
        return " (got an infinity)"
    if isinstance(value, int | float):
        return " (got a number out of range)"
    kind = {str: "string", list: "array", dict: "table"}.get(type(value), "value of another kind")
    return f" (got a {kind})"


def describe_config(config: CarparkConfig) -> list[str]:
    """The effective configuration, as `carpark config check` prints it: every value after
    defaults and presets applied."""
    lines = [
        f"configuration {config.source}: valid",
        f"lateness: {_hours_text(config.lateness)} (events later than this are set aside)",
        f"tariffs ({len(config.tariffs)}):",
    ]
    for name, tariff in config.tariffs.items():
        night = tariff.night_cap
        lines.append(
            f"  {name}: {tariff.billing}, {tariff.rate_cents} cents per {tariff.block_minutes} "
            f"min, grace {tariff.grace_minutes} min, night cap "
            + (
                f"{night.cap_cents} cents {night.start:%H:%M}-{night.end:%H:%M}"
                if night
                else "none"
            )
            + ", daily cap "
            + ("none" if tariff.daily_cap_cents is None else f"{tariff.daily_cap_cents} cents")
            + f", exit not recorded {tariff.lost_exit_charge_cents} cents, {tariff.timezone}"
        )
    lines.append(f"locations ({len(config.locations)}):")
    for location_id, location in config.locations.items():
        lines.append(
            f"  {location_id} ({location.name}): tariff {location.tariff.name}, plates "
            f"{location.plate_rule}, capacity {location.capacity}, {location.sessions_per_day} "
            f"sessions a day (simulator), max stay {_hours_text(location.max_stay)}"
        )
    return lines


def _hours_text(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours:g} h"
