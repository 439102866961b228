"""The reports directory: latest.html, one page per day, old days pruned."""

from datetime import date

from carpark_dagster.resources.reports import ReportsResource


def test_the_last_keep_days_daily_pages_and_latest_are_kept(tmp_path):
    reports = ReportsResource(directory=str(tmp_path), keep_days=3)
    for day in range(23, 28):
        reports.write_dashboard(f"<p>{day}</p>", date(2026, 11, day))
    (tmp_path / "earnings-notes.html").write_text("not a daily page")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "earnings-2026-11-25.html",
        "earnings-2026-11-26.html",
        "earnings-2026-11-27.html",
        "earnings-notes.html",
        "latest.html",
    ]
    assert (tmp_path / "latest.html").read_text() == "<p>27</p>"


def test_a_day_rendered_again_replaces_its_page(tmp_path):
    reports = ReportsResource(directory=str(tmp_path), keep_days=30)
    reports.write_dashboard("first", date(2026, 11, 27))
    reports.write_dashboard("second", date(2026, 11, 27))
    assert (tmp_path / "earnings-2026-11-27.html").read_text() == "second"
    assert not list(tmp_path.glob(".*.tmp"))
