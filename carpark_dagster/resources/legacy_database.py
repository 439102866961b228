"""The lab's PostgreSQL database, read once by `carpark import-legacy --from-postgres`.

Its table (`public."CarPark"`: `"Plate"`, `"LocationID"`, `"Entry_DateTime"`,
`"Exit_DateTime"`, `"Parking_Charges"`, no key) is read through a server-side cursor in
batches, every cell as text, so that memory stays bounded whatever its size and the rows go
through the same rules as the lab's CSV files (`domain/legacy.py`). The session is read-only:
nothing is ever written to the lab's database.

The DSN's password never appears in a message: `redact_dsn` is the one place that makes an
error about the connection safe to show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote, quote_plus

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from carpark_dagster.domain.legacy import LEGACY_COLUMNS, LegacyFormatError

DEFAULT_BATCH_ROWS = 50_000
CURSOR_NAME = "carpark_legacy_import"
REDACTED = "***"

# Every cell as text (NULL as ''): timestamps as `YYYY-MM-DD HH:MM:SS[.ffffff]` (DateStyle
# ISO), float charges as their shortest exact text (extra_float_digits 1), as the lab's own
# dump of the table wrote them. Ordered by every column so that repeats of a row are adjacent
# (a repeat across two batches is still seen) and the first of them is always the same one.
SELECT_LAB_ROWS = sql.SQL(
    """
SELECT {cells}
FROM {table}
ORDER BY {columns}
"""
)
PROBE_LAB_TABLE = sql.SQL("SELECT * FROM {table} LIMIT 0")
SESSION_OPTIONS = (
    "-c default_transaction_read_only=on -c DateStyle=ISO,YMD -c extra_float_digits=1 "
    "-c statement_timeout=0"
)


class LegacyDatabaseUnavailable(RuntimeError):
    """The lab's database cannot be reached or read; the message carries no password."""


def redact_dsn(message: str, dsn: str) -> str:
    """`message` with the DSN and its password (as written, and URL-encoded) replaced by ***.

    psycopg's messages may quote the connection string or a piece of it; callers that cannot
    parse the DSN must not show such a message at all (its password is then unknown)."""
    secrets = {dsn}
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        secrets |= {password, quote(password, safe=""), quote_plus(password)}
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            message = message.replace(secret, REDACTED)
    return message


def table_identifier(parts: Sequence[str]) -> sql.Identifier:
    """`("public", "CarPark")` as the quoted, schema-qualified `"public"."CarPark"`."""
    return sql.Identifier(*parts)


class LegacyDatabase:
    """A read-only connection to the lab's database (`dsn`: a libpq string or URL; a
    password may also come from PGPASSWORD or ~/.pgpass, as for any libpq client)."""

    def __init__(self, dsn: str, connect_timeout_s: int = 10):
        try:
            self._parts = conninfo_to_dict(dsn)
        except psycopg.Error:
            # Its message would quote the DSN, perhaps the password: say only what is wrong.
            raise LegacyFormatError(
                "the lab database's DSN cannot be parsed (it is not shown here: it may hold a "
                "password); expected postgresql://USER@HOST:PORT/DBNAME or key=value pairs"
            ) from None
        self._dsn = dsn
        self.connect_timeout_s = connect_timeout_s

    def describe(self) -> str:
        """Where we read, without credentials: user@host:port/dbname."""
        parts = self._parts
        user = f"{parts['user']}@" if parts.get("user") else ""
        return (
            f"{user}{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/"
            f"{parts.get('dbname', '')}"
        )

    def dbname(self) -> str:
        return str(self._parts.get("dbname") or self._parts.get("user") or "")

    def read_rows(
        self, table: Sequence[str], batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """The table's rows, `batch_rows` at a time, as frames of LEGACY_COLUMNS (text).

        A missing table or column is a `LegacyFormatError`; any other failure a
        `LegacyDatabaseUnavailable` without the password."""
        shown = ".".join(table)
        identifier = table_identifier(table)
        with self._open() as conn:
            try:
                with conn.cursor() as probe:
                    probe.execute(PROBE_LAB_TABLE.format(table=identifier))
                    found = [column.name for column in probe.description or []]
                missing = [c for c in LEGACY_COLUMNS if c not in found]
                if missing:
                    raise LegacyFormatError(
                        f"table {shown!r} is not the lab's CarPark table: missing column(s) "
                        f"{missing}; expected {LEGACY_COLUMNS}"
                    )
                columns = sql.SQL(", ").join(sql.Identifier(c) for c in LEGACY_COLUMNS)
                cells = sql.SQL(", ").join(
                    sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c))
                    for c in LEGACY_COLUMNS
                )
                query = SELECT_LAB_ROWS.format(cells=cells, table=identifier, columns=columns)
                with conn.cursor(name=CURSOR_NAME) as cursor:
                    cursor.itersize = batch_rows
                    cursor.execute(query)
                    while rows := cursor.fetchmany(batch_rows):
                        yield pd.DataFrame(rows, columns=LEGACY_COLUMNS, dtype=object)
            except psycopg.errors.UndefinedTable:
                raise LegacyFormatError(
                    f"no table {shown!r} in the lab database at {self.describe()}"
                ) from None
            except psycopg.Error as exc:
                raise LegacyDatabaseUnavailable(
                    f"reading {shown!r} from the lab database at {self.describe()} failed "
                    f"({self._reason(exc)})"
                ) from None

    def _open(self) -> psycopg.Connection:
        # Not autocommit: a server-side cursor lives in a transaction (a read-only one).
        try:
            return psycopg.connect(
                self._dsn,
                connect_timeout=self.connect_timeout_s,
                options=SESSION_OPTIONS,
                application_name="carpark import-legacy",
            )
        except psycopg.Error as exc:
            raise LegacyDatabaseUnavailable(
                f"cannot connect to the lab database at {self.describe()} "
                f"({self._reason(exc)}); is the DSN right?"
            ) from None

    def _reason(self, exc: psycopg.Error) -> str:
        text = " ".join(line.strip() for line in str(exc).splitlines()) or type(exc).__name__
        return redact_dsn(text.removeprefix("connection failed: "), self._dsn)
