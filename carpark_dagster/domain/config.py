"""The carpark configuration: locations, their tariffs and plate rules (a TOML file).

The file shipped with the package (`carpark_dagster/config/carpark.toml`) documents every key;
`CARPARK_CONFIG` names another one.
"""

from __future__ import annotations

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


class ConfigError(ValueError):
    """The configuration file is wrong; the message names the file and the key."""


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
    def fail(message: str) -> ConfigError:
        return ConfigError(f"{source}: {message}")

    unknown = set(raw) - {"defaults", "tariffs", "locations"}
    if unknown:
        raise fail(f"unknown section(s) {sorted(unknown)}")
    defaults = dict(raw.get("defaults", {}))
    if bad := set(defaults) - _DEFAULT_KEYS:
        raise fail(f"[defaults]: unknown key(s) {sorted(bad)}")

    tariffs: dict[str, Tariff] = {}
    for name, spec in raw.get("tariffs", {}).items():
        try:
            tariffs[name] = tariff_from_mapping(name, spec)
        except ValueError as exc:
            raise fail(f"[tariffs.{name}]: {exc}") from None

    lateness_hours = defaults.pop("lateness_hours", 24)
    if not isinstance(lateness_hours, int | float) or lateness_hours <= 0:
        raise fail("[defaults] lateness_hours must be a positive number")

    locations: dict[str, Location] = {}
    for location_id, spec in raw.get("locations", {}).items():
        where = f"[locations.{location_id}]"
        if bad := set(spec) - _LOCATION_KEYS:
            raise fail(f"{where}: unknown key(s) {sorted(bad)}")
        merged = {**defaults, **spec}
        tariff_name = merged.get("tariff", "default")
        if tariff_name not in tariffs:
            raise fail(f"{where}: tariff {tariff_name!r} is not defined under [tariffs]")
        plate_rule = merged.get("plate_rule", "any")
        if plate_rule not in PLATE_RULES:
            raise fail(f"{where}: plate_rule must be one of {PLATE_RULES}, not {plate_rule!r}")
        for key in ("capacity", "sessions_per_day"):
            value = merged.get(key)
            if not isinstance(value, int) or value < 0 or isinstance(value, bool):
                raise fail(f"{where}: {key} must be a whole number >= 0, not {value!r}")
        max_stay_hours = merged.get("max_stay_hours", DEFAULT_MAX_STAY_HOURS)
        if (
            not isinstance(max_stay_hours, int | float)
            or isinstance(max_stay_hours, bool)
            or not 1 <= max_stay_hours <= 24 * 366
        ):
            raise fail(f"{where}: max_stay_hours must be a number of hours from 1 to 8784")
        locations[location_id] = Location(
            location_id=location_id,
            name=str(merged.get("name", location_id)),
            tariff=tariffs[tariff_name],
            plate_rule=plate_rule,
            capacity=merged["capacity"],
            sessions_per_day=merged["sessions_per_day"],
            max_stay=timedelta(hours=max_stay_hours),
        )
    if not locations:
        raise fail("no [locations.*] defined")
    return CarparkConfig(
        locations=locations,
        tariffs=tariffs,
        lateness=timedelta(hours=lateness_hours),
        source=source,
    )
