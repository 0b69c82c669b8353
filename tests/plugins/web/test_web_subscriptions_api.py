"""Admins manage subscriptions over the API: the secret is shown once, rotation keeps the
old secret valid for an overlap, and nobody else may touch them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from standardwebhooks import Webhook
from web_helpers import Receiver, Web

from dispatcher.keys import Role

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]
PATH = "/v1/web/subscriptions"


async def test_the_secret_is_shown_at_creation_only(web_factory: WebFactory) -> None:
    web = await web_factory()
    sub_id, secret = await web.subscribe(
        "https://Cong.HCM.gov.vn/hooks#x", filters={"areas": ["79"], "tags": ["bão"]}
    )
    listed = await (await web.client.get(PATH, headers=web.auth)).json()
    one = await (await web.client.get(f"{PATH}/{sub_id}", headers=web.auth)).json()
    assert secret.startswith("whsec_")
    assert secret not in str(listed) and secret not in str(one)
    assert [sub_id] == [s["id"] for s in listed["items"]]
    assert ("https://cong.hcm.gov.vn/hooks", ["79"], ["bão"]) == (
        one["url"],
        one["filters"]["areas"],
        one["filters"]["tags"],
    )


async def test_bad_subscriptions_are_refused_with_reasons(web_factory: WebFactory) -> None:
    web = await web_factory()
    bad_url = await web.client.post(PATH, json={"url": "ftp://x"}, headers=web.auth)
    bad_area = await web.client.post(
        PATH, json={"url": "https://x.gov.vn/h", "filters": {"areas": ["99999"]}}, headers=web.auth
    )
    bad_field = await web.client.post(
        PATH, json={"url": "https://x.gov.vn/h", "secret": "mine"}, headers=web.auth
    )
    assert [422, 422, 422] == [r.status for r in (bad_url, bad_area, bad_field)]
    assert "99999" in (await bad_area.json())["detail"]


async def test_only_admins_manage_subscriptions(web_factory: WebFactory) -> None:
    web = await web_factory()
    _, staff = await web.engine.services.create_api_key(Role.STAFF, "staff")
    anonymous = await web.client.get(PATH)
    as_staff = await web.client.post(
        PATH, json={"url": "https://x.gov.vn/h"}, headers={"Authorization": f"Bearer {staff}"}
    )
    assert (401, 403) == (anonymous.status, as_staff.status)


async def test_after_a_rotation_old_and_new_secret_verify_until_the_overlap_ends(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    sub_id, old = await web.subscribe(receiver.url)
    response = await web.client.post(
        f"{PATH}/{sub_id}/rotate", json={"overlap_seconds": 120}, headers=web.auth
    )
    new = (await response.json())["secret"]
    await web.announce(title="Trong thời gian chuyển khóa")
    web.clock.advance(121)
    await web.announce(title="Sau thời gian chuyển khóa")

    during, after = await receiver.wait_for(2)
    assert old != new
    for secret in (old, new):
        Webhook(secret).verify(during.body, during.headers)
    Webhook(new).verify(after.body, after.headers)
    assert 1 == len(after.headers["webhook-signature"].split())


async def test_a_disabled_subscription_can_be_enabled_again(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([410, 200])
    sub_id, _ = await web.subscribe(receiver.url)
    await web.announce()
    response = await web.client.post(f"{PATH}/{sub_id}/enable", headers=web.auth)
    assert (200, True) == (response.status, (await response.json())["active"])
    web.clock.advance(timedelta(minutes=1).total_seconds())
    later = await web.announce(title="Sau khi bật lại")
    assert ["delivered"] == [d.status.value for d in await web.deliveries(later.id)]


async def test_unknown_subscriptions_are_404(web_factory: WebFactory) -> None:
    web = await web_factory()
    for method, path in [
        ("GET", f"{PATH}/sub_0000000000000000"),
        ("DELETE", f"{PATH}/sub_0000000000000000"),
        ("POST", f"{PATH}/sub_0000000000000000/rotate"),
        ("POST", f"{PATH}/nonsense/enable"),
    ]:
        response = await web.client.request(method, path, headers=web.auth)
        assert 404 == response.status, (method, path)
