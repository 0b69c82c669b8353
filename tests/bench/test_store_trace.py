"""bench/store_trace.py: a traced thongbao process writes its store transactions, and the
table says where they waited (no speed is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench_scripts import load

trace = load("store_trace")
Transaction = trace.Transaction


def create_a_key_with_the_site_folder(tmp_path: Path, traced: bool) -> None:
    """``thongbao keys create`` (one write transaction) on a fresh store in ``tmp_path``,
    the site folder on its ``PYTHONPATH``; with ``traced``, the variable set too."""
    config = tmp_path / "thongbao.toml"
    config.write_text(f'db = "{tmp_path / "t.db"}"\ndata_dir = "{tmp_path / "data"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("THONGBAO_")}
    env["THONGBAO_CONFIG"] = str(config)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(trace.SITE), env.get("PYTHONPATH")) if p)
    if traced:
        env[trace.ENV] = str(tmp_path / "trace")
    command = [sys.executable, "-m", "dispatcher.cli", "keys", "create", "--role", "staff"]
    subprocess.run([*command, "--name", "bench"], env=env, cwd=tmp_path, check=True)


def test_a_thongbao_command_with_the_site_folder_writes_its_write_transactions(
    tmp_path: Path,
) -> None:
    create_a_key_with_the_site_folder(tmp_path, traced=True)

    [written] = tmp_path.glob("trace-*.tsv")
    done = trace.read(written)
    assert done, "a key is stored in a write transaction"
    for t in done:
        assert t.kind and t.asked <= t.began <= t.ended
        assert t.cpu >= 0


def test_without_the_variable_the_site_folder_changes_nothing(tmp_path: Path) -> None:
    create_a_key_with_the_site_folder(tmp_path, traced=False)
    assert [] == list(tmp_path.glob("*.tsv"))


def test_waits_and_times_by_kind_and_the_writers_busy_share(tmp_path: Path) -> None:
    done = [
        Transaction("claim", asked=0.000, began=0.010, ended=0.012, cpu=0.002),
        Transaction("record_outcomes", asked=0.000, began=0.012, ended=0.020, cpu=0.004),
        Transaction("claim", asked=0.020, began=0.020, ended=0.030, cpu=0.001),
    ]
    path = tmp_path / "t-1.tsv"
    trace.write(done, path)
    assert done == trace.read(path)

    rows, busy = trace.summarise(done)
    claim, record = rows  # most time inside first: claim 12 ms, record_outcomes 8 ms
    assert ("claim", 2) == (claim.kind, claim.count)
    assert (5.0, 10.0) == pytest.approx((claim.wait_median, claim.wait_max))
    assert (6.0, 1.5, 12.0) == pytest.approx(
        (claim.took_median, claim.cpu_median, claim.took_total)
    )
    assert "record_outcomes" == record.kind
    assert (12.0, 8.0) == pytest.approx((record.wait_median, record.took_total))
    assert busy == pytest.approx(0.020 / 0.030)
    assert "| claim | 2 | 5.0 / 10.0 | 6.0 | 1.5 | 0.01 | 0.00 |" in trace.table(rows, busy)


def test_nothing_traced_writes_no_file(tmp_path: Path) -> None:
    trace.write([], tmp_path / "t-1.tsv")
    assert not (tmp_path / "t-1.tsv").exists()
    assert ([], 0.0) == trace.summarise([])
