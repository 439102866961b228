"""The engine-specific part: which client is built, with which settings.

Requests are exercised for real against the OpenSearch node in the pipeline tests; no
Elasticsearch server can be started here, so for Elasticsearch we check the client we build.
"""

import base64

import elasticsearch
import opensearchpy
import pytest

from carpark_dagster.resources.engines import ConnectionSettings, EngineError, connect


def test_elasticsearch_gets_the_official_elasticsearch_client_with_basic_auth():
    engine = connect(
        ConnectionSettings(url="https://es.example:9200", username="elastic", password="pw"),
        engine="elasticsearch",
    )
    assert engine.name == "elasticsearch"
    assert isinstance(engine.client, elasticsearch.Elasticsearch)
    expected = "Basic " + base64.b64encode(b"elastic:pw").decode()
    assert engine.client._headers["authorization"] == expected
    node = engine.client.transport.node_pool.get().config
    assert (node.scheme, node.host, node.port) == ("https", "es.example", 9200)
    assert node.verify_certs is True


def test_elasticsearch_api_keys_are_sent_as_api_keys():
    engine = connect(
        ConnectionSettings(url="https://es.example:9200", api_key="a2V5"), engine="elasticsearch"
    )
    assert engine.client._headers["authorization"] == "ApiKey a2V5"


def test_opensearch_gets_the_opensearch_client():
    engine = connect(
        ConnectionSettings(url="http://127.0.0.1:9250", username="admin", password="pw"),
        engine="opensearch",
    )
    assert engine.name == "opensearch"
    assert isinstance(engine.client, opensearchpy.OpenSearch)
    assert engine.client.transport.kwargs["http_auth"] == ("admin", "pw")


def test_unknown_engines_are_refused():
    with pytest.raises(ValueError, match="unknown search engine"):
        connect(ConnectionSettings(url="http://127.0.0.1:9"), engine="solr")


def test_an_unreachable_engine_is_named_without_credentials():
    engine = connect(
        ConnectionSettings(url="http://user:pw@127.0.0.1:9", max_retries=0), engine="opensearch"
    )
    with pytest.raises(EngineError, match=r"http://127\.0\.0\.1:9 is unreachable") as caught:
        engine.request("GET", "/")
    assert "pw" not in str(caught.value)
