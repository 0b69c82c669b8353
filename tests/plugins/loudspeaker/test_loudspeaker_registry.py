"""The cluster registry: import from CSV and JSON, all rows or none, from the CLI and the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from loudspeaker_helpers import LoudFactory

from dispatcher.cli import main
from dispatcher.keys import Role
from plugins.loudspeaker.registry import cluster_from_row, validate_rows

GOOD_CSV = (
    "id,name,area_code,transport,endpoint,slots,token\n"
    "loa-bd-1,Cụm loa TDP 1,00004,http,http://10.0.0.5/schedule,06:00-06:30;17:00-17:30,s3\n"
    "loa-bd-2,Cụm loa TDP 2,00004,,,,\n"
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("THONGBAO_DB", "THONGBAO_CONFIG", "THONGBAO_DATA_DIR", "THONGBAO_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "thongbao.toml").write_text('db = "cli.db"\ndata_dir = "data"\n')
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_row_gives_a_cluster_with_a_hashed_token() -> None:
    cluster = cluster_from_row(
        {
            "id": "Loa-BD-1",
            "name": "Loa",
            "area_code": "00004",
            "slots": "06:00-06:30",
            "token": "s",
        }
    )
    assert ("loa-bd-1", ["06:00-06:30"]) == (cluster.id, cluster.slots)
    assert cluster.accepts("s") and not cluster.accepts("x")
    assert "'s'" not in repr(cluster)


def test_every_bad_row_is_reported_with_its_number() -> None:
    rows = [
        {"id": "loa-1", "name": "A", "area_code": "00004", "transport": "http"},
        {"id": "loa-2", "name": "B", "area_code": "00004", "slots": "18:00-17:00"},
        {"id": "loa-3", "name": "C", "area_code": "00004", "volume": "11"},
        {"id": "loa-4", "name": "D", "area_code": "00004"},
        {"id": "LOA-4", "name": "D again", "area_code": "00004"},
    ]
    _, report = validate_rows(rows)
    assert [1, 2, 3, 5] == [row for row, _ in report.errors]
    assert "endpoint" in report.errors[0][1]
    assert "listed twice" in report.errors[3][1]


def test_the_cli_imports_a_csv_and_prints_the_programme(workdir: Path) -> None:
    (workdir / "loa.csv").write_text(GOOD_CSV)
    result = run("loudspeaker", "import", "loa.csv")
    assert (0, "2 cluster(s) imported\n") == (result.exit_code, result.stdout)
    result = run("loudspeaker", "programme", "--commune", "00004", "--date", "2026-03-02")
    assert 0 == result.exit_code, result.output
    assert "Cụm loa loa-bd-1 — Cụm loa TDP 1 [chưa báo]" in result.stdout
    assert "  06:00–06:30 (0:00/30:00)\n    (trống)" in result.stdout
    html = run("loudspeaker", "programme", "--commune", "00004", "--date", "2026-03-02", "--html")
    assert html.stdout.startswith("<!doctype html>")


def test_a_bad_file_imports_nothing(workdir: Path) -> None:
    bad = GOOD_CSV + "loa-bd-3,,00004,,,,\n"
    (workdir / "loa.csv").write_text(bad)
    result = run("loudspeaker", "import", "loa.csv")
    assert 1 == result.exit_code
    assert "row 3: name" in result.stderr
    programme = run("loudspeaker", "programme", "--commune", "00004", "--date", "2026-03-02")
    assert "(không có cụm loa nào trong địa bàn)" in programme.stdout


async def test_the_api_imports_json_for_admins_only(loud_factory: LoudFactory) -> None:
    loud = await loud_factory()
    rows = [{"id": "loa-1", "name": "Loa 1", "area_code": "00004"}]
    _, staff = await loud.engine.services.create_api_key(Role.STAFF)
    refused = await loud.client.post(
        "/v1/loudspeaker/clusters", json=rows, headers={"Authorization": f"Bearer {staff}"}
    )
    assert 403 == refused.status
    bad = await loud.client.post(
        "/v1/loudspeaker/clusters",
        json=[*rows, {"id": "loa 2", "name": "x", "area_code": "00004"}],
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    assert 422 == bad.status
    assert [2] == [e["row"] for e in (await bad.json())["errors"]]
    assert [] == await loud.channel.broadcaster.book.all()  # type: ignore[union-attr]
