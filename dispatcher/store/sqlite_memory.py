"""SQLite's count of the memory it allocates, turned off for a thongbao process.

SQLite keeps statistics of its allocations under one process-wide mutex
(``SQLITE_CONFIG_MEMSTATUS``, on by default in Debian's build and most others). The store's
writer and reader threads run their SQL without the GIL, so they meet at that mutex at
every allocation: on 2 cores, one long statement in each of two threads ran at 0.76–0.97
times the speed of the two run one after the other, and at 1.42–1.97 times with the
statistics off (``bench/sqlite_threads.py``). thongbao reads none of these statistics.

Python's ``sqlite3`` module initialises SQLite when it is imported, and the setting may
change only while SQLite is shut down, which is safe only while nothing in the process holds
a connection. So :func:`turn_off_memory_statistics` is called once, when a command starts,
and does nothing when SQLite holds any memory at all. Linux only: ``sqlite3_config`` takes
its value as a variadic argument, which ctypes passes correctly on Linux's calling
conventions but not on every other (Apple's arm64).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import sys

_SQLITE_OK = 0
_SQLITE_MISUSE = 21  # what sqlite3_config answers once SQLite is initialised
_CONFIG_MEMSTATUS = 9


def _library() -> ctypes.CDLL | None:
    """The SQLite that Python's ``sqlite3`` uses: looked up through its extension module,
    so a Python with SQLite linked in gets its own copy, not the system's."""
    spec = importlib.util.find_spec("_sqlite3")
    if not sys.platform.startswith("linux") or spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        lib.sqlite3_malloc.restype = ctypes.c_void_p
        lib.sqlite3_malloc.argtypes = [ctypes.c_int]
        lib.sqlite3_free.argtypes = [ctypes.c_void_p]
        for name in ("sqlite3_config", "sqlite3_shutdown", "sqlite3_initialize"):
            getattr(lib, name)
    except (OSError, AttributeError):
        return None  # SQLite's functions are not reachable from here
    return lib


@functools.cache
def turn_off_memory_statistics() -> bool:
    """Stop SQLite counting its allocations, for this whole process; tried once a process.

    Returns whether they are off. False, with nothing changed, when SQLite holds memory
    already (a connection is open: shutting SQLite down under it is not safe) or when its
    functions cannot be reached.
    """
    lib = _library()
    if lib is None or lib.sqlite3_memory_used() != 0:
        return False
    # Nothing counted can also mean nothing is counted (a SQLite built with them off, or
    # turned off before): then connections may be open, and SQLite must not be shut down.
    probe = lib.sqlite3_malloc(64)
    counted = lib.sqlite3_memory_used()
    lib.sqlite3_free(probe)
    if counted == 0:
        return True
    off = ctypes.c_int(0)
    found = lib.sqlite3_config(_CONFIG_MEMSTATUS, off)
    if found == _SQLITE_MISUSE:  # initialised when the sqlite3 module was imported
        if lib.sqlite3_shutdown() != _SQLITE_OK:
            return False
        found = lib.sqlite3_config(_CONFIG_MEMSTATUS, off)
        if lib.sqlite3_initialize() != _SQLITE_OK:
            return False
    return bool(found == _SQLITE_OK)
