"""Reading deliveries over HTTP: pages, filters, attempts and receipts."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.keys import Role
from dispatcher.store.base import AttemptRecord, NewDelivery, Outcome
from schemas import (
    AnnouncementIn,
    AnnouncementStatus,
    AttemptOutcome,
    DeliveryStatus,
    Priority,
    ReceiptIn,
)

ADDRESSES = {"sms": ["+84901", "+84902", "+84903"], "email": ["a@b.vn"]}


@pytest.fixture
async def announcement_id(api_client: Any, announcement_body: Any) -> str:
    """An announcement fanned out to ``ADDRESSES``, as the engine would leave it."""
    data = announcement_body(channels=["sms", "email"], audience={"tags": ["dân-phố"]})
    created, _ = await api_client.services.create_announcement(AnnouncementIn.model_validate(data))
    announcement_id = created.id
    store, now = api_client.store, api_client.clock.now()
    await store.set_announcement_status(
        announcement_id, [AnnouncementStatus.SCHEDULED], AnnouncementStatus.SENDING, now
    )
    await store.add_deliveries(
        [
            NewDelivery(announcement_id, channel, address, Priority.NORMAL, now)
            for channel, found in ADDRESSES.items()
            for address in found
        ],
        announcement_id=announcement_id,
        cursor=None,
    )
    return announcement_id


async def _get(api: Any, path: str, **params: str) -> Any:
    return await api.client.get(path, params=params, headers=api.auth(Role.OPERATOR))


async def test_list_pages_in_id_order(api_client: Any, announcement_id: str) -> None:
    path = f"/v1/announcements/{announcement_id}/deliveries"

    first = await (await _get(api_client, path, limit="3")).json()
    second = await (await _get(api_client, path, limit="3", cursor=first["next_cursor"])).json()

    addresses = [d["address"] for d in first["items"] + second["items"]]
    assert ["+84901", "+84902", "+84903", "a@b.vn"] == addresses
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"channel": "email"}, ["a@b.vn"], id="channel"),
        pytest.param({"status": "queued", "channel": "sms"}, ADDRESSES["sms"], id="status"),
        pytest.param({"status": "delivered"}, [], id="status-none"),
        pytest.param({"channel": "zalo"}, [], id="channel-none"),
    ],
)
async def test_list_filters(
    api_client: Any, announcement_id: str, params: dict[str, str], expected: list[str]
) -> None:
    response = await _get(api_client, f"/v1/announcements/{announcement_id}/deliveries", **params)

    assert expected == [d["address"] for d in (await response.json())["items"]]


async def test_cursor_of_another_listing_is_refused(api_client: Any, announcement_id: str) -> None:
    path = f"/v1/announcements/{announcement_id}/deliveries"
    cursor = (await (await _get(api_client, path, limit="1")).json())["next_cursor"]

    response = await _get(api_client, "/v1/announcements", cursor=cursor)

    body = await api_client.problem(response, 422)
    assert [["query", "cursor"]] == [e["loc"] for e in body["errors"]]


async def test_list_of_unknown_announcement_is_404(api_client: Any) -> None:
    response = await _get(api_client, "/v1/announcements/nope/deliveries")

    await api_client.problem(response, 404)


async def test_get_shows_attempts_and_receipts(api_client: Any, announcement_id: str) -> None:
    store, now = api_client.store, api_client.clock.now()
    claimed, _ = await store.claim("email", limit=1, now=now, lease_seconds=60)
    attempt = AttemptRecord(
        number=1, started_at=now, outcome=AttemptOutcome.ACCEPTED, latency_ms=12.0
    )
    await store.record_outcomes(
        [Outcome(claimed[0].id, claimed[0].lease_token, DeliveryStatus.SENT, attempt, "msg-1")], now
    )
    await api_client.services.submit(
        [ReceiptIn(channel="email", provider_id="msg-1", status=DeliveryStatus.DELIVERED)]
    )

    response = await _get(api_client, f"/v1/deliveries/{claimed[0].id}")

    body = await response.json()
    expected = (await api_client.services.get_delivery(claimed[0].id)).model_dump(mode="json")
    assert expected == body
    assert ("delivered", "msg-1", ["accepted"], [True]) == (
        body["status"],
        body["provider_id"],
        [a["outcome"] for a in body["attempts"]],
        [r["applied"] for r in body["receipts"]],
    )


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("channel=%ED%A0%80", id="lone-surrogate"),
        pytest.param("channel=%00", id="nul"),
        pytest.param("channel=%FF", id="not-utf8"),
    ],
)
async def test_odd_filter_values_match_nothing(
    api_client: Any, announcement_id: str, query: str
) -> None:
    response = await api_client.client.get(
        f"/v1/announcements/{announcement_id}/deliveries?{query}",
        headers=api_client.auth(Role.OPERATOR),
    )

    assert (200, []) == (response.status, (await response.json())["items"])
