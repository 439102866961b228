from datetime import timedelta

import pytest

from carpark_dagster.domain.config import ConfigError, load_config, parse_config
from carpark_dagster.domain.tariff import DEFAULT_TARIFF


def test_the_shipped_configuration_has_the_labs_six_locations_on_the_default_tariff():
    config = load_config()
    assert list(config.locations) == [f"Park{i}" for i in range(6)]
    assert all(loc.tariff == DEFAULT_TARIFF for loc in config.locations.values())
    assert all(loc.plate_rule == "any" for loc in config.locations.values())
    assert config.lateness == timedelta(hours=24)
    assert config.tariffs["hdb_eps"].grace_minutes == 15


def test_a_file_given_by_path_is_read(tmp_path):
    path = tmp_path / "carpark.toml"
    path.write_text(
        """
[defaults]
lateness_hours = 6
capacity = 50
sessions_per_day = 100

[tariffs.eps]
preset = "hdb_eps"

[locations.HDB1]
tariff = "eps"
plate_rule = "sg"
"""
    )
    config = load_config(path)
    location = config.locations["HDB1"]
    assert (location.capacity, location.sessions_per_day, location.plate_rule) == (50, 100, "sg")
    assert location.tariff.billing == "per_minute"
    assert config.lateness == timedelta(hours=6)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"locations": {}}, "no \\[locations"),
        ({"tables": {}}, "unknown section"),
        ({"defaults": {"colour": 1}}, "unknown key"),
        (
            {"locations": {"A": {"tariff": "nope", "capacity": 1, "sessions_per_day": 1}}},
            "tariff 'nope' is not defined",
        ),
        (
            {
                "tariffs": {"default": {"billing": "per_block"}},
                "locations": {"A": {"plate_rule": "us", "capacity": 1, "sessions_per_day": 1}},
            },
            "plate_rule",
        ),
        (
            {
                "tariffs": {"default": {}},
                "locations": {"A": {"capacity": -1, "sessions_per_day": 1}},
            },
            "capacity",
        ),
        (
            {
                "tariffs": {"default": {"block_minutes": 0}},
                "locations": {"A": {"capacity": 1, "sessions_per_day": 1}},
            },
            "tariffs.default",
        ),
        ({"defaults": {"lateness_hours": 0}, "locations": {}}, "lateness_hours"),
    ],
)
def test_bad_configurations_say_where_they_are_wrong(raw, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(raw, source="site.toml")
    assert str(caught.value).startswith("site.toml: ")


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[locations\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
