"""The engine-specific part: which client is built, with which settings, and what it sends.

Requests are exercised for real against the OpenSearch node in the pipeline tests; no
Elasticsearch server can be started here, so for Elasticsearch we check the client we build,
and what it puts on the wire for a local HTTP stand-in.
"""

import base64
import json
from typing import ClassVar

import elasticsearch
import opensearchpy
import pytest

from carpark_dagster.resources.engines import ConnectionSettings, EngineError, connect
from carpark_dagster_tests.local_http import QuietHandler, serving


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


class _RecordingNode(QuietHandler):
    """Answers every POST as an Elasticsearch node would, recording what it was sent."""

    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append((self.path, self.headers["content-type"], body))
        answer = json.dumps({"responses": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("x-elastic-product", "Elasticsearch")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_ndjson_bodies_are_sent_as_they_are_with_their_content_type(engine):
    """A multi-search body (NDJSON text) reaches the node byte for byte, labelled NDJSON, from
    either engine's client (no Elasticsearch server runs here: a local HTTP stand-in answers)."""
    _RecordingNode.seen = []
    body = '{"index":"carpark-sessions"}\n{"size":0}\n{"index":"carpark-sessions"}\n{"size":0}\n'
    with serving(_RecordingNode) as url:
        client = connect(ConnectionSettings(url=url, max_retries=0), engine=engine)
        try:
            answer = client.request(
                "POST", "/_msearch", body=body, content_type="application/x-ndjson"
            )
        finally:
            client.close()
    assert answer == {"responses": []}
    [(path, content_type, sent)] = _RecordingNode.seen
    assert (path, sent) == ("/_msearch", body.encode())
    assert "x-ndjson" in content_type
