"""Contacts, areas and audiences; announcements and idempotency in the store."""

from __future__ import annotations

import pytest
from store_helpers import T0

from dispatcher.errors import NotFoundError
from dispatcher.store import IdempotencyConflictError, SQLiteStore
from schemas import AnnouncementIn, Area, Audience, Contact

AREAS = [
    Area(code="01", name="Hà Nội"),
    Area(code="00004", name="Ba Đình", parent_code="01"),
    Area(code="00008", name="Ngọc Hà", parent_code="01"),
    Area(code="00004-t1", name="Tổ 1", parent_code="00004"),
    Area(code="79", name="TP Hồ Chí Minh"),
    Area(code="26734", name="Sài Gòn", parent_code="79"),
]
CONTACTS = [
    Contact(id="c1", area_code="00004", tags=["farmer"]),
    Contact(id="c2", area_code="00004-t1"),
    Contact(id="c3", area_code="00008", tags=["farmer"]),
    Contact(id="c4", area_code="26734", tags=["farmer"]),
    Contact(id="c5", area_code="unknown-area"),
]


@pytest.fixture
async def directory(store: SQLiteStore) -> SQLiteStore:
    await store.upsert_areas(AREAS)
    await store.upsert_contacts(CONTACTS, T0)
    return store


async def audience_ids(store: SQLiteStore, batch: int = 2, **audience: object) -> list[str]:
    wanted = Audience.model_validate(audience)
    ids: list[str] = []
    after = None
    while found := await store.audience_batch(wanted, after=after, limit=batch):
        ids += [c.id for c in found]
        after = found[-1].id
    return ids


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        pytest.param({"areas": ["01"]}, ["c1", "c2", "c3"], id="province-reaches-its-communes"),
        pytest.param({"areas": ["00004"]}, ["c1", "c2"], id="commune-reaches-its-groups"),
        pytest.param({"areas": ["unknown-area"]}, ["c5"], id="code-not-in-tree"),
        pytest.param({"tags": ["farmer"]}, ["c1", "c3", "c4"], id="tag"),
        pytest.param({"areas": ["01"], "tags": ["farmer"]}, ["c1", "c3"], id="area-and-tag"),
        pytest.param({"contact_ids": ["c4", "c5"]}, ["c4", "c5"], id="ids"),
        pytest.param({"areas": ["79"], "contact_ids": ["c5"]}, ["c4", "c5"], id="area-or-ids"),
        pytest.param({"areas": ["01"], "exclude": {"areas": ["00004"]}}, ["c3"], id="exclude-area"),
        pytest.param({"tags": ["farmer"], "exclude": {"tags": ["farmer"]}}, [], id="exclude-tag"),
        pytest.param(
            {"areas": ["01"], "exclude": {"contact_ids": ["c1"]}}, ["c2", "c3"], id="exclude-id"
        ),
    ],
)
async def test_audience_selection(
    directory: SQLiteStore, audience: dict[str, object], expected: list[str]
) -> None:
    assert expected == await audience_ids(directory, **audience)


async def test_upsert_replaces_a_contact_and_its_tags(directory: SQLiteStore) -> None:
    await directory.upsert_contacts([Contact(id="c1", area_code="26734", tags=["fisher"])], T0)
    assert ["c1"] == await audience_ids(directory, tags=["fisher"])
    assert ["c3", "c4"] == await audience_ids(directory, tags=["farmer"])


async def test_same_idempotency_key_returns_the_first_announcement(store: SQLiteStore) -> None:
    data = AnnouncementIn(title="T", body="B", channels=["sms"], audience={"areas": ["01"]})
    first = await store.create_announcement(
        "a1", data, created_by=None, now=T0, idempotency=("k", "key-1", "h1")
    )
    again = await store.create_announcement(
        "a2", data, created_by=None, now=T0, idempotency=("k", "key-1", "h1")
    )
    assert ("a1", True) == first
    assert ("a1", False) == again
    with pytest.raises(IdempotencyConflictError):
        await store.create_announcement(
            "a3", data, created_by=None, now=T0, idempotency=("k", "key-1", "other body")
        )
    with pytest.raises(NotFoundError):
        await store.get_announcement("a2")


async def test_keys_of_different_owners_do_not_collide(store: SQLiteStore) -> None:
    data = AnnouncementIn(title="T", body="B", channels=["sms"], audience={"areas": ["01"]})
    await store.create_announcement(
        "a1", data, created_by=None, now=T0, idempotency=("alice", "k", "h")
    )
    assert ("a2", True) == await store.create_announcement(
        "a2", data, created_by=None, now=T0, idempotency=("bob", "k", "h")
    )
