"""Credentials out of messages: by shape (URLs, key=value fields, authorization headers,
environment lines) and by value (the secrets the environment holds)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.redaction import (
    REDACTED,
    redact_secrets,
    redact_url,
    secret_values,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot connect to postgresql://carpark:s3cret@db:5432/carpark",
            "cannot connect to postgresql://db:5432/carpark",
        ),
        (
            "dsn host=db user=carpark password=s3cret dbname=x",
            "dsn host=db user=carpark password=*** dbname=x",
        ),
        ("password: 's3cret' refused", "password: *** refused"),
        (
            "GET https://elastic:s3cret@es:9200/_bulk?api_key=s3cret",
            "GET https://es:9200/_bulk?api_key=***",
        ),
        ("authorization: ApiKey c2VjcmV0c2VjcmV0", "authorization: ApiKey ***"),
        ("header Bearer abcdefghijkl.mnop", "header Bearer ***"),
        (
            "CARPARK_ES_PASSWORD=s3cret\nCARPARK_ES_API_KEY=abc123 ELASTIC_PASSWORD: 'x y'",
            "CARPARK_ES_PASSWORD=***\nCARPARK_ES_API_KEY=*** ELASTIC_PASSWORD: ***",
        ),
        (
            "CARPARK_POSTGRES_DSN=postgresql://u:SECRET@h/db",
            "CARPARK_POSTGRES_DSN=postgresql://h/db",
        ),
        ("a token=abc.def and secret: 'x'", "a token=*** and secret: ***"),
        (
            "nothing secret at http://127.0.0.1:3000/runs",
            "nothing secret at http://127.0.0.1:3000/runs",
        ),
    ],
)
def test_secrets_are_removed(text, expected):
    assert redact_secrets(text) == expected


def test_known_values_go_wherever_they_are_and_in_any_form():
    known = ["S3c%zzret", "pa%40ss"]
    text = 'invalid percent-encoded token: "S3c%zzret"; later pa@ss, pa%40ss'
    assert redact_secrets(text, known) == "invalid percent-encoded token: ***; later ***, ***"
    assert redact_secrets("abc and ab", ["ab"]) == "abc and ab"  # too short to replace


def test_the_secret_values_of_the_environment():
    environ = {
        "CARPARK_POSTGRES_DSN": "postgresql://carpark:pg%25pw@db:5432/carpark",
        "CARPARK_ES_PASSWORD": "espw",
        "CARPARK_ES_API_KEY": "",
        "CARPARK_ALERT_WEBHOOK_URL": "https://hooks.example/services/T0/B0/tok3n",
        "CARPARK_ES_URL": "http://es:9200",  # not a secret
        "HOME": "/root",
    }
    assert secret_values(environ) == [
        "postgresql://carpark:pg%25pw@db:5432/carpark",
        "pg%25pw",
        "carpark:pg%25pw",
        "espw",
        "https://hooks.example/services/T0/B0/tok3n",
        "/services/T0/B0/tok3n",
    ]
    keyword = secret_values({"CARPARK_POSTGRES_DSN": "host=db password='a b\\'c' dbname=x"})
    assert keyword[1] == "a b\\'c"
    assert redact_secrets("failed for pg%pw", secret_values(environ)) == "failed for ***"


def test_urls_lose_their_credentials_only():
    assert redact_url("https://user:pw@es.example:9200/x") == "https://es.example:9200/x"
    assert redact_url("http://127.0.0.1:9250") == "http://127.0.0.1:9250"
    assert redact_url("http://u:p@h:notaport/x") == "http://h:notaport/x"


@given(st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s))
def test_a_known_secret_never_survives(secret):
    text = f"x {secret} y {secret}"
    assert secret not in redact_secrets(text, [secret])
    assert REDACTED in redact_secrets(text, [secret])
