"""bench/callgrind_parts.py: counting the instructions of marked stretches under callgrind,
and store_paths' use of it (no speed is asserted: instructions are counts)."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from bench_scripts import load

parts = load("callgrind_parts")
paths = load("store_paths")

# A callgrind file as valgrind 3.19 writes it with --compress-strings=no: each function's
# own lines, and after a calls= line the cost of the call (the callee's, counted again).
SAMPLE = textwrap.dedent(
    """\
    # callgrind format
    version: 1
    positions: line
    events: Ir
    summary: 1160

    ob=/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6
    fl=sqlite3.c
    fn=sqlite3VdbeExec
    10 400
    +2 200
    cob=/usr/lib/x86_64-linux-gnu/libc.so.6
    cfn=memcpy
    calls=3 0
    12 60
    ob=/usr/lib/x86_64-linux-gnu/libc.so.6
    fn=memcpy
    0 60
    ob=/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
    fn=_PyEval_EvalFrameDefault
    * 500
    -1 0
    """
)


def test_each_object_gets_its_functions_own_instructions_and_no_calls_twice(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "callgrind.out.2"
    sample.write_text(SAMPLE)
    costs = parts.object_costs(sample)
    assert costs == {
        "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6": 600,
        "/usr/lib/x86_64-linux-gnu/libc.so.6": 60,
        "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0": 500,
    }
    assert sum(costs.values()) == parts.summary(sample) == 1160


def test_a_file_that_is_not_callgrinds_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    with pytest.raises(ValueError, match="not a callgrind file"):
        parts.summary(other)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_marks_cut_a_run_into_stretches_counted_alone(tmp_path: Path) -> None:
    # Twice the loop, twice the instructions; what runs before and after lands elsewhere.
    script = tmp_path / "marked.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys
            sys.path.insert(0, {str(Path(parts.__file__).parent)!r})
            import callgrind_parts
            callgrind_parts.mark()
            sum(i * i for i in range(20_000))
            callgrind_parts.mark()
            sum(i * i for i in range(40_000))
            callgrind_parts.mark()
            """
        )
    )
    files = parts.run([sys.executable, str(script)], tmp_path)
    assert len(files) == 4  # start-up, the two stretches, the exit
    first, second = (parts.summary(f) for f in files[1:3])
    assert 1.9 < second / first < 2.1
    assert sum(parts.object_costs(files[1]).values()) == first


async def test_store_paths_marks_each_step_at_its_start_and_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marks: list[int] = []
    monkeypatch.setattr(paths.callgrind_parts, "mark", lambda: marks.append(1))
    monkeypatch.setattr(paths, "MARKING", True)
    await paths.one_run(50)
    assert len(marks) == 2 * len(paths.STEPS)


def test_step_costs_take_every_other_file_and_split_them_by_object(tmp_path: Path) -> None:
    files = []
    for k in range(2 * len(paths.STEPS) + 1):
        f = tmp_path / f"callgrind.out.{k + 1}"
        f.write_text(SAMPLE if k % 2 else SAMPLE.replace("* 500", "* 999"))
        files.append(f)
    rows = paths.step_costs(files, n=10)
    assert list(rows) == list(paths.STEPS)
    assert rows["claim"] == (116.0, 60.0, 50.0, 6.0)  # in all, SQLite, interpreter, other


def test_a_run_with_marks_of_unknown_origin_is_refused(tmp_path: Path) -> None:
    files = [tmp_path / f"callgrind.out.{k}" for k in range(1, 2 * len(paths.STEPS) + 3)]
    with pytest.raises(SystemExit, match="something other than the steps"):
        paths.step_costs(files, n=10)


def test_a_file_read_wrongly_is_refused_rather_than_counted(tmp_path: Path) -> None:
    # Cost lines with two positions (--dump-instr=yes) would be read as the wrong column.
    files = []
    for k in range(2 * len(paths.STEPS) + 1):
        f = tmp_path / f"callgrind.out.{k + 1}"
        f.write_text(SAMPLE.replace("summary: 1160", "summary: 1161"))
        files.append(f)
    with pytest.raises(SystemExit, match="not the callgrind format"):
        paths.step_costs(files, n=10)
