"""The eSMS transport against a fake eSMS on 127.0.0.1, and eSMS's delivery-report route."""

from __future__ import annotations

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
    PermanentDeliveryError,
    RateLimitedError,
    RetryLater,
    TransientDeliveryError,
)
from dispatcher.testing import FakeProvider, FakeReceiptSink, ProviderAnswer, make_context
from dispatcher.testing.provider import ProviderRequest
from plugins.sms.brandname import AccountPausedError, AccountRefusedError
from plugins.sms.esms import ROUTES, EsmsSettings, EsmsTransport
from plugins.sms.esms_codes import ESMS_CODES
from plugins.sms.esms_report import ESMS_CALLBACK_PATH
from plugins.sms.transport import SmsOut
from schemas import DeliveryStatus, FailureKind, ReceiptIn

Make = MakeTransport[EsmsTransport]
SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
VIETNAMESE = "Lịch cắt điện phường Hàng Bạc: 8h–17h ngày 3/3."
SLOW = 0.5  # seconds a slow answer waits
SMSID = "dc712784-9c5f-4c69-b9a8-ea69d56adc9a87"


def esms_accepts(request: ProviderRequest) -> ProviderAnswer:
    """eSMS's documented answer to a valid request; SMSID made from the RequestId."""
    ref = request.json()["RequestId"]
    return ProviderAnswer(json={"CodeResult": "100", "CountRegenerate": 0, "SMSID": f"s-{ref}"})


def esms_code(code: str) -> ProviderAnswer:
    """eSMS's documented answer shape for a refusal."""
    return ProviderAnswer(
        json={"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": "refused by eSMS"}
    )


def sms(
    n: int = 1,
    *,
    phone: str = "+84912345678",
    text: str = VIETNAMESE,
    test: bool = False,
    unicode: bool = True,
) -> SmsOut:
    return sms_out(phone, n, text, unicode=unicode, test=test)


@pytest.fixture
async def esms(provider_server: Callable[..., Awaitable[FakeProvider]]) -> FakeProvider:
    return await provider_server(esms_accepts)


@pytest.fixture
async def make(tmp_path: Path, esms: FakeProvider) -> AsyncIterator[Make]:
    """Build and start transports pointed at the fake eSMS; all are closed afterwards."""
    defaults = {
        "api_key": "KEY-123",
        "secret_key": "SECRET-456",
        "brandname": "UBND-PHUONG",
        "base_url": esms.url.removesuffix("/send"),
    }
    async with started_transports(tmp_path, EsmsSettings, EsmsTransport, defaults) as build:
        yield build


async def test_request_carries_the_documented_fields(make: Make, esms: FakeProvider) -> None:
    transport = await make()
    results = await transport.send([sms()])
    [request] = esms.requests
    assert ("POST", SEND_PATH) == (request.method, request.path)
    assert {
        "ApiKey": "KEY-123",
        "SecretKey": "SECRET-456",
        "Phone": "0912345678",
        "Content": VIETNAMESE,
        "Brandname": "UBND-PHUONG",
        "SmsType": "2",
        "IsUnicode": "1",
        "Sandbox": "0",
        "RequestId": "d1",
        "CallbackUrl": "http://127.0.0.1:8080/v1/callbacks/sms/esms",
        "campaignid": "a1",
    } == request.json()
    assert [Accepted(provider_id="s-d1", provider_code="100")] == results


async def test_gsm_text_is_sent_without_the_unicode_flag(make: Make, esms: FakeProvider) -> None:
    await (await make()).send([sms(text="Lich cat dien phuong Hang Bac", unicode=False)])
    assert "0" == esms.requests[0].json()["IsUnicode"]


@pytest.mark.parametrize(
    ("setting", "test", "expected"),
    [
        pytest.param(False, False, "0", id="real"),
        pytest.param(False, True, "1", id="test-announcement"),
        pytest.param(True, False, "1", id="sandbox-setting"),
    ],
)
async def test_sandbox_flag(
    make: Make, esms: FakeProvider, setting: bool, test: bool, expected: str
) -> None:
    await (await make(sandbox=setting)).send([sms(test=test)])
    assert expected == esms.requests[0].json()["Sandbox"]


async def test_fixed_number_type_sends_no_brandname(make: Make, esms: FakeProvider) -> None:
    await (await make(sms_type=8, brandname="")).send([sms()])
    body = esms.requests[0].json()
    assert ("8", False) == (body["SmsType"], "Brandname" in body)


async def test_callback_url_can_be_set(make: Make, esms: FakeProvider) -> None:
    await (await make(callback_url="https://thongbao.example.vn/cb/esms?k=1")).send([sms()])
    assert "https://thongbao.example.vn/cb/esms?k=1" == esms.requests[0].json()["CallbackUrl"]


async def test_each_message_is_a_request_and_results_keep_order(
    make: Make, esms: FakeProvider
) -> None:
    batch = [sms(n, phone=f"+8491234567{n}") for n in range(1, 6)]
    results = await (await make(parallel=3)).send(batch)
    assert 5 == len(esms.requests)
    assert [f"s-d{n}" for n in range(1, 6)] == [
        r.provider_id for r in results if isinstance(r, Accepted)
    ]


async def test_account_and_limits_are_declared(make: Make) -> None:
    transport = await make(rate_per_sec=5)
    assert ("esms:UBND-PHUONG", 5.0, True) == (
        transport.account,
        transport.rate_per_sec,
        transport.repeatable,
    )


# Every documented code, with what it must become; the last assert keeps this list total.
CODE_CASES: list[tuple[int, type[object]]] = [
    (99, Failed), (101, AccountRefusedError), (102, AccountRefusedError),
    (103, AccountPausedError), (104, AccountRefusedError), (105, Failed), (106, Failed),
    (107, Failed), (108, Failed), (110, Failed), (115, Failed), (118, AccountRefusedError),
    (120, Failed), (124, Accepted), (140, AccountRefusedError), (146, Failed), (171, Failed),
    (177, Failed), (199, Failed), (204, Failed), (210, Failed), (300, AccountRefusedError),
    (301, Failed), (687, Failed), (788, Failed), (789, Failed), (790, Failed), (791, Failed),
    (799, Failed),
]  # fmt: skip


@pytest.mark.parametrize(("code", "expected"), [pytest.param(*c, id=str(c[0])) for c in CODE_CASES])
async def test_every_documented_code_is_mapped(
    make: Make, esms: FakeProvider, code: int, expected: type[object]
) -> None:
    esms.always(esms_code(str(code)))
    [found] = await outcomes(await make(), [sms()])
    assert isinstance(found, expected), found
    if isinstance(found, Failed):
        assert (str(code), FailureKind.PERMANENT) == (found.code, found.kind)
    elif isinstance(found, Accepted):
        assert Accepted(provider_id=None, provider_code="124") == found
    else:
        assert str(code) == getattr(found, "code", None)
    assert {c for c, _ in CODE_CASES} | {100} == set(ESMS_CODES)


async def test_account_errors_are_delivery_errors_of_the_right_kind() -> None:
    assert issubclass(AccountRefusedError, PermanentDeliveryError)
    assert issubclass(AccountPausedError, TransientDeliveryError)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(esms_code("555"), id="undocumented-code"),
        pytest.param(ProviderAnswer(json={"error": "Invalid request"}), id="error-body"),
        pytest.param(ProviderAnswer(json={"CodeResult": "100"}), id="accepted-without-smsid"),
        pytest.param(ProviderAnswer(text="<html>busy</html>"), id="not-json"),
    ],
)
async def test_answers_that_settle_nothing_are_retried(
    make: Make, esms: FakeProvider, answer: ProviderAnswer
) -> None:
    esms.always(answer)
    [found] = await (await make()).send([sms()])
    assert isinstance(found, RetryLater), found


async def test_account_refusal_stops_the_batch(make: Make, esms: FakeProvider) -> None:
    esms.always(esms_code("101"))
    transport = await make(parallel=1)
    with pytest.raises(AccountRefusedError) as info:
        await transport.send([sms(n) for n in range(1, 6)])
    assert ("101", 1) == (info.value.code, len(esms.requests))
    assert "wrong ApiKey or SecretKey" in str(info.value)


async def test_mixed_batch_gets_one_result_each(make: Make, esms: FakeProvider) -> None:
    def answer(request: ProviderRequest) -> ProviderAnswer:
        phone = request.json()["Phone"]
        return esms_code("108") if phone.endswith("2") else esms_accepts(request)

    esms.always(answer)
    results = await (await make()).send(
        [sms(1, phone="+84912345671"), sms(2, phone="+84912345672")]
    )
    assert isinstance(results[0], Accepted)
    assert isinstance(results[1], Failed)
    assert "108" == results[1].code


async def test_balance_running_out_mid_batch_retries_the_rest(
    make: Make, esms: FakeProvider
) -> None:
    esms.answer(ProviderAnswer(json={"CodeResult": "100", "SMSID": "s-1"}))
    esms.always(esms_code("103"))
    results = await (await make(parallel=1)).send([sms(n) for n in range(1, 4)])
    assert [Accepted, RetryLater, RetryLater] == [type(r) for r in results]
    assert 2 == len(esms.requests)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        pytest.param(ProviderAnswer(status=500), TransientDeliveryError, "500", id="500"),
        pytest.param(ProviderAnswer(status=503, text="maintenance"), TransientDeliveryError,
                     "503", id="503"),
        pytest.param(ProviderAnswer(hang=True), ChannelTimeoutError, None, id="timeout"),
        pytest.param(ProviderAnswer(status=400, json={"error": "bad"}), PermanentDeliveryError,
                     "400", id="400"),
        pytest.param(ProviderAnswer(status=401), AccountRefusedError, "401", id="401"),
    ],
)  # fmt: skip
async def test_http_failures_of_the_whole_batch(
    make: Make, esms: FakeProvider, answer: ProviderAnswer, error: type[Exception], code: str | None
) -> None:
    esms.always(answer)
    with pytest.raises(error) as info:
        await (await make(timeout=SHORT_TIMEOUT)).send([sms(1), sms(2)])
    assert code == getattr(info.value, "code", None)


async def test_rate_limit_waits_and_stops_the_batch(make: Make, esms: FakeProvider) -> None:
    esms.always(ProviderAnswer(status=429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitedError) as info:
        await (await make(parallel=1)).send([sms(n) for n in range(1, 4)])
    assert (7.0, 1) == (info.value.retry_after, len(esms.requests))


async def test_unreachable_gateway_is_transient(make: Make, esms: FakeProvider) -> None:
    transport = await make()
    await esms.close()
    with pytest.raises(TransientDeliveryError):
        await transport.send([sms()])


async def test_secrets_stay_out_of_reprs_and_logs(make: Make, esms: FakeProvider) -> None:
    transport = await make(timeout=SHORT_TIMEOUT)
    with capture_logs() as logs:
        for answer in (esms_code("101"), ProviderAnswer(hang=True), ProviderAnswer(status=500)):
            esms.always(answer)
            await outcomes(transport, [sms()])
    seen = repr([transport, transport.settings, str(transport.settings), logs])
    assert logs
    assert "KEY-123" not in seen
    assert "SECRET-456" not in seen


async def test_send_before_start_fails_and_aclose_is_idempotent(tmp_path: Path) -> None:
    settings = EsmsSettings(api_key="k", secret_key="s", brandname="B")  # type: ignore[arg-type]
    transport = EsmsTransport(settings, make_context(tmp_path, settings, "sms"))
    with pytest.raises(RuntimeError, match="start"):
        await transport.send([sms()])
    await transport.start()
    await transport.aclose()
    await transport.aclose()


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"brandname": ""}, id="type-2-needs-brandname"),
        pytest.param({"sms_type": 1}, id="advertising-not-supported"),
        pytest.param({"api_secret": "x"}, id="unknown-field"),
    ],
)
def test_settings_refuse_what_cannot_work(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EsmsSettings.model_validate({"api_key": "k", "secret_key": "s", "brandname": "B", **fields})


# -- delivery reports ------------------------------------------------------------------------
@pytest.fixture
async def client(sink: FakeReceiptSink) -> AsyncIterator[Client]:
    async with routes_client(ROUTES, sink) as client:
        yield client


def report(**fields: str) -> dict[str, str]:
    """A report shaped like eSMS's documented customer-care callback."""
    return {
        "SMSID": SMSID,
        "SendFailed": "0",
        "SendStatus": "5",
        "SendSuccess": "1",
        "TotalPrice": "850.0000",
        "TotalReceiver": "1",
        "TotalSent": "1",
        "RequestId": "d1",
        "TypeId": "2",
        "telcoid": "1",
        "phonenumber": "0901888484",
        "switchsmsid": "",
        **fields,
    }


def receipt(status: DeliveryStatus, code: str, detail: str | None = None) -> ReceiptIn:
    return sms_receipt(SMSID, status, code, detail)


async def test_delivered_report_is_stored(client: Client, sink: FakeReceiptSink) -> None:
    response = await client.get(ESMS_CALLBACK_PATH, params=report())
    assert (200, {"applied": True}) == (response.status, await response.json())
    assert [receipt(DeliveryStatus.DELIVERED, "SendStatus:5")] == sink.receipts


async def test_documented_failed_sample_is_stored(client: Client, sink: FakeReceiptSink) -> None:
    params = report(SendFailed="2", SendSuccess="0", TotalPrice="0.0000", TotalReceiver="2")
    response = await client.get(ESMS_CALLBACK_PATH, params=params)
    assert 200 == response.status
    detail = "eSMS could not deliver (SendSuccess=0, SendFailed=2)"
    assert [receipt(DeliveryStatus.FAILED, "SendStatus:5", detail)] == sink.receipts


async def test_rejected_report_fails(client: Client, sink: FakeReceiptSink) -> None:
    await client.get(ESMS_CALLBACK_PATH, params=report(SendStatus="4", SendSuccess="0"))
    assert [("failed", "SendStatus:4")] == [(r.status, r.provider_code) for r in sink.receipts]


@pytest.mark.parametrize("status", ["1", "2", "7"])
async def test_interim_reports_change_nothing(
    client: Client, sink: FakeReceiptSink, status: str
) -> None:
    response = await client.get(ESMS_CALLBACK_PATH, params=report(SendStatus=status))
    assert (200, {"applied": False}) == (response.status, await response.json())
    assert [] == sink.receipts


async def test_posted_form_is_read_too(client: Client, sink: FakeReceiptSink) -> None:
    response = await client.post(ESMS_CALLBACK_PATH, data=report())
    assert 200 == response.status
    assert [receipt(DeliveryStatus.DELIVERED, "SendStatus:5")] == sink.receipts


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        pytest.param(report(SMSID=""), "SMSID", id="no-smsid"),
        pytest.param(report(SendStatus="done"), "SendStatus", id="status-not-a-number"),
        pytest.param({}, "SMSID", id="empty"),
    ],
)
async def test_bad_report_is_a_problem(
    client: Client, sink: FakeReceiptSink, params: dict[str, str], detail: str
) -> None:
    response = await client.get(ESMS_CALLBACK_PATH, params=params)
    problem = await response.json(content_type="application/problem+json")
    assert (400, 400) == (response.status, problem["status"])
    assert detail in problem["detail"]
    assert [] == sink.receipts


async def test_store_trouble_asks_esms_to_call_again(client: Client, sink: FakeReceiptSink) -> None:
    sink.fail_next = 1
    response = await client.get(ESMS_CALLBACK_PATH, params=report())
    assert 503 == response.status


async def test_report_matches_the_id_the_send_recorded(
    make: Make, client: Client, sink: FakeReceiptSink
) -> None:
    [accepted] = await (await make()).send([sms()])
    assert isinstance(accepted, Accepted)
    await client.get(ESMS_CALLBACK_PATH, params=report(SMSID=accepted.provider_id or ""))
    assert [accepted.provider_id] == [r.provider_id for r in sink.receipts]


async def test_each_message_gets_the_latency_of_its_own_request(
    make: Make, esms: FakeProvider
) -> None:
    # d1's answer takes SLOW seconds; d2, sent beside it, is answered at once.
    def slow_first(request: ProviderRequest) -> ProviderAnswer:
        answer = esms_accepts(request)
        return replace(answer, delay=SLOW) if request.json()["RequestId"] == "d1" else answer

    esms.always(slow_first)
    results = await (await make()).send([sms(1), sms(2, phone="+84912345679")])
    slow, fast = [r.latency_ms or 0.0 for r in results]
    assert slow >= SLOW * 1000 > fast
