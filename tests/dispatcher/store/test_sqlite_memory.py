"""SQLite's allocation statistics are turned off once a process, and only when safe.

Each test runs in a fresh interpreter: the setting belongs to the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_MEMORY_USED = """
import ctypes, importlib.util, sqlite3
lib = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
lib.sqlite3_memory_used.restype = ctypes.c_int64
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_USED + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_before_any_connection_they_go_off_and_sqlite_still_works() -> None:
    out = _python(
        """
        from dispatcher.store.sqlite_memory import turn_off_memory_statistics
        first = turn_off_memory_statistics()
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
        total = db.execute("SELECT sum(x) FROM t").fetchone()[0]
        print(first, lib.sqlite3_memory_used(), total, turn_off_memory_statistics())
        """
    )
    # Off: SQLite counts nothing while the connection holds its table.
    assert "True 0 499500 True" == out


def test_with_a_connection_open_nothing_is_changed() -> None:
    out = _python(
        """
        from dispatcher.store.sqlite_memory import turn_off_memory_statistics
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (x)")
        first = turn_off_memory_statistics()
        db.execute("INSERT INTO t VALUES (1)")
        print(first, lib.sqlite3_memory_used() > 0, db.execute("SELECT x FROM t").fetchone()[0])
        """
    )
    # Still counted: SQLite was not shut down under the open connection.
    assert "False True 1" == out


def test_when_they_are_off_already_sqlite_is_not_shut_down_under_a_connection() -> None:
    out = _python(
        """
        off = ctypes.c_int(0)
        lib.sqlite3_shutdown(); lib.sqlite3_config(9, off); lib.sqlite3_initialize()
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (7)")
        from dispatcher.store import sqlite_memory
        calls = []
        real = sqlite_memory._library
        def watched():
            found = real()
            class Watched:
                def __getattr__(self, name):
                    if name == "sqlite3_shutdown":
                        calls.append(name)
                    return getattr(found, name)
            return Watched()
        sqlite_memory._library = watched
        result = sqlite_memory.turn_off_memory_statistics()
        print(result, calls, db.execute("SELECT x FROM t").fetchone()[0])
        """
    )
    # Nothing to do: the connection's table is intact and SQLite was never shut down.
    assert "True [] 7" == out


def test_a_command_turns_them_off_before_it_opens_the_store(tmp_path: object) -> None:
    out = _python(
        f"""
        from click.testing import CliRunner
        from dispatcher.cli import main
        args = ["--db", r"{tmp_path}/t.db", "keys", "create", "--role", "staff"]
        result = CliRunner().invoke(main, args)
        db = sqlite3.connect(r"{tmp_path}/t.db")
        keys = db.execute("SELECT count(*) FROM api_keys").fetchone()[0]
        print(result.exit_code, keys, lib.sqlite3_memory_used())
        """
    )
    # The key was stored, and the connection opened after it is not counted.
    assert "0 1 0" == out
