"""Settings read from the environment into the resources."""

from carpark_dagster.settings import build_resources


def test_search_settings_come_from_the_environment(monkeypatch):
    for name, value in {
        "CARPARK_ES_URL": "https://es.example:9200",
        "CARPARK_ES_API_KEY": "a2V5",
        "CARPARK_ES_CA_CERTS": "/etc/ssl/es-ca.crt",
        "CARPARK_ES_TIMEOUT_S": "12.5",
        "CARPARK_ES_MAX_RETRIES": "7",
        "CARPARK_ES_ALIAS": "carpark-staging",
        "CARPARK_ES_LEGACY_ALIAS": "none",
        "CARPARK_ES_SHARDS": "3",
        "CARPARK_ES_REPLICAS": "1",
        "CARPARK_ES_REFRESH_INTERVAL": "30s",
    }.items():
        monkeypatch.setenv(name, value)

    search = build_resources(resolve=True)["search"]

    assert search.url == "https://es.example:9200"
    assert search.verify_certs is True  # on unless switched off explicitly
    settings = search.settings()
    assert (settings.api_key, settings.ca_certs) == ("a2V5", "/etc/ssl/es-ca.crt")
    assert (settings.request_timeout_s, settings.max_retries) == (12.5, 7)
    assert (search.alias, search.legacy_alias) == ("carpark-staging", None)
    assert (search.shards, search.replicas, search.refresh_interval) == (3, 1, "30s")


def test_the_defaults_keep_the_lab_alias(monkeypatch):
    monkeypatch.delenv("CARPARK_ES_ALIAS", raising=False)
    monkeypatch.delenv("CARPARK_ES_LEGACY_ALIAS", raising=False)
    search = build_resources(resolve=True)["search"]
    assert (search.alias, search.legacy_alias) == ("carpark-sessions", "frompostgresql")
    assert (search.shards, search.replicas, search.refresh_interval) == (1, 0, "5s")
