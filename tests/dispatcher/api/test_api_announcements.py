"""POST, list, read and cancel announcements over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from dispatcher.keys import Role
from dispatcher.store.base import NewDelivery
from schemas import AnnouncementIn, AnnouncementStatus, Priority


async def _post(api: Any, body: dict[str, Any], role: Role = Role.STAFF, **headers: str) -> Any:
    return await api.client.post(
        "/v1/announcements", json=body, headers={**api.auth(role), **headers}
    )


async def _create(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await _post(api, body)
    assert 201 == response.status
    created: dict[str, Any] = await response.json()
    api.clock.advance(1)  # ids are time-ordered: keep "newest first" deterministic
    return created


@pytest.mark.parametrize("role", [Role.STAFF, Role.SYSTEM, Role.ADMIN])
async def test_post_answers_201_with_location_and_the_stored_announcement(
    api_client: Any, announcement_body: Any, role: Role
) -> None:
    response = await _post(api_client, announcement_body(), role)
    created = await response.json()

    assert 201 == response.status
    assert f"/v1/announcements/{created['id']}" == response.headers["Location"]
    assert "Idempotent-Replayed" not in response.headers
    expected = {
        **AnnouncementIn.model_validate(announcement_body()).model_dump(mode="json"),
        "id": created["id"],
        "status": "scheduled",
        "created_by": f"{role}-test",
        "created_at": "2026-01-01T00:00:00Z",
        "released_at": None,
        "finished_at": None,
        "counts": {},
    }
    assert expected == created
    read = await api_client.client.get(
        response.headers["Location"], headers=api_client.auth(Role.OPERATOR)
    )
    assert created == await read.json()


async def test_repeat_with_same_idempotency_key_returns_first_answer(
    api_client: Any, announcement_body: Any
) -> None:
    first = await _post(api_client, announcement_body(), **{"Idempotency-Key": "order-42"})
    again = await _post(api_client, announcement_body(), **{"Idempotency-Key": "order-42"})

    assert (201, 200) == (first.status, again.status)
    assert "true" == again.headers["Idempotent-Replayed"]
    assert first.headers["Location"] == again.headers["Location"]
    assert await first.json() == await again.json()
    listing = await api_client.client.get("/v1/announcements", headers=api_client.auth(Role.STAFF))
    assert 1 == len((await listing.json())["items"])


async def test_idempotency_key_reused_for_another_body_is_409(
    api_client: Any, announcement_body: Any
) -> None:
    await _post(api_client, announcement_body(), **{"Idempotency-Key": "k1"})

    response = await _post(api_client, announcement_body(title="Khác"), **{"Idempotency-Key": "k1"})

    body = await api_client.problem(response, 409)
    assert "urn:thongbao:problem:idempotency-conflict" == body["type"]


async def test_idempotency_keys_belong_to_their_key_owner(
    api_client: Any, announcement_body: Any
) -> None:
    first = await _post(api_client, announcement_body(), Role.STAFF, **{"Idempotency-Key": "same"})
    second = await _post(
        api_client, announcement_body(), Role.SYSTEM, **{"Idempotency-Key": "same"}
    )

    assert (201, 201) == (first.status, second.status)
    assert (await first.json())["id"] != (await second.json())["id"]


@pytest.mark.parametrize(
    "key",
    [pytest.param("", id="empty"), pytest.param("k" * 201, id="201-chars")],
)
async def test_bad_idempotency_key_is_422_naming_the_header(
    api_client: Any, announcement_body: Any, key: str
) -> None:
    response = await _post(api_client, announcement_body(), **{"Idempotency-Key": key})

    body = await api_client.problem(response, 422)
    assert [["header", "Idempotency-Key"]] == [e["loc"] for e in body["errors"]]


async def test_list_pages_newest_first(api_client: Any, announcement_body: Any) -> None:
    ids = [(await _create(api_client, announcement_body(title=f"T{n}")))["id"] for n in range(3)]
    auth = api_client.auth(Role.OPERATOR)

    first = await (await api_client.client.get("/v1/announcements?limit=2", headers=auth)).json()
    second = await (
        await api_client.client.get(
            "/v1/announcements", params={"limit": "2", "cursor": first["next_cursor"]}, headers=auth
        )
    ).json()

    assert [ids[2], ids[1]] == [item["id"] for item in first["items"]]
    assert ([ids[0]], None) == ([item["id"] for item in second["items"]], second["next_cursor"])


async def test_list_filters_by_status(api_client: Any, announcement_body: Any) -> None:
    kept = await _create(api_client, announcement_body(title="Giữ"))
    dropped = await _create(api_client, announcement_body(title="Huỷ"))
    await api_client.client.post(
        f"/v1/announcements/{dropped['id']}/cancel", headers=api_client.auth(Role.STAFF)
    )

    response = await api_client.client.get(
        "/v1/announcements?status=scheduled", headers=api_client.auth(Role.SYSTEM)
    )

    assert [kept["id"]] == [item["id"] for item in (await response.json())["items"]]


async def _fan_out(api: Any, announcement_id: str, addresses: dict[str, list[str]]) -> None:
    """Write deliveries the way fan-out does, without running the engine."""
    now = api.clock.now()
    await api.store.set_announcement_status(
        announcement_id, [AnnouncementStatus.SCHEDULED], AnnouncementStatus.FANNING_OUT, now
    )
    await api.store.add_deliveries(
        [
            NewDelivery(announcement_id, channel, address, Priority.NORMAL, now)
            for channel, found in addresses.items()
            for address in found
        ],
        announcement_id=announcement_id,
        cursor=None,
    )


async def test_get_counts_deliveries_per_channel_and_status(
    api_client: Any, announcement_body: Any
) -> None:
    created = await _create(api_client, announcement_body())
    await _fan_out(api_client, created["id"], {"sms": ["+84901", "+84902"], "email": ["a@b.vn"]})

    response = await api_client.client.get(
        f"/v1/announcements/{created['id']}", headers=api_client.auth(Role.OPERATOR)
    )

    body = await response.json()
    assert ("fanning_out", {"sms": {"queued": 2}, "email": {"queued": 1}}) == (
        body["status"],
        body["counts"],
    )


async def test_cancel_stops_what_has_not_gone_out(api_client: Any, announcement_body: Any) -> None:
    created = await _create(api_client, announcement_body())
    await _fan_out(api_client, created["id"], {"sms": ["+84901"]})

    response = await api_client.client.post(
        f"/v1/announcements/{created['id']}/cancel", headers=api_client.auth(Role.STAFF)
    )

    body = await response.json()
    assert (200, "cancelled", {"sms": {"cancelled": 1}}) == (
        response.status,
        body["status"],
        body["counts"],
    )


async def test_cancel_unknown_announcement_is_404(api_client: Any) -> None:
    response = await api_client.client.post(
        "/v1/announcements/nope/cancel", headers=api_client.auth(Role.STAFF)
    )

    body = await api_client.problem(response, 404)
    assert "urn:thongbao:problem:not-found" == body["type"]


async def test_send_at_and_expires_at_round_trip_as_given(
    api_client: Any, announcement_body: Any
) -> None:
    send_at = api_client.clock.now() + timedelta(hours=2)
    body = announcement_body(
        send_at=send_at.isoformat(), expires_at=(send_at + timedelta(hours=1)).isoformat()
    )

    created = await _create(api_client, body)

    assert ("2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z") == (
        created["send_at"],
        created["expires_at"],
    )


async def test_idempotency_key_that_is_not_utf8_is_422(api_client: Any) -> None:
    token = api_client.tokens[Role.STAFF].encode()
    head = (
        b"POST /v1/announcements HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Idempotency-Key: \xff\xfe\r\nAuthorization: Bearer " + token
    )

    status, body = await api_client.raw(head, b"{}")

    assert (422, [["header", "Idempotency-Key"]]) == (status, [e["loc"] for e in body["errors"]])


async def test_escaped_surrogate_pairs_are_ordinary_text(
    api_client: Any, announcement_body: Any
) -> None:
    data = json.dumps(announcement_body(title="📢 Thông báo"))  # ensure_ascii: \\ud83d\\udce2

    response = await api_client.client.post(
        "/v1/announcements",
        data=data,
        headers={**api_client.auth(Role.STAFF), "Content-Type": "application/json"},
    )

    assert (201, "📢 Thông báo") == (response.status, (await response.json())["title"])
