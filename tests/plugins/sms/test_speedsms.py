"""The SpeedSMS transport against a fake SpeedSMS on 127.0.0.1, and SpeedSMS's webhook route."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from provider_fakes import (
    SHORT_TIMEOUT,
    Client,
    MakeTransport,
    outcomes,
    routes_client,
    sms_out,
    sms_receipt,
    started_transports,
)
from pydantic import ValidationError
from structlog.testing import capture_logs

from dispatcher import (
    Accepted,
    ChannelTimeoutError,
    Failed,
    RateLimitedError,
    RetryLater,
    TransientDeliveryError,
)
from dispatcher.testing import FakeProvider, FakeReceiptSink, ProviderAnswer, make_context
from dispatcher.testing.provider import ProviderRequest
from plugins.sms.brandname import AccountPausedError, AccountRefusedError
from plugins.sms.speedsms import ROUTES, SpeedSmsSettings, SpeedSmsTransport
from plugins.sms.speedsms_codes import SPEEDSMS_CODES
from plugins.sms.speedsms_report import SPEEDSMS_CALLBACK_PATH
from plugins.sms.transport import SmsOut
from schemas import DeliveryStatus, FailureKind, ReceiptIn

Make = MakeTransport[SpeedSmsTransport]
VIETNAMESE = "Lịch tiêm chủng mở rộng: 7h30 thứ Bảy tại trạm y tế phường."
TOKEN = "TOKEN-789"


class FakeSpeedSms:
    """Answers like SpeedSMS: a new tranId per request; numbers in ``invalid`` are listed."""

    def __init__(self) -> None:
        self.tran_ids = itertools.count(5001)
        self.invalid: set[str] = set()

    def __call__(self, request: ProviderRequest) -> ProviderAnswer:
        bad = [number for number in request.json()["to"] if number in self.invalid]
        data = {
            "tranId": next(self.tran_ids),
            "totalSMS": 1,
            "totalPrice": 250,
            "invalidPhone": bad,
        }
        return ProviderAnswer(json={"status": "success", "code": "00", "data": data})


def refusal(code: str, invalid: list[str] | None = None) -> ProviderAnswer:
    """SpeedSMS's documented error answer."""
    body = {"status": "error", "code": code, "message": "refused", "invalidPhone": invalid or []}
    return ProviderAnswer(json=body)


def phone(n: int) -> str:
    return f"+849{n:08d}"


def sms(
    n: int = 1,
    *,
    to: str | None = None,
    text: str = VIETNAMESE,
    unicode: bool = True,
    test: bool = False,
) -> SmsOut:
    return sms_out(to or phone(n), n, text, unicode=unicode, test=test)


@pytest.fixture
def gateway() -> FakeSpeedSms:
    return FakeSpeedSms()


@pytest.fixture
async def speedsms(
    provider_server: Callable[..., Awaitable[FakeProvider]], gateway: FakeSpeedSms
) -> FakeProvider:
    return await provider_server(gateway)


@pytest.fixture
async def make(tmp_path: Path, speedsms: FakeProvider) -> AsyncIterator[Make]:
    """Build and start transports pointed at the fake SpeedSMS; all are closed afterwards."""
    defaults = {
        "access_token": TOKEN,
        "brandname": "UBND-PHUONG",
        "base_url": speedsms.url.removesuffix("/send") + "/index.php",
    }
    async with started_transports(tmp_path, SpeedSmsSettings, SpeedSmsTransport, defaults) as build:
        yield build


async def test_request_carries_the_documented_fields(make: Make, speedsms: FakeProvider) -> None:
    results = await (await make()).send([sms(1, to="+84912345678")])
    [request] = speedsms.requests
    assert ("POST", "/index.php/sms/send") == (request.method, request.path)
    basic = base64.b64encode(f"{TOKEN}:x".encode()).decode()
    assert f"Basic {basic}" == request.headers["Authorization"]
    assert {
        "to": ["84912345678"],
        "content": VIETNAMESE,
        "sms_type": 3,
        "sender": "UBND-PHUONG",
    } == request.json()
    assert [Accepted(provider_id="5001:84912345678", provider_code="00")] == results


async def test_250_same_text_messages_go_in_chunks_of_100(
    make: Make, speedsms: FakeProvider
) -> None:
    batch = [sms(n) for n in range(1, 251)]
    results = await (await make()).send(batch)
    sizes = [len(request.json()["to"]) for request in speedsms.requests]
    assert [100, 100, 50] == sizes
    sent = [number for request in speedsms.requests for number in request.json()["to"]]
    assert [item.phone.lstrip("+") for item in batch] == sent
    expected = [f"{5001 + (n - 1) // 100}:{phone(n)[1:]}" for n in range(1, 251)]
    assert expected == [r.provider_id for r in results if isinstance(r, Accepted)]


async def test_each_text_goes_in_its_own_request(make: Make, speedsms: FakeProvider) -> None:
    batch = [
        sms(1, text="Mất điện"),
        sms(2, text="Mat dien", unicode=False),
        sms(3, text="Mất điện"),
    ]
    results = await (await make()).send(batch)
    sent = [(r.json()["content"], r.json()["to"]) for r in speedsms.requests]
    assert [("Mất điện", [phone(1)[1:], phone(3)[1:]]), ("Mat dien", [phone(2)[1:]])] == sent
    assert ["5001", "5002", "5001"] == [
        (r.provider_id or "").split(":")[0] for r in results if isinstance(r, Accepted)
    ]


async def test_a_number_is_never_twice_in_one_request(make: Make, speedsms: FakeProvider) -> None:
    await (await make()).send([sms(1, to=phone(7)), sms(2, to=phone(7)), sms(3)])
    assert [[phone(7)[1:], phone(3)[1:]], [phone(7)[1:]]] == [
        r.json()["to"] for r in speedsms.requests
    ]


async def test_invalid_numbers_of_an_accepted_request_fail(
    make: Make, gateway: FakeSpeedSms
) -> None:
    gateway.invalid = {phone(2)[1:]}
    results = await (await make()).send([sms(1), sms(2)])
    assert isinstance(results[0], Accepted)
    assert Failed("SpeedSMS 105: phone number invalid", code="105") == results[1]


async def test_refusal_for_invalid_numbers_retries_the_others(
    make: Make, speedsms: FakeProvider
) -> None:
    speedsms.answer(refusal("105", invalid=["0900000002"]))
    results = await (await make()).send([sms(1), sms(2)])
    assert [RetryLater, Failed] == [type(r) for r in results]
    assert ["105", "105"] == [getattr(r, "code", None) for r in results]


# Every documented code, with what it must become; the last assert keeps this list total.
CODE_CASES: list[tuple[str, type[object]]] = [
    ("007", AccountRefusedError),
    ("008", AccountRefusedError),
    ("009", AccountRefusedError),
    ("101", Failed),
    ("105", Failed),
    ("110", Failed),
    ("113", Failed),
    ("300", AccountPausedError),
    ("500", RetryLater),
]


@pytest.mark.parametrize(("code", "expected"), [pytest.param(*c, id=c[0]) for c in CODE_CASES])
async def test_every_documented_code_is_mapped(
    make: Make, speedsms: FakeProvider, code: str, expected: type[object]
) -> None:
    speedsms.always(refusal(code))
    found = await outcomes(await make(), [sms(1)])
    assert isinstance(found[0], expected), found
    assert code == getattr(found[0], "code", None)
    if isinstance(found[0], Failed):
        assert FailureKind.PERMANENT == found[0].kind
    assert {int(c) for c, _ in CODE_CASES} | {0} == set(SPEEDSMS_CODES)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(refusal("42"), id="undocumented-code"),
        pytest.param(refusal("00"), id="error-with-success-code"),
        pytest.param(ProviderAnswer(json={"status": "error", "message": "?"}), id="no-code"),
        pytest.param(ProviderAnswer(json={"status": "success", "data": {}}), id="no-tranid"),
        pytest.param(ProviderAnswer(text="oops"), id="not-json"),
    ],
)
async def test_answers_that_settle_nothing_are_retried(
    make: Make, speedsms: FakeProvider, answer: ProviderAnswer
) -> None:
    speedsms.always(answer)
    [found] = await (await make()).send([sms()])
    assert isinstance(found, RetryLater), found


async def test_account_refusal_stops_the_batch(make: Make, speedsms: FakeProvider) -> None:
    speedsms.always(refusal("008"))
    with pytest.raises(AccountRefusedError) as info:
        await (await make()).send([sms(n) for n in range(1, 251)])
    assert ("008", 1) == (info.value.code, len(speedsms.requests))


async def test_balance_running_out_keeps_what_was_sent(make: Make, speedsms: FakeProvider) -> None:
    speedsms.answer(ProviderAnswer(json={"status": "success", "code": "00", "data": {"tranId": 9}}))
    speedsms.always(refusal("300"))
    results = await (await make()).send([sms(n) for n in range(1, 251)])
    assert [Accepted] * 100 + [RetryLater] * 150 == [type(r) for r in results]
    assert 2 == len(speedsms.requests)


async def test_a_failing_chunk_does_not_sink_the_others(make: Make, speedsms: FakeProvider) -> None:
    speedsms.answer(
        ProviderAnswer(json={"status": "success", "code": "00", "data": {"tranId": 9}}),
        ProviderAnswer(status=502),
    )
    results = await (await make()).send([sms(n) for n in range(1, 251)])
    assert [Accepted] * 100 + [RetryLater] * 100 + [Accepted] * 50 == [type(r) for r in results]


@pytest.mark.parametrize(
    ("headers", "after"),
    [
        pytest.param({"X-Rate-Limit-Reset": "30"}, 30.0, id="x-rate-limit-reset"),
        pytest.param({"Retry-After": "12", "X-Rate-Limit-Reset": "30"}, 12.0, id="retry-after"),
        pytest.param({}, None, id="no-hint"),
    ],
)
async def test_rate_limit_waits_and_stops_the_batch(
    make: Make, speedsms: FakeProvider, headers: dict[str, str], after: float | None
) -> None:
    body = {"name": "Too Many Requests", "message": "Rate limit exceeded.", "status": 429}
    speedsms.always(ProviderAnswer(status=429, json=body, headers=headers))
    with pytest.raises(RateLimitedError) as info:
        await (await make()).send([sms(n) for n in range(1, 251)])
    assert (after, 1) == (info.value.retry_after, len(speedsms.requests))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(ProviderAnswer(status=500), TransientDeliveryError, id="500"),
        pytest.param(ProviderAnswer(hang=True), ChannelTimeoutError, id="timeout"),
        pytest.param(ProviderAnswer(status=404, text="Not Found"), AccountRefusedError, id="404"),
        pytest.param(ProviderAnswer(status=401), AccountRefusedError, id="401"),
    ],
)
async def test_http_failures_of_the_whole_batch(
    make: Make, speedsms: FakeProvider, answer: ProviderAnswer, error: type[Exception]
) -> None:
    speedsms.always(answer)
    with pytest.raises(error):
        await (await make(timeout=SHORT_TIMEOUT)).send([sms(1), sms(2)])


async def test_test_announcement_needs_consent_to_go_out(
    make: Make, speedsms: FakeProvider
) -> None:
    [refused] = await (await make()).send([sms(test=True)])
    assert isinstance(refused, Failed)
    assert ("no-sandbox", 0) == (refused.code, len(speedsms.requests))
    [sent] = await (await make(send_test_messages=True)).send([sms(test=True)])
    assert isinstance(sent, Accepted)


async def test_account_limits_and_webhook_url(make: Make) -> None:
    with capture_logs() as logs:
        transport = await make(rate_per_sec=2)
    assert ("speedsms:UBND-PHUONG", 2.0, False, 500) == (
        transport.account,
        transport.rate_per_sec,
        transport.repeatable,
        transport.max_batch,
    )
    url = "http://127.0.0.1:8080/v1/callbacks/sms/speedsms"
    # Other log lines may come first (the order depends on which tests ran before).
    announced = [e for e in logs if e["event"] == "speedsms_webhook_url"]
    assert [url] == [e["url"] for e in announced]


async def test_secret_stays_out_of_reprs_and_logs(make: Make, speedsms: FakeProvider) -> None:
    transport = await make(timeout=SHORT_TIMEOUT)
    with capture_logs() as logs:
        for answer in (refusal("008"), ProviderAnswer(hang=True), ProviderAnswer(status=500)):
            speedsms.always(answer)
            await outcomes(transport, [sms()])
    seen = repr([transport, transport.settings, str(transport.settings), logs])
    assert logs
    assert TOKEN not in seen


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"brandname": ""}, id="brandname-type-needs-sender"),
        pytest.param({"sms_type": 1}, id="advertising-not-supported"),
        pytest.param({"token": "x"}, id="unknown-field"),
    ],
)
def test_settings_refuse_what_cannot_work(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SpeedSmsSettings.model_validate({"access_token": "t", "brandname": "B", **fields})


def test_random_number_type_needs_no_sender(tmp_path: Path) -> None:
    settings = SpeedSmsSettings.model_validate({"access_token": "t", "sms_type": 2})
    transport = SpeedSmsTransport(settings, make_context(tmp_path, settings, "sms"))
    assert "speedsms:type2" == transport.account


# -- delivery reports ------------------------------------------------------------------------
@pytest.fixture
async def client(sink: FakeReceiptSink) -> AsyncIterator[Client]:
    async with routes_client(ROUTES, sink) as client:
        yield client


def receipt(status: DeliveryStatus, code: str, detail: str | None = None) -> ReceiptIn:
    return sms_receipt("5001:84912345678", status, code, detail)


@pytest.mark.parametrize("number", ["84912345678", "0912345678", "+84912345678", 84912345678])
async def test_delivered_report_is_stored(
    client: Client, sink: FakeReceiptSink, number: object
) -> None:
    report = {"type": "report", "tranId": 5001, "phone": number, "status": 0}
    response = await client.post(SPEEDSMS_CALLBACK_PATH, json=report)
    assert (200, {"applied": True}) == (response.status, await response.json())
    assert [receipt(DeliveryStatus.DELIVERED, "0")] == sink.receipts


@pytest.mark.parametrize("status", [64, 100])
async def test_failed_report_is_stored(client: Client, sink: FakeReceiptSink, status: int) -> None:
    report = {"type": "report", "tranId": "5001", "phone": "84912345678", "status": status}
    await client.post(SPEEDSMS_CALLBACK_PATH, json=report)
    detail = f"the network reported failure (status {status})"
    assert [receipt(DeliveryStatus.FAILED, str(status), detail)] == sink.receipts


@pytest.mark.parametrize("status", [1, 32, 63])
async def test_temporary_failures_change_nothing(
    client: Client, sink: FakeReceiptSink, status: int
) -> None:
    report = {"type": "report", "tranId": 5001, "phone": "84912345678", "status": status}
    response = await client.post(SPEEDSMS_CALLBACK_PATH, json=report)
    assert (200, {"applied": False}) == (response.status, await response.json())
    assert [] == sink.receipts


async def test_inbound_message_is_acknowledged_not_stored(
    client: Client, sink: FakeReceiptSink
) -> None:
    call = {"type": "sms", "phone": "84912345678", "content": "TU CHOI"}
    response = await client.post(SPEEDSMS_CALLBACK_PATH, json=call)
    assert (200, {"applied": False}) == (response.status, await response.json())
    assert [] == sink.receipts


async def test_list_of_reports_answers_per_report(client: Client, sink: FakeReceiptSink) -> None:
    calls = [
        {"type": "report", "tranId": 5001, "phone": "84912345678", "status": 0},
        {"type": "report", "tranId": 5001, "phone": "84912345679", "status": 5},
        {"type": "report", "tranId": 5001, "phone": "84912345670", "status": 64},
    ]
    response = await client.post(SPEEDSMS_CALLBACK_PATH, json=calls)
    assert {"applied": [True, False, True]} == await response.json()
    assert ["5001:84912345678", "5001:84912345670"] == [r.provider_id for r in sink.receipts]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"tranId=1&", "not JSON", id="not-json"),
        pytest.param(b'{"type": "report", "phone": "0912345678", "status": 0}', "tranId",
                     id="no-tranid"),
        pytest.param(b'{"type": "report", "tranId": 1, "phone": "abc", "status": 0}', "phone",
                     id="bad-phone"),
        pytest.param(b'{"type": "report", "tranId": 1, "phone": "0912345678"}', "status",
                     id="no-status"),
        pytest.param(b"[]", "reports a request", id="empty-list"),
        pytest.param(b"7", "not an object", id="scalar"),
    ],
)  # fmt: skip
async def test_bad_call_is_a_problem(
    client: Client, sink: FakeReceiptSink, body: bytes, detail: str
) -> None:
    response = await client.post(
        SPEEDSMS_CALLBACK_PATH, data=body, headers={"Content-Type": "application/json"}
    )
    problem = await response.json(content_type="application/problem+json")
    assert (400, 400) == (response.status, problem["status"])
    assert detail in problem["detail"]
    assert [] == sink.receipts


async def test_store_trouble_asks_speedsms_to_call_again(
    client: Client, sink: FakeReceiptSink
) -> None:
    sink.fail_next = 1
    report = {"type": "report", "tranId": 5001, "phone": "84912345678", "status": 0}
    response = await client.post(SPEEDSMS_CALLBACK_PATH, json=report)
    assert 503 == response.status


async def test_report_matches_the_id_the_send_recorded(
    make: Make, client: Client, sink: FakeReceiptSink
) -> None:
    [accepted] = await (await make()).send([sms(1, to="+84912345678")])
    assert isinstance(accepted, Accepted)
    report = {"type": "report", "tranId": 5001, "phone": "0912345678", "status": 0}
    await client.post(SPEEDSMS_CALLBACK_PATH, json=report)
    assert [accepted.provider_id] == [r.provider_id for r in sink.receipts]


def test_a_timed_out_request_among_accepted_ones_is_an_unknown_outcome() -> None:
    from dispatcher import Accepted, ChannelTimeoutError, RetryLater
    from plugins.sms.brandname import settle

    accepted = Accepted(provider_id="t1:84912345678")
    results = settle([accepted, ChannelTimeoutError("no answer in 10 s", channel="sms")])
    assert [accepted, RetryLater("no answer in 10 s", unknown=True)] == results


async def test_a_requests_messages_get_its_latency(
    make: Make, speedsms: FakeProvider, gateway: FakeSpeedSms
) -> None:
    speedsms.always(lambda request: replace(gateway(request), delay=0.5))
    results = await (await make()).send([sms(1), sms(2)])
    assert all(isinstance(r, Accepted) and (r.latency_ms or 0) >= 500 for r in results)
