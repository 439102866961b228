import pytest

from carpark_dagster.resources.migrations import apply_migrations, bundled_migrations
from carpark_dagster.resources.postgres import EPOCH_WATERMARK


@pytest.mark.services
def test_migrations_apply_once(postgres):
    with postgres.connect() as conn:
        assert apply_migrations(conn, bundled_migrations()) == []
        versions = [
            r[0] for r in conn.execute("SELECT version FROM public.carpark_schema_migrations")
        ]
    assert versions == [m.version for m in bundled_migrations()]


@pytest.mark.services
def test_a_consumer_without_watermark_starts_at_the_beginning(postgres):
    assert postgres.watermark("nobody") == EPOCH_WATERMARK
