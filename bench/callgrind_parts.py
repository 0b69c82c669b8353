"""Instructions, not seconds: a script's marked stretches counted under valgrind's callgrind.

A wall clock on this machine swings up to fourfold between hours, which hides any change
under a few tens of percent. Callgrind counts the instructions a program executes: the same
code on the same input gives the same count to a few parts in a hundred thousand, whatever
else the machine is doing. The price is speed (about fifty times slower), so it suits small
runs of the store's paths, not the HTTP benchmarks.

A script marks where its stretches start and end with :func:`mark`, which makes one libc
call (``getloadavg``) that nothing else in thongbao makes. Run under
``valgrind --tool=callgrind --dump-before=getloadavg`` (:func:`run`), callgrind writes its
counters out before each mark and starts again from zero, so each stretch between two marks
lands in a file of its own. :func:`object_costs` reads one such file: the instructions
executed in each shared object (SQLite's library, the interpreter, libc...), all threads
together.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

TRIGGER = "getloadavg"


def mark() -> None:
    """End one counted stretch and start the next (under :func:`run`; a cheap call otherwise)."""
    os.getloadavg()


def run(command: Sequence[str], folder: Path, env: dict[str, str] | None = None) -> list[Path]:
    """Run ``command`` under callgrind, its counter files written into ``folder``; returns
    them in the order written: the first holds what ran before the first mark, the last what
    ran after the last one.

    Raises:
        SystemExit: valgrind is missing, or the command failed under it.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("counting instructions needs valgrind (Debian: apt install valgrind)")
    out = folder / "callgrind.out"
    done = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            f"--dump-before={TRIGGER}",
            "--compress-strings=no",  # every file names its own objects
            *command,
        ],
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"the run under callgrind failed ({done.returncode}): {tail}")
    # callgrind.out.1, .2, ... in the order written, then callgrind.out (after the last).
    parts = sorted(folder.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    return [*parts, out]


def object_costs(path: Path) -> Counter[str]:
    """Instructions executed in each shared object, as one callgrind file counts them (each
    function's own cost; a call's line, which repeats the callee's cost, is skipped). Cost
    lines are read as :func:`run` has them written: one position (the line), then Ir."""
    costs: Counter[str] = Counter()
    current = "?"
    after_call = False
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("ob="):
                current = line[3:].strip()
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                if after_call:
                    after_call = False
                elif len(fields) >= 2:
                    costs[current] += int(fields[1])
    return costs


def summary(path: Path) -> int:
    """The file's own total (its ``summary:`` line)."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise ValueError(f"{path} has no summary line: not a callgrind file")
