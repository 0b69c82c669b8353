"""JSON text in and out, through orjson, for the values the send path moves in bulk.

The store hands a batch of rows to SQLite as one JSON array and reads results back as one
(see :mod:`dispatcher.store.sqlite_queue`), and the generic SMS gateway posts a batch
endpoint's body as JSON. With the standard library's encoder, ``json.dumps`` alone was
16 % of the interpreter's time in a batch send (py-spy, ``bench/sms_fanout.py --profile
batch``), and it holds the interpreter lock the event loop needs. orjson does the same in C
several times faster.

``dumps`` stays as strict as ``json.dumps`` where orjson would be lenient: a ``datetime`` or
a dataclass raises :class:`TypeError` rather than becoming an ISO string or an object. NaN
and the infinities, which JSON has no number for, become ``null``. ``json.dumps`` wrote
``NaN``, which is not JSON, or (the store's batches, ``allow_nan=False``) raised and lost
the whole batch's write; now a NaN where a column is ``NOT NULL`` (every timestamp) still
fails that write, and one where ``NULL`` is allowed (a latency) is stored as unknown.

Text comes out as ``str``: SQLite reads a ``bytes`` parameter as a blob, which its JSON
functions take for their binary format.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text, non-ASCII characters as they are."""
    return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``."""
    return orjson.loads(text)
