"""ZNS template messages and OA messages against the fake Zalo: shapes, templates, errors,
quota."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from zalo_fake_api import FakeZalo, MakeChannel

from dispatcher import (
    Accepted,
    Failed,
    FailureKind,
    FakeClock,
    OutboundMessage,
    Priority,
    RetryLater,
)
from dispatcher.store import SQLiteStore
from dispatcher.testing import make_message

PHONE = "+84912345678"
USER_ID = "4367228941206354210"
# FakeClock starts at 2026-01-01 00:00 UTC, 07:00 in Hà Nội: midnight there is 17 h away.
TO_MIDNIGHT = 17 * 3600.0


def message(n: int = 1, address: str = PHONE, **changes: Any) -> OutboundMessage:
    return replace(make_message(address, n, "zalo"), **changes)


async def test_a_phone_gets_the_documented_zns_request(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    channel = await make_channel(store)
    sent = message()
    assert [Accepted(provider_id="zns-d1", provider_code="0")] == await channel.send([sent])
    expected = {
        "phone": "84912345678",
        "template_id": "231677",
        "template_data": {"title": sent.title, "body": sent.body},
        "tracking_id": "d1",
    }
    assert [expected] == fake.zns


async def test_each_message_gets_the_latency_of_its_own_request(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    fake, _ = zalo
    fake.delays["84912345678"] = 0.5  # the first phone's answer waits; the second's does not
    channel = await make_channel(store)
    results = await channel.send([message(1), message(2, "+84912345679")])
    slow, fast = [r.latency_ms or 0.0 for r in results]
    assert slow >= 500 > fast


async def test_a_test_announcement_goes_in_development_mode(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    channel = await make_channel()
    await channel.send([message(test=True)])
    assert "development" == zalo[0].zns[0]["mode"]


async def test_the_announcement_chooses_the_template_and_settings_fill_it(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    fake.templates["888"] = [{"name": "tieu_de", "require": True, "type": "STRING"}]
    channel = await make_channel(zns={"params": {"tieu_de": "{{ title | upper }}"}})
    options = MappingProxyType({"template_id": "888"})
    [result] = await channel.send([message(options=options)])
    assert isinstance(result, Accepted)
    assert ("888", {"tieu_de": "THÔNG BÁO CẮT ĐIỆN"}) == (
        fake.zns[0]["template_id"],
        fake.zns[0]["template_data"],
    )


async def test_a_priority_can_have_its_own_template(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    fake.templates["777"] = fake.templates["231677"]
    channel = await make_channel(zns={"templates": {"emergency": "777"}})
    await channel.send([message(priority=Priority.EMERGENCY)])
    assert "777" == fake.zns[0]["template_id"]


@pytest.mark.parametrize(
    ("params", "advice"),
    [
        pytest.param(
            [{"name": "body", "require": True, "type": "STRING", "maxLength": 10}],
            "takes at most 10",
            id="too-long",
        ),
        pytest.param(
            [{"name": "ma_ho", "require": True, "type": "STRING"}],
            "add a variable 'ma_ho'",
            id="missing-required",
        ),
        pytest.param(
            [{"name": "title", "require": True, "type": "NUMBER"}],
            "must be a number",
            id="not-a-number",
        ),
    ],
)
async def test_template_data_is_checked_before_anything_is_sent(
    make_channel: MakeChannel,
    zalo: tuple[FakeZalo, str],
    params: list[dict[str, Any]],
    advice: str,
) -> None:
    fake, _ = zalo
    fake.templates["231677"] = params
    channel = await make_channel()
    [result] = await channel.send([message()])
    assert isinstance(result, Failed) and result.kind is FailureKind.PERMANENT
    assert advice in result.reason
    assert [] == fake.zns


async def test_an_unknown_template_fails_without_sending(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    channel = await make_channel()
    [result] = await channel.send([message(options=MappingProxyType({"template_id": "555"}))])
    assert isinstance(result, Failed) and "-109" == result.code
    assert [] == zalo[0].zns


async def test_without_any_template_the_reason_says_what_to_set(tmp_path: Any) -> None:
    from dispatcher.testing import make_context
    from plugins.zalo.channel import ZaloChannel
    from plugins.zalo.settings import ZaloSettings

    api = {"app_id": "1", "secret_key": "s", "refresh_token": "r", "access_token": "a"}
    settings = ZaloSettings.model_validate({"transport": "zalo", "api": api})
    channel = ZaloChannel(make_context(tmp_path, settings, "zalo"))
    await channel.start()
    try:
        [result] = await channel.send([message()])
    finally:
        await channel.aclose()
    assert isinstance(result, Failed) and "default_template" in result.reason


async def test_a_template_is_described_once_for_many_messages(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore
) -> None:
    channel = await make_channel(store)
    await channel.send([message(1), message(2)])
    await channel.send([message(3)])
    restarted = await make_channel(store)
    await restarted.send([message(4)])
    assert (1, 4) == (zalo[0].template_requests, len(zalo[0].zns))


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        pytest.param(-108, FailureKind.PERMANENT, id="-108-phone-invalid"),
        pytest.param(-118, FailureKind.PERMANENT, id="-118-no-zalo-account"),
        pytest.param(-119, FailureKind.PERMANENT, id="-119-cannot-receive"),
        pytest.param(-114, FailureKind.PERMANENT, id="-114-user-refused"),
        pytest.param(-101, FailureKind.TECHNICAL, id="-101-app-invalid"),
    ],
)
async def test_refusals_fail_the_delivery(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], code: int, kind: FailureKind
) -> None:
    zalo[0].codes["84912345678"] = code
    channel = await make_channel()
    [result] = await channel.send([message()])
    assert isinstance(result, Failed)
    assert (str(code), kind) == (result.code, result.kind)


@pytest.mark.parametrize(
    ("code", "after"),
    [
        pytest.param(-100, None, id="-100-unknown-retried"),
        pytest.param(-999, None, id="undocumented-retried"),
        pytest.param(-133, 23 * 3600.0, id="-133-night-waits-for-six"),
    ],
)
async def test_passing_troubles_are_retried(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], code: int, after: float | None
) -> None:
    zalo[0].codes["84912345678"] = code
    channel = await make_channel()
    assert [RetryLater] == [type(r) for r in await channel.send([message()])]
    [result] = await channel.send([message()])
    assert isinstance(result, RetryLater) and after == result.after


async def test_a_spent_quota_pauses_every_worker_until_midnight(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str], store: SQLiteStore, clock: FakeClock
) -> None:
    fake, _ = zalo
    fake.remaining = 0
    channel = await make_channel(store)
    [first] = await channel.send([message(1)])
    assert isinstance(first, RetryLater) and ("-144", TO_MIDNIGHT) == (first.code, first.after)
    other_worker = await make_channel(store)
    clock.advance(3600)
    results = await other_worker.send([message(2), message(3)])
    assert [TO_MIDNIGHT - 3600] * 2 == [r.after for r in results if isinstance(r, RetryLater)]
    assert 1 == len(fake.zns), "a paused channel must not call Zalo"
    clock.advance(TO_MIDNIGHT)
    fake.remaining = 500
    assert [Accepted] == [type(r) for r in await channel.send([message(4)])]


async def test_a_quota_spent_mid_batch_holds_the_rest_without_calling_zalo(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    fake.remaining = 0
    channel = await make_channel(api={"parallel": 1})
    results = await channel.send([message(n) for n in range(1, 5)])
    assert [RetryLater] * 4 == [type(r) for r in results]
    assert {"-144"} == {r.code for r in results if isinstance(r, RetryLater)}
    assert 1 == len(fake.zns), "one refusal of the quota holds the whole batch"


async def test_the_last_message_of_the_quota_pauses_the_channel(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    fake.remaining = 1
    channel = await make_channel()
    assert [Accepted] == [type(r) for r in await channel.send([message(1)])]
    [waiting] = await channel.send([message(2)])
    assert isinstance(waiting, RetryLater) and TO_MIDNIGHT == waiting.after
    assert 1 == len(fake.zns)


async def test_quota_figures_show_in_metrics(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    channel = await make_channel()
    registry = CollectorRegistry()
    for collector in channel.collectors():
        registry.register(collector)
    await channel.send([message(1), message(2)])
    text = generate_latest(registry).decode()
    assert 'thongbao_zalo_quota_daily{channel="zalo"} 500.0' in text
    assert 'thongbao_zalo_quota_remaining{channel="zalo"} 498.0' in text
    assert 'thongbao_zalo_token_ok{channel="zalo"} 1.0' in text


async def test_a_user_id_gets_an_oa_text_message(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    channel = await make_channel()
    sent = message(address=USER_ID)
    [result] = await channel.send([sent])
    assert Accepted(provider_id=f"oa-{USER_ID}-1", provider_code="0") == result
    text = f"{sent.title}\n\n{sent.body}"
    assert [{"recipient": {"user_id": USER_ID}, "message": {"text": text}}] == zalo[0].oa
    assert [] == zalo[0].zns


async def test_an_oa_text_over_the_limit_fails_with_advice(
    make_channel: MakeChannel, zalo: tuple[FakeZalo, str]
) -> None:
    channel = await make_channel()
    [result] = await channel.send([message(address=USER_ID, body="x" * 2100)])
    assert isinstance(result, Failed) and "at most 2000" in result.reason
    assert [] == zalo[0].oa


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"template_id": "231677"}, None, id="template-id-accepted"),
        pytest.param({"strip_diacritics": True}, "unknown option", id="unknown-option"),
        pytest.param({"template_id": "abc"}, "not a ZNS template id", id="bad-template-id"),
    ],
)
async def test_inspect_checks_the_options(
    make_channel: MakeChannel, options: dict[str, Any], problem: str | None
) -> None:
    channel = await make_channel()
    found = channel.inspect(message(options=MappingProxyType(options)))
    assert (problem is None) == (not found.problems), found.problems
    assert problem is None or problem in found.problems[0]
