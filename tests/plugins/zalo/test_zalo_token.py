"""The OA's tokens: rotation persisted before use, one refresh across workers, restarts,
and a refused refresh as an operator-visible error rather than a loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs
from zalo_fake_api import APP_ID, FakeZalo, MakeChannel

from dispatcher import Accepted, FakeClock, OutboundMessage, RetryLater
from dispatcher.store import SQLiteStore
from dispatcher.testing import make_message
from plugins.zalo.token import TOKEN_KEY

PHONE = "+84912345678"


def zns(n: int = 1) -> OutboundMessage:
    return make_message(PHONE, n, "zalo")


async def stored_token(store: SQLiteStore) -> dict[str, object]:
    entry = await store.state_get("zalo", TOKEN_KEY)
    assert entry is not None
    return entry.value


async def test_the_first_refresh_rotates_and_stores_the_pair_before_use(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    channel = await make_channel(store)
    assert [Accepted] == [type(r) for r in await channel.send([zns()])]
    expected_form = {"refresh_token": "refresh-0", "app_id": APP_ID, "grant_type": "refresh_token"}
    assert [expected_form] == fake.refreshes
    token = await stored_token(store)
    assert ("access-1", "refresh-1") == (token["access_token"], token["refresh_token"])
    assert "2026-01-02T01:00:00+00:00" == token["expires_at"]  # now + 90000 s


async def test_a_restart_uses_the_stored_refresh_token_not_the_settings_one(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    first = await make_channel(store)
    await first.send([zns(1)])
    await first.aclose()
    fake.access_token = "revoked-by-zalo"  # the stored access token no longer works
    restarted = await make_channel(store)
    [result] = await restarted.send([zns(2)])
    assert isinstance(result, Accepted)
    assert ["refresh-0", "refresh-1"] == [r["refresh_token"] for r in fake.refreshes]


async def test_two_workers_needing_a_refresh_make_one_call(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], tmp_path: Path
) -> None:
    fake, _ = zalo
    fake.refresh_gate = asyncio.Event()
    one, two = SQLiteStore(tmp_path / "w.db"), SQLiteStore(tmp_path / "w.db")
    await one.open()
    await two.open()
    try:
        a, b = await make_channel(one), await make_channel(two)
        sends = asyncio.gather(a.send([zns(1)]), b.send([zns(2)]))
        await fake.refresh_started.wait()
        fake.refresh_gate.set()
        results = await sends
    finally:
        await one.close()
        await two.close()
    assert [[Accepted], [Accepted]] == [[type(r) for r in found] for found in results]
    assert 1 == len(fake.refreshes)
    assert 2 == len(fake.zns)


async def test_a_token_about_to_expire_is_renewed_before_it_is_used(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore, clock: FakeClock
) -> None:
    fake, _ = zalo
    fake.expires_in = "600"
    channel = await make_channel(store, api={"refresh_margin": 300})
    await channel.send([zns(1)])
    clock.advance(301)
    await channel.send([zns(2)])
    assert (2, 2) == (len(fake.refreshes), len(fake.zns))


async def test_a_token_zalo_refuses_is_refreshed_and_the_message_still_sent(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    channel = await make_channel()
    await channel.send([zns(1)])
    fake.access_token = "rotated-at-zalo"
    [result] = await channel.send([zns(2)])
    assert Accepted(provider_id="zns-d2", provider_code="0") == result
    assert 2 == len(fake.refreshes)


async def test_a_refused_refresh_waits_with_a_reason_and_never_loops(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    fake.refresh_token = "only-zalo-knows"  # the settings' refresh token was used already
    channel = await make_channel(store)
    registry = CollectorRegistry()
    for collector in channel.collectors():
        registry.register(collector)
    with capture_logs() as logs:
        [first] = await channel.send([zns(1)])
        [second] = await channel.send([zns(2)])
    for result in (first, second):
        assert isinstance(result, RetryLater) and 1800.0 == result.after
        assert "refresh_token" in result.reason and "-14014" in result.reason
    assert 1 == len(fake.refreshes), "a refused refresh token must not be tried again"
    assert [] == fake.zns
    assert ["zalo_token_refused"] == [e["event"] for e in logs if e["log_level"] == "error"]
    assert 'thongbao_zalo_token_ok{channel="zalo"} 0.0' in generate_latest(registry).decode()


async def test_new_credentials_in_the_settings_end_a_refusal(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    fake.refresh_token = "only-zalo-knows"
    refused = await make_channel(store)
    await refused.send([zns(1)])
    fixed = await make_channel(store, api={"refresh_token": "only-zalo-knows"})
    assert [Accepted] == [type(r) for r in await fixed.send([zns(2)])]
    assert "refresh-1" == (await stored_token(store))["refresh_token"]
