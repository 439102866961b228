"""`carpark dashboards import` and the import client, against a local HTTP server standing in
for Kibana / OpenSearch Dashboards (neither can run here)."""

import pytest

from carpark_dagster.cli import main
from carpark_dagster.lib.dashboards import bundle_objects
from carpark_dagster.resources.dashboards import (
    DashboardsError,
    DashboardsServer,
    DashboardsUsageError,
)
from carpark_dagster_tests.dashboards_server import dashboards

SECRET = "pa55-w0rd-secret"

REFUSED = {
    "success": False,
    "successCount": 5,
    "errors": [
        {
            "id": "carpark-earnings",
            "type": "dashboard",
            "title": "Carpark earnings",
            "error": {
                "type": "missing_references",
                "references": [{"type": "lens", "id": "carpark-sessions-per-hour"}],
            },
        },
        {
            "id": "carpark-sessions",
            "type": "index-pattern",
            "title": "Carpark sessions",
            "error": {"type": "conflict"},
        },
    ],
}


@pytest.mark.parametrize(
    ("product", "header"), [("kibana", "kbn-xsrf"), ("opensearch-dashboards", "osd-xsrf")]
)
def test_import_posts_the_products_bundle_with_its_header(product, header, capsys):
    with dashboards(product) as server:
        code = main(["dashboards", "import", "--url", server.url])  # --product auto

    out, err = capsys.readouterr()
    assert code == 0
    assert out == f"imported 7 saved objects into {product} at {server.url}\n"
    assert err == ""
    (sent,) = server.imports
    assert sent["headers"][header] == "true"
    assert sent["path"] == "/api/saved_objects/_import?overwrite=true"
    assert sent["filename"].endswith(".ndjson")
    assert sent["objects"] == bundle_objects(product)


def test_an_explicit_product_is_not_asked(capsys):
    with dashboards("opensearch-dashboards") as server:
        # Told "kibana", it sends Kibana's bundle and header, which this server refuses.
        code = main(["dashboards", "import", "--url", server.url, "--product", "kibana"])
    assert code == 1
    assert server.imports == []
    assert "refused the import: HTTP 400" in capsys.readouterr().err


def test_each_refused_object_is_reported_and_the_exit_code_is_1(capsys):
    with dashboards("kibana", answer=REFUSED) as server:
        code = main(["dashboards", "import", "--url", server.url])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"the import into kibana at {server.url} failed: 5 objects imported, 2 refused",
        "  dashboard carpark-earnings: missing_references (lens carpark-sessions-per-hour)",
        "  index-pattern carpark-sessions: conflict",
    ]


def test_basic_auth_takes_the_password_from_the_environment_only(monkeypatch, capsys):
    monkeypatch.setenv("CARPARK_DASHBOARDS_PASSWORD", SECRET)
    with dashboards("kibana", credentials=("elastic", SECRET)) as server:
        code = main(["dashboards", "import", "--url", server.url, "--user", "elastic"])
        assert code == 0
        assert len(server.imports) == 1

        monkeypatch.setenv("CARPARK_DASHBOARDS_PASSWORD", "wrong-" + SECRET)
        code = main(["dashboards", "import", "--url", server.url, "--user", "elastic"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "HTTP 401 (wrong or missing --user / CARPARK_DASHBOARDS_PASSWORD)" in err
    assert SECRET not in out + err


def test_a_user_without_the_password_variable_is_bad_usage(monkeypatch, capsys):
    monkeypatch.delenv("CARPARK_DASHBOARDS_PASSWORD", raising=False)
    code = main(["dashboards", "import", "--url", "http://127.0.0.1:9", "--user", "elastic"])
    assert code == 2
    assert capsys.readouterr().err == (
        "carpark dashboards import: --user needs the password in CARPARK_DASHBOARDS_PASSWORD\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://kibana:5601", "--url must be an http:// or https:// URL with a host"),
        ("kibana:5601", "--url must be an http:// or https:// URL with a host"),
        (
            f"http://elastic:{SECRET}@127.0.0.1:5601",
            "--url must not hold credentials: use --user and CARPARK_DASHBOARDS_PASSWORD",
        ),
    ],
)
def test_a_bad_url_is_bad_usage_and_never_echoed(url, message, capsys):
    code = main(["dashboards", "import", "--url", url])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"carpark dashboards import: {message}\n"
    assert SECRET not in err


def test_an_unreachable_server_fails_with_exit_1(capsys):
    with dashboards("kibana") as server:
        url = server.url  # closed when the block ends: nothing listens there any more
    code = main(["dashboards", "import", "--url", url, "--product", "kibana"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"carpark dashboards import: {url} is unreachable (ConnectionRefusedError)\n"
    )


def test_detect_product_refuses_a_server_that_is_neither():
    with dashboards("kibana") as server:
        server_url = server.url
    with pytest.raises(DashboardsError, match="unreachable"):
        DashboardsServer(server_url).detect_product()
    with pytest.raises(DashboardsUsageError):
        DashboardsServer("http://u:p@h")


def test_an_answer_without_json_is_a_failure():
    with dashboards("kibana", answer={"unexpected": True}) as server:
        outcome = DashboardsServer(server.url).import_objects("kibana", b"{}\n")
    assert (outcome.success, outcome.imported, outcome.errors) == (False, 0, [])
