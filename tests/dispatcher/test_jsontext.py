"""The JSON text the store hands SQLite: exact floats, text not blobs, no silent coercions."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from dispatcher import jsontext


def test_every_double_goes_through_sqlites_json_each_exact() -> None:
    rng = random.Random(9)
    values = [rng.uniform(0, 2e9) for _ in range(20_000)]
    values += [rng.random() * 10.0 ** rng.randint(-300, 300) for _ in range(20_000)]
    values += [0.1, 1 / 3, 1_764_201_600.123456, 2.0**53 + 2, 5e-324]
    db = sqlite3.connect(":memory:")
    back = [
        row[0] for row in db.execute("SELECT value FROM json_each(?)", (jsontext.dumps(values),))
    ]
    assert back == values


def test_text_is_a_str_sqlite_stores_as_text_with_vietnamese_as_it_is() -> None:
    text = jsontext.dumps([["Phường Bến Nghé", None, 3]])
    assert isinstance(text, str)
    assert "Bến Nghé" in text
    db = sqlite3.connect(":memory:")
    kind, area = db.execute("SELECT typeof(?1), json_extract(?1, '$[0][0]')", (text,)).fetchone()
    assert (kind, area) == ("text", "Phường Bến Nghé")
    assert jsontext.loads(text) == [["Phường Bến Nghé", None, 3]]


@dataclass
class _Row:
    id: int


@pytest.mark.parametrize(
    "value", [datetime(2026, 11, 27, tzinfo=UTC), _Row(1)], ids=["datetime", "dataclass"]
)
def test_a_value_json_has_no_type_for_is_refused_not_coerced(value: object) -> None:
    # orjson alone would write an ISO string or an object where the store expects a number.
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsontext.dumps([[value]])


def test_nan_and_infinities_become_null_which_a_not_null_column_refuses() -> None:
    text = jsontext.dumps([[1.5, float("nan"), float("inf")]])
    assert "[[1.5,null,null]]" == text
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (at REAL NOT NULL, latency REAL)")
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        db.execute(
            "INSERT INTO t SELECT json_extract(value, '$[1]'), json_extract(value, '$[0]') "
            "FROM json_each(?)",
            (text,),
        )
    db.execute(
        "INSERT INTO t SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
        "FROM json_each(?)",
        (text,),
    )
    assert [(1.5, None)] == db.execute("SELECT at, latency FROM t").fetchall()
