"""`carpark`: the platform's command-line tool, over the same library code the jobs run.

    carpark migrate [--status] [--allow-drop]
    carpark config check [FILE]
    carpark import-legacy FILE [FILE ...]
    carpark import-legacy --from-postgres [DSN] [--table public.CarPark] [--batch-rows N]
    carpark ingest FILE [FILE ...]
    carpark replay --from TIME --to TIME
    carpark search rebuild [--page-size N]
    carpark search retry [--batch-size N]
    carpark dashboards import --url URL [--user USER] [--product PRODUCT]
    carpark report [--period today|24h|7d] [--format table|csv|json]

Settings come from the environment, as for the pipeline (`settings.py`, `.env.example`).
Exit codes: 0 done; 1 the operation failed (a service unreachable, a refused migration, a
rebuild that did not verify, dead letters the engine still refuses); 2 bad usage or bad input
(arguments, files, configuration).
Errors are one line on stderr; `carpark --debug …` adds the traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from carpark_dagster.domain.config import ConfigError, describe_config, load_config
from carpark_dagster.domain.legacy import LAB_TABLE, LegacyFormatError, parse_table_name
from carpark_dagster.domain.redaction import redact_secrets, secret_values
from carpark_dagster.domain.reporting import (
    LOCATION_COLUMNS,
    ReportError,
    period_named,
    report_document,
    report_records,
    report_table,
)
from carpark_dagster.domain.windows import WindowError, parse_moment
from carpark_dagster.lib.dashboards import PRODUCTS, bundle_path
from carpark_dagster.lib.inbox import REFUSED, FileOutcome, land_file
from carpark_dagster.lib.legacy_import import import_legacy_file, import_legacy_table
from carpark_dagster.lib.reporting import (
    EarningsDiffer,
    ReportUnavailable,
    compute_report,
    require_migrated,
)
from carpark_dagster.lib.search_rebuild import (
    REBUILD_PAGE_SIZE,
    RebuildFailed,
    rebuild_search_index,
)
from carpark_dagster.lib.search_retry import (
    RETRY_BATCH_SIZE,
    RetryIncomplete,
    retry_dead_letters,
)
from carpark_dagster.lib.ticks import (
    close_windows,
    gather_windows,
    plan_tick,
    store_batches,
)
from carpark_dagster.resources.dashboards import (
    DashboardsError,
    DashboardsServer,
    DashboardsUsageError,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.legacy_database import (
    DEFAULT_BATCH_ROWS,
    LegacyDatabase,
    LegacyDatabaseUnavailable,
)
from carpark_dagster.resources.migrations import DestructiveMigration, MigrationsNotPermitted
from carpark_dagster.resources.postgres import LockTimeout, PostgresUnavailable, StaleTick
from carpark_dagster.settings import LAB_POSTGRES_DSN, build_resources, lab_postgres_dsn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# What the user can put right (exit 2; also a file that cannot be opened), and what failed on
# the way (exit 1). Anything else is a bug, reported as such (exit 1).
BAD_INPUT: tuple[type[Exception], ...] = (
    LegacyFormatError,
    ConfigError,
    WindowError,
    DashboardsUsageError,
    ReportError,
)
FAILED: tuple[type[Exception], ...] = (
    DashboardsError,
    PostgresUnavailable,
    LegacyDatabaseUnavailable,
    EngineError,
    RebuildFailed,
    RetryIncomplete,
    LockTimeout,
    DestructiveMigration,
    MigrationsNotPermitted,
    StaleTick,
    EarningsDiffer,
    ReportUnavailable,
)

log = logging.getLogger("carpark")


# ------------------------------------------------------------------------- commands


def migrate(args: argparse.Namespace) -> int:
    postgres = build_resources(resolve=True)["postgres"]
    if args.status:
        for status in postgres.migration_status():
            migration = status.migration
            state = "applied" if status.applied else "pending"
            note = "  (destroys data)" if migration.destroys_data else ""
            print(f"{migration.version:<32} {state}{note}")
        return EXIT_OK
    applied = postgres.migrate(allow_drop=args.allow_drop)
    print(f"applied: {', '.join(applied)}" if applied else "up to date: nothing to apply")
    return EXIT_OK


def config_check(args: argparse.Namespace) -> int:
    """Print the effective configuration, or every problem of the file, one per line (exit 2).
    Reads only the file: no service is needed."""
    path = args.file or build_resources(resolve=True)["carpark_config"].path
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(describe_config(config)))
    return EXIT_OK


def import_legacy(args: argparse.Namespace) -> int:
    """The lab's CSV files, or (--from-postgres) its PostgreSQL table."""
    from_postgres = args.from_postgres is not None
    if from_postgres:
        # No value: the DSN from the environment (not in the shell's history or `ps`).
        dsn = args.from_postgres or lab_postgres_dsn()
        lab = LegacyDatabase(dsn)
        parse_table_name(args.table)  # a bad name is refused before anything is written
    resources = build_resources(resolve=True)  # the same settings as the pipeline's
    postgres = resources["postgres"]
    config = resources["carpark_config"].load()
    postgres.migrate()
    with postgres.writer_lock("carpark import-legacy"):
        if from_postgres:
            summary = import_legacy_table(
                lab,
                postgres,
                config,
                table=args.table,
                batch_rows=args.batch_rows,
                progress=lambda p: print(p.line(), file=sys.stderr, flush=True),
            )
            print("\n".join(summary.lines()))
        for path in args.files:
            summary = import_legacy_file(path, postgres, config)
            print("\n".join(summary.lines()))
    return EXIT_OK


def ingest(args: argparse.Namespace) -> int:
    """Land gate event files as the inbox does (each content once; the files stay where they
    are); the next tick processes their events. Exit 2 when any file was refused."""
    resources = build_resources(resolve=True)
    postgres, inbox = resources["postgres"], resources["inbox"]
    rules = inbox.rules(frozenset(resources["carpark_config"].load().locations))
    now = resources["tick_clock"].current_time()
    postgres.migrate()
    refused = 0
    with postgres.writer_lock("carpark ingest"):
        for path in args.files:
            if not path.is_file():
                outcome = FileOutcome(path.name, REFUSED, reason="not a file")
            else:
                started = time.perf_counter()
                outcome = land_file(postgres, path, rules, now)
                log.info("%s read in %.1f s", path.name, time.perf_counter() - started)
            print(outcome.summary())
            refused += outcome.refused
    if refused:
        print(f"{refused} of {len(args.files)} files refused; nothing of them was loaded")
        return EXIT_USAGE
    return EXIT_OK


def replay(args: argparse.Namespace) -> int:
    resources = build_resources(resolve=True)
    postgres = resources["postgres"]
    config = resources["carpark_config"].load()
    span = (parse_moment(args.start, "--from"), parse_moment(args.end, "--to"))
    postgres.migrate()
    with postgres.writer_lock("carpark replay"):
        plan = plan_tick(postgres, resources["tick_clock"], replay=span)
        started = time.perf_counter()
        inbox = resources["inbox"]
        simulator = resources["gate_simulator"] if inbox.simulator_on else None
        run = close_windows(postgres, config, gather_windows(simulator, postgres, config, plan))
        counts = store_batches(postgres, run)
    seconds = time.perf_counter() - started
    print(
        f"replayed {len(plan.windows)} windows, {plan.windows[0]} to {plan.windows[-1]} "
        f"(carpark time), in {seconds:.1f} s:\n"
        f"  events new        {sum(c.events_stored for c in counts):>8}  (0: all seen before)\n"
        f"  sessions written  {sum(c.sessions_written for c in counts):>8}  "
        "(0: nothing was wrong)\n"
        f"  quarantined       {sum(c.anomalies_quarantined for c in counts):>8}\n"
        "The next tick syncs any change to the search index."
    )
    return EXIT_OK


def search_rebuild(args: argparse.Namespace) -> int:
    _quiet_search_clients()
    resources = build_resources(resolve=True)
    postgres, search = resources["postgres"], resources["search"]
    with postgres.writer_lock("carpark search rebuild"), search.session_index() as index:
        rebuild_search_index(postgres, index, log, page_size=args.page_size)
    return EXIT_OK


def search_retry(args: argparse.Namespace) -> int:
    _quiet_search_clients()
    resources = build_resources(resolve=True)
    postgres, search = resources["postgres"], resources["search"]
    postgres.migrate()
    with search.session_index() as index:
        outcome = retry_dead_letters(postgres, index, log, batch_size=args.batch_size)
    print("\n".join(outcome.lines()))
    if outcome.still_refused:
        first = outcome.still_refused[0]
        raise RetryIncomplete(
            f"the search engine still refuses {len(outcome.still_refused)} sessions (first: "
            f"{first.session_id}, {first.reason}); fix them in PostgreSQL and retry"
        )
    return EXIT_OK


DASHBOARDS_PASSWORD_ENV = "CARPARK_DASHBOARDS_PASSWORD"


def dashboards_import(args: argparse.Namespace) -> int:
    """Import the saved-object bundle for the product at --url (docs/dashboards.md)."""
    password = os.environ.get(DASHBOARDS_PASSWORD_ENV) or None
    if args.user is not None and password is None:
        raise DashboardsUsageError(f"--user needs the password in {DASHBOARDS_PASSWORD_ENV}")
    server = DashboardsServer(args.url, username=args.user, password=password)
    product = server.detect_product() if args.product == "auto" else args.product
    outcome = server.import_objects(product, bundle_path(product).read_bytes())
    if outcome.success:
        print(f"imported {outcome.imported} saved objects into {product} at {server.shown_url}")
        return EXIT_OK
    print(
        f"the import into {product} at {server.shown_url} failed: {outcome.imported} objects "
        f"imported, {len(outcome.errors)} refused",
        file=sys.stderr,
    )
    for line in outcome.errors:
        print(f"  {line}", file=sys.stderr)
    return EXIT_FAILED


# How long `carpark report` waits for a search sync or rebuild in progress, seconds.
REPORT_LOCK_WAIT_S = 60


def report(args: argparse.Namespace) -> int:
    """The earnings report of one period from the current data (the same figures as
    location_earnings); exit 1 when the search index and PostgreSQL disagree."""
    _quiet_search_clients()
    resources = build_resources(resolve=True)
    postgres, search = resources["postgres"], resources["search"]
    require_migrated(postgres)
    with search.session_index() as index:
        checked = compute_report(postgres, index, [args.period], lock_wait_s=REPORT_LOCK_WAIT_S)
    earnings = checked.report
    period = earnings.periods[0]
    if args.format == "json":
        print(json.dumps(report_document(earnings, period), indent=2))
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["period", *LOCATION_COLUMNS])
        writer.writeheader()
        writer.writerows(report_records(earnings, period))
    else:
        print(report_table(earnings, period))
    if checked.differences:
        raise EarningsDiffer(
            f"the search index differs from PostgreSQL ({len(checked.differences)} figures, "
            f"first: {checked.differences[0]}); see docs/reporting.md"
        )
    return EXIT_OK


def _quiet_search_clients() -> None:
    # The clients log every request, and the 404s we expect (no alias yet) as warnings; what
    # goes wrong reaches us as an EngineError anyway.
    for client in ("opensearch", "elastic_transport"):
        logging.getLogger(client).setLevel(logging.ERROR)


class RedactingFilter(logging.Filter):
    """Log lines of the command (ours and the libraries') without credentials."""

    def __init__(self, known: list[str]):
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = redact_secrets(text, self.known)
        if clean != text:
            record.msg, record.args = clean, None
        return True


# ------------------------------------------------------------------------- parsing


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _one_source(args: argparse.Namespace) -> None:
    if (args.from_postgres is not None) == bool(args.files):
        args.parser.error("give either FILE(s) or --from-postgres, not both or neither")


def _period(text: str) -> str:
    try:
        period_named(text, datetime.now(UTC))
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carpark",
        description="The carpark earnings platform's command-line tool. Settings come from the "
        "environment (CARPARK_POSTGRES_DSN, CARPARK_ES_*, CARPARK_CONFIG; see .env.example).",
        epilog="Exit codes: 0 done, 1 the operation failed, 2 bad usage or input.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback when something fails"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction, name: str, run: Callable, help: str
    ) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run, command=name)
        return sub

    m = command(commands, "migrate", migrate, "Apply the pending schema migrations.")
    m.add_argument("--status", action="store_true", help="list the migrations; apply nothing")
    m.add_argument(
        "--allow-drop", action="store_true", help="also apply migrations that destroy data"
    )

    config = commands.add_parser(
        "config", help="Check the carpark configuration.", description="Check the configuration."
    )
    config.set_defaults(run=None, command="config", parser=config)
    config_commands = config.add_subparsers(title="commands", metavar="COMMAND")
    c = command(
        config_commands,
        "check",
        config_check,
        "Validate the carpark TOML file (default: CARPARK_CONFIG, else the shipped one) and "
        "print the effective configuration (locations, tariffs, limits), or every problem, one "
        "per line, and exit 2.",
    )
    c.set_defaults(command="config check")
    c.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the TOML file to check")

    i = command(
        commands,
        "import-legacy",
        import_legacy,
        "Import the lab's carpark_system.csv files, or its PostgreSQL table, into PostgreSQL "
        "(re-importing changes nothing).",
    )
    i.add_argument("files", nargs="*", type=Path, metavar="FILE", help="carpark_system.csv files")
    i.set_defaults(parser=i, check=_one_source)
    i.add_argument(
        "--from-postgres",
        nargs="?",
        const="",
        metavar="DSN",
        help="read the lab's PostgreSQL table instead of files; without DSN, from "
        f"{LAB_POSTGRES_DSN} (better: keeps the password out of the shell's history; so do "
        "PGPASSWORD and ~/.pgpass). Read-only, in batches; the password is never shown",
    )
    i.add_argument(
        "--table",
        default=LAB_TABLE,
        metavar="[SCHEMA.]TABLE",
        help=f"the lab's table, case kept (default {LAB_TABLE})",
    )
    i.add_argument(
        "--batch-rows",
        type=_positive,
        default=DEFAULT_BATCH_ROWS,
        help=f"rows read and stored per transaction (default {DEFAULT_BATCH_ROWS})",
    )

    g = command(
        commands,
        "ingest",
        ingest,
        "Load gate event files (.csv, .jsonl) as the inbox does: each file's content once, "
        "bad records quarantined with their line, the next tick processes the events. Exit 2 "
        "if any file was refused.",
    )
    g.add_argument("files", nargs="+", type=Path, metavar="FILE", help="gate event files")

    r = command(
        commands,
        "replay",
        replay,
        "Re-process a range of five-minute windows that were processed before, as the ticks "
        "at each window's end did (idempotent: changes nothing that is right).",
    )
    r.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help="first window (ISO date or time; without an offset, carpark time)",
    )
    r.add_argument("--to", dest="end", required=True, metavar="TIME", help="end of the range")

    search = commands.add_parser(
        "search", help="Manage the search index.", description="Manage the search index."
    )
    search.set_defaults(run=None, command="search", parser=search)
    search_commands = search.add_subparsers(title="commands", metavar="COMMAND")
    r = command(
        search_commands,
        "rebuild",
        search_rebuild,
        "Rebuild the search index from PostgreSQL and swap its aliases atomically (no "
        "downtime for searches).",
    )
    r.set_defaults(command="search rebuild")
    r.add_argument(
        "--page-size",
        type=_positive,
        default=REBUILD_PAGE_SIZE,
        help=f"sessions read from PostgreSQL per page (default {REBUILD_PAGE_SIZE})",
    )
    t = command(
        search_commands,
        "retry",
        search_retry,
        "Send the search dead letters (sessions the engine refused) again, from their current "
        "rows in PostgreSQL; those it accepts leave carpark.search_dead_letters. Exits 1 if it "
        "still refuses some.",
    )
    t.set_defaults(command="search retry")
    t.add_argument(
        "--batch-size",
        type=_positive,
        default=RETRY_BATCH_SIZE,
        help=f"dead letters sent per request (default {RETRY_BATCH_SIZE})",
    )

    dashboards = commands.add_parser(
        "dashboards",
        help="Kibana and OpenSearch Dashboards saved objects.",
        description="Kibana and OpenSearch Dashboards saved objects.",
    )
    dashboards.set_defaults(run=None, command="dashboards", parser=dashboards)
    dashboards_commands = dashboards.add_subparsers(title="commands", metavar="COMMAND")
    d = command(
        dashboards_commands,
        "import",
        dashboards_import,
        "Import the carpark data views, charts and dashboard into Kibana 8.x or OpenSearch "
        "Dashboards 2.x (objects with the same ids are overwritten). The password, with "
        f"--user, comes from {DASHBOARDS_PASSWORD_ENV}. Exits 1 if any object is refused.",
    )
    d.set_defaults(command="dashboards import")
    d.add_argument("--url", required=True, help="the dashboards' base URL (no credentials)")
    d.add_argument("--user", help="basic-auth user")
    d.add_argument(
        "--product",
        choices=[*PRODUCTS, "auto"],
        default="auto",
        help="which product runs at --url (default auto: ask it)",
    )
    e = command(
        commands,
        "report",
        report,
        "The earnings report from the current data: per location the top 5 by average "
        "charge, earnings, closed sessions, average and median stay, occupancy; totals and "
        "earnings by hour (docs/reporting.md).",
    )
    e.add_argument(
        "--period",
        default="today",
        type=_period,
        help="today (since midnight, carpark time), 24h, 7d, or any <N>h / <N>d (default today)",
    )
    e.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(run=None, command=None, parser=parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "check", None) is not None:
        args.check(args)  # exits 2 with the usage when the arguments do not go together
    if args.run is None:  # a group without its command: show what there is
        args.parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(secret_values(os.environ)))
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"carpark {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        code, message = _explain(exc)
        # The last line of defence: whatever the error quotes, no secret of ours goes out.
        message = redact_secrets(message, secret_values(os.environ))
        print(f"carpark {args.command}: {message}", file=sys.stderr)
        return code


def _explain(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_USAGE, f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, BAD_INPUT):
        return EXIT_USAGE, _one_line(exc)
    if isinstance(exc, FAILED):
        return EXIT_FAILED, _one_line(exc)
    return EXIT_FAILED, (
        f"unexpected error ({type(exc).__name__}): {_one_line(exc)} "
        "(run with --debug for the traceback)"
    )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
