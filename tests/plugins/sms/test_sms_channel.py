"""The SMS channel: addresses, settings, and the generic HTTP gateway's wire and answers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dispatcher.channel import Accepted, Failed, OutboundMessage, RetryLater, SendResult
from dispatcher.errors import (
    ConfigError,
    InvalidAddressError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from dispatcher.testing import (
    FakeProvider,
    FakeSettings,
    ProviderAnswer,
    ProviderRequest,
    make_context,
    make_message,
)
from plugins.sms.channel import SmsChannel, _parse_phone, normalize_phone
from plugins.sms.settings import SmsSettings
from plugins.sms.wire import UNREADABLE, parse_retry_after
from schemas import FailureKind

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ChannelFactory = Callable[..., Awaitable[SmsChannel]]


@pytest.fixture
async def gateway(provider_server: Callable[..., Awaitable[FakeProvider]]) -> FakeProvider:
    return await provider_server()


@pytest.fixture
async def sms_factory(tmp_path: Path, gateway: FakeProvider) -> AsyncIterator[ChannelFactory]:
    """Build started SMS channels pointed at the fake gateway; closed after the test."""
    made: list[SmsChannel] = []

    async def make(**http: Any) -> SmsChannel:
        http = {"url": gateway.url, "auth_token": "s3cret", "timeout": 0.5, **http}
        settings = SmsSettings.model_validate({"transport": "http", "http": http})
        channel = SmsChannel(make_context(tmp_path, settings, "sms"))
        await channel.start()
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


def batch(count: int) -> list[OutboundMessage]:
    return [make_message(f"+8491234567{n}", n, "sms") for n in range(1, count + 1)]


# -- addresses -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("0912345678", "+84912345678", id="national"),
        pytest.param("84912345678", "+84912345678", id="country-code-no-plus"),
        pytest.param("+84 912 345 678", "+84912345678", id="international-spaced"),
        pytest.param(" 091-234-5678 ", "+84912345678", id="dashes-and-blanks"),
        pytest.param("0386123456", "+84386123456", id="viettel-03x"),
        pytest.param("+1 650 253 0000", "+16502530000", id="foreign"),
    ],
)
def test_phone_numbers_become_e164(address: str, expected: str) -> None:
    assert expected == normalize_phone(address)


def test_numbers_already_in_e164_get_the_answer_a_full_parse_gives() -> None:
    # Every 3-digit start after +84, with 9 and with other lengths: the shortcut for
    # E.164 mobiles must agree with phonenumbers on each.
    rng = random.Random(9)
    for start in range(100, 1000):
        for length in (6, 6, 5, 7):
            address = f"+84{start}{rng.randrange(10**length):0{length}d}"
            assert _outcome(normalize_phone, address) == _outcome(_parse_phone, address), address


def _outcome(normalize: Callable[[str], str], address: str) -> str:
    try:
        return normalize(address)
    except InvalidAddressError as exc:
        return f"refused: {exc}"


@pytest.mark.parametrize(
    ("address", "advice"),
    [
        pytest.param("", "0912345678", id="empty"),
        pytest.param("0912", "0912345678", id="too-short"),
        pytest.param("gọi cho tôi", "0912345678", id="words"),
        pytest.param("0212345678", "0912345678", id="unassigned-prefix"),
        pytest.param("024 3825 1234", "landline", id="landline"),
    ],
)
def test_bad_phone_numbers_are_refused_with_advice(address: str, advice: str) -> None:
    with pytest.raises(InvalidAddressError, match=advice):
        normalize_phone(address)


# -- settings ------------------------------------------------------------------------------
def test_sandbox_is_the_default() -> None:
    assert "sandbox" == SmsSettings().transport


def test_http_transport_without_gateway_is_refused_clearly() -> None:
    with pytest.raises(ValidationError, match=r"set http\.url"):
        SmsSettings.model_validate({"transport": "http"})


def test_gateway_without_url_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"http\.url"):
        SmsSettings.model_validate({"transport": "http", "http": {"batch": True}})


def test_gateway_settings_alone_keep_the_sandbox() -> None:
    settings = SmsSettings.model_validate({"http": {"url": "https://gw.example.vn/send"}})
    assert "sandbox" == settings.transport


def test_token_is_masked_in_settings_repr() -> None:
    settings = SmsSettings.model_validate(
        {"transport": "http", "http": {"url": "https://gw.example.vn/send", "auth_token": "s3cret"}}
    )
    assert "s3cret" not in repr(settings)


async def test_gateway_is_paced_and_the_sandbox_is_not(
    sms_factory: ChannelFactory, tmp_path: Path
) -> None:
    sandboxed = SmsChannel(make_context(tmp_path, SmsSettings(), "sms"))
    assert (50.0, None) == ((await sms_factory()).rate_per_sec, sandboxed.rate_per_sec)


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SmsSettings"):
        SmsChannel(make_context(tmp_path, FakeSettings(), "sms"))


# -- one message a request -----------------------------------------------------------------
async def test_single_mode_posts_one_message_with_bearer_token(
    sms_factory: ChannelFactory, gateway: FakeProvider
) -> None:
    gateway.always(ProviderAnswer(json={"id": "gw-1"}))
    channel = await sms_factory()
    assert [Accepted(provider_id="gw-1")] == await channel.send(batch(1))
    [request] = gateway.requests
    assert ("POST", "Bearer s3cret") == (request.method, request.headers["Authorization"])
    text = "Lịch cắt điện phường Hàng Bạc, tin số 1."
    assert {"to": "+84912345671", "text": text, "ref": "d1"} == request.json()


def _per_ref(request: ProviderRequest) -> ProviderAnswer:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=3600), usegmt=True)
    return {
        "d1": ProviderAnswer(json={"id": 4711}),
        "d2": ProviderAnswer(status=400, json={"error": "number is barred"}),
        "d3": ProviderAnswer(status=429, headers={"Retry-After": later}),
        "d4": ProviderAnswer(status=502, text="bad gateway"),
        "d5": ProviderAnswer(text="OK"),
        "d6": ProviderAnswer(json={"id": ""}),
        "d7": ProviderAnswer(status=404, text=""),
    }[request.json()["ref"]]


async def test_single_mode_maps_each_answer(
    sms_factory: ChannelFactory, gateway: FakeProvider
) -> None:
    gateway.always(_per_ref)
    results = await (await sms_factory()).send(batch(7))
    rate_limited = results.pop(2)
    assert isinstance(rate_limited, RetryLater)
    assert rate_limited.after is not None and 3500 < rate_limited.after <= 3600
    assert "429" == rate_limited.code
    expected: list[SendResult] = [
        Accepted(provider_id="4711"),
        Failed("number is barred", code="400", kind=FailureKind.PERMANENT),
        RetryLater("the gateway failed with HTTP 502", code="502"),
        RetryLater(UNREADABLE),
        RetryLater(UNREADABLE),
        Failed("the gateway refused with HTTP 404", code="404", kind=FailureKind.PERMANENT),
    ]
    assert expected == results


async def test_send_before_start_is_refused(tmp_path: Path) -> None:
    settings = SmsSettings.model_validate({"transport": "http", "http": {"url": "http://gw/"}})
    with pytest.raises(RuntimeError, match="start"):
        await SmsChannel(make_context(tmp_path, settings, "sms")).send(batch(1))


# -- a whole batch a request ---------------------------------------------------------------
async def test_batch_mode_posts_the_batch_and_maps_each_result(
    sms_factory: ChannelFactory, gateway: FakeProvider
) -> None:
    results = [
        {"ref": "d1", "id": "gw-1"},
        {"ref": "d2", "error": "number is barred", "code": "E12", "permanent": True},
        {"ref": "d3", "error": "operator busy", "code": 99},
        {"ref": "d5"},
    ]
    gateway.always(ProviderAnswer(json={"results": results}))
    channel = await sms_factory(batch=True)
    expected: list[SendResult] = [
        Accepted(provider_id="gw-1"),
        Failed("number is barred", code="E12", kind=FailureKind.PERMANENT),
        RetryLater("operator busy", code="99"),
        RetryLater("the gateway gave no result for this message"),
        RetryLater(UNREADABLE),
    ]
    assert expected == await channel.send(batch(5))
    [request] = gateway.requests
    assert ["d1", "d2", "d3", "d4", "d5"] == [m["ref"] for m in request.json()["messages"]]


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        pytest.param(
            ProviderAnswer(json={"ok": True}), TransientDeliveryError, None, id="no-results"
        ),
        pytest.param(ProviderAnswer(text="<html>"), TransientDeliveryError, None, id="not-json"),
        pytest.param(ProviderAnswer(status=500), TransientDeliveryError, "500", id="500"),
        pytest.param(
            ProviderAnswer(status=429, headers={"Retry-After": "12"}),
            RateLimitedError,
            "429",
            id="429",
        ),
        pytest.param(
            ProviderAnswer(status=401, json={"message": "bad token"}),
            PermanentDeliveryError,
            "401",
            id="401",
        ),
    ],
)
async def test_batch_mode_whole_request_failures_raise(
    sms_factory: ChannelFactory,
    gateway: FakeProvider,
    answer: ProviderAnswer,
    error: type[Exception],
    code: str | None,
) -> None:
    gateway.always(answer)
    channel = await sms_factory(batch=True)
    with pytest.raises(error) as info:
        await channel.send(batch(2))
    assert code == getattr(info.value, "code", None)
    assert "sms" == getattr(info.value, "channel", None)


async def test_batch_mode_reason_comes_from_the_body(
    sms_factory: ChannelFactory, gateway: FakeProvider
) -> None:
    gateway.always(ProviderAnswer(status=401, json={"message": "bad token"}))
    with pytest.raises(PermanentDeliveryError, match="bad token"):
        await (await sms_factory(batch=True)).send(batch(1))


async def test_flush_is_harmless_on_the_gateway(sms_factory: ChannelFactory) -> None:
    await (await sms_factory()).flush()


# -- Retry-After ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="delta-seconds"),
        pytest.param(" 5 ", 5.0, id="blanks"),
        pytest.param("Sun, 01 Mar 2026 08:01:30 GMT", 90.0, id="http-date"),
        pytest.param("Sun, 01 Mar 2026 07:00:00 GMT", 0.0, id="date-in-the-past"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_is_parsed(value: str | None, expected: float | None) -> None:
    assert expected == parse_retry_after(value, NOW)
