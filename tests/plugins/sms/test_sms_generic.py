"""The generic HTTP SMS gateway, configured from TOML, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from provider_fakes import SHORT_TIMEOUT, TIMEOUT
from pydantic import ValidationError
from structlog.testing import capture_logs

from dispatcher.channel import Accepted, Failed, OutboundMessage, RetryLater, SendResult
from dispatcher.errors import PermanentDeliveryError, TransientDeliveryError
from dispatcher.testing import make_context
from plugins.sms.generic import GenericHttpTransport
from plugins.sms.generic_config import GenericHttpSettings
from plugins.sms.transport import SmsOut
from plugins.sms.wire import NO_RESULT, UNREADABLE
from schemas import FailureKind

SECRET = "s3cret-value"
TEXT = "Lịch cắt điện phường Hàng Bạc"


@dataclass
class Seen:
    """A request the gateway received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


Answer = Callable[[Seen], web.StreamResponse]


class Gateway:
    """A stand-in gateway that records requests and answers with :attr:`answer`;
    with :attr:`hang` set it answers only when the test ends."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answer: Answer = lambda seen: web.json_response({"id": "gw-1"})
        self.hang = False
        self.delay: Callable[[Seen], float] = lambda seen: 0.0  # seconds before answering
        self.released = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/send"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.seen.append(seen)
        if self.hang:
            await self.released.wait()
        await asyncio.sleep(self.delay(seen))
        return self.answer(seen)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    made = Gateway()
    await made.server.start_server()
    yield made
    made.released.set()
    await made.server.close()


Factory = Callable[..., Awaitable[GenericHttpTransport]]


def settings_from(toml: str, url: str = "http://127.0.0.1:1/send") -> GenericHttpSettings:
    """Settings from the TOML of a ``[channels.sms.http]`` table (``URL`` is replaced)."""
    return GenericHttpSettings.model_validate(tomllib.loads(toml.replace("URL", url)))


@pytest.fixture
async def transport(tmp_path: Path, gateway: Gateway) -> AsyncIterator[Factory]:
    """Build started transports from TOML pointed at the gateway; closed after the test."""
    made: list[GenericHttpTransport] = []

    async def make(toml: str, timeout: float = TIMEOUT) -> GenericHttpTransport:
        settings = settings_from(f'url = "URL"\ntimeout = {timeout}\n' + toml, gateway.url)
        built = GenericHttpTransport(settings, make_context(tmp_path, settings, "sms"))
        await built.start()
        made.append(built)
        return built

    yield make
    for built in made:
        await built.aclose()


def out(n: int, text: str = TEXT, *, unicode: bool = True, segments: int = 1) -> SmsOut:
    message = OutboundMessage(
        delivery_id=f"d{n}",
        announcement_id="a1",
        channel="sms",
        address=f"+8491{n:07d}",
        title="",
        body=text,
    )
    return SmsOut(message, text, unicode, segments)


def outs(count: int) -> list[SmsOut]:
    return [out(n) for n in range(1, count + 1)]


# -- request shapes ------------------------------------------------------------------------
async def test_default_shape_is_the_original_generic_wire(
    transport: Factory, gateway: Gateway
) -> None:
    sender = await transport("")
    assert [Accepted(provider_id="gw-1")] == await sender.send([out(1)])
    [seen] = gateway.seen
    assert ("POST", {"to": "+84910000001", "text": TEXT, "ref": "d1"}) == (seen.method, seen.json())


async def test_nested_json_template_keeps_types_and_reads_id_path(
    transport: Factory, gateway: Gateway
) -> None:
    gateway.answer = lambda seen: web.json_response({"data": {"items": [{"msgId": 4711}]}})
    sender = await transport(
        """
        brandname = "UBND-HANGBAC"
        id_path = "data.items.0.msgId"
        [template]
        sender = { name = "{{ brandname }}", kind = 2 }
        messages = [{ phone = "{{ to_national }}", content = "{{ text }}" }]
        tracking = "{{ ref }}-{{ to_digits }}"
        [template.options]
        unicode = "{{ unicode }}"
        type = "{{ 8 if unicode else 0 }}"
        parts = "{{ segments }}"
        """
    )
    assert [Accepted(provider_id="4711")] == await sender.send([out(1, segments=2)])
    expected = {
        "sender": {"name": "UBND-HANGBAC", "kind": 2},
        "messages": [{"phone": "0910000001", "content": TEXT}],
        "options": {"unicode": True, "type": 8, "parts": 2},
        "tracking": "d1-84910000001",
    }
    assert expected == gateway.seen[0].json()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"], ids=["byte-order-mark", "utf-16"])
async def test_an_answer_in_another_unicode_form_is_still_read(
    transport: Factory, gateway: Gateway, encoding: str
) -> None:
    # Some gateways put a byte-order mark before their JSON, or answer in UTF-16.
    body = json.dumps({"id": "gw-7", "note": "đã nhận"}, ensure_ascii=False).encode(encoding)
    gateway.answer = lambda seen: web.Response(body=body, content_type="application/json")
    sender = await transport("")
    assert [Accepted(provider_id="gw-7")] == await sender.send([out(1)])


async def test_form_body(transport: Factory, gateway: Gateway) -> None:
    sender = await transport(
        """
        body = "form"
        method = "PUT"
        [template]
        Phone = "{{ to_national }}"
        Content = "{{ text }}"
        IsUnicode = "{{ unicode }}"
        SmsType = 2
        """
    )
    assert [Accepted(provider_id="gw-1")] == await sender.send([out(1, "Xin chao", unicode=False)])
    [seen] = gateway.seen
    expected = {"Phone": "0910000001", "Content": "Xin chao", "IsUnicode": "false", "SmsType": "2"}
    assert ("PUT", expected) == (seen.method, seen.form())
    assert seen.headers["Content-Type"].startswith("application/x-www-form-urlencoded")


async def test_query_get(transport: Factory, gateway: Gateway) -> None:
    gateway.answer = lambda seen: web.json_response({"result": {"sms_id": "S-9"}})
    sender = await transport(
        """
        method = "GET"
        body = "query"
        id_path = "result.sms_id"
        template = { to = "{{ to_digits }}", msg = "{{ text }}", rid = "{{ ref }}" }
        """
    )
    assert [Accepted(provider_id="S-9")] == await sender.send([out(1)])
    [seen] = gateway.seen
    expected = {"to": "84910000001", "msg": TEXT, "rid": "d1"}
    assert ("GET", "/api/send", expected, b"") == (seen.method, seen.path, seen.query, seen.body)


BASIC = "Basic " + base64.b64encode(f"ubnd:{SECRET}".encode()).decode()


@pytest.mark.parametrize(
    ("auth", "where", "name", "value"),
    [
        pytest.param(
            f'{{ type = "bearer", token = "{SECRET}" }}',
            "headers",
            "Authorization",
            f"Bearer {SECRET}",
            id="bearer",
        ),
        pytest.param(
            f'{{ type = "basic", username = "ubnd", password = "{SECRET}" }}',
            "headers",
            "Authorization",
            BASIC,
            id="basic",
        ),
        pytest.param(
            f'{{ type = "header", name = "X-Api-Key", value = "{SECRET}" }}',
            "headers",
            "X-Api-Key",
            SECRET,
            id="header",
        ),
        pytest.param(
            f'{{ type = "query", name = "api_key", value = "{SECRET}" }}',
            "query",
            "api_key",
            SECRET,
            id="query",
        ),
    ],
)
async def test_auth_is_sent_where_configured(
    transport: Factory, gateway: Gateway, auth: str, where: str, name: str, value: str
) -> None:
    sender = await transport(f"auth = {auth}")
    await sender.send([out(1)])
    [seen] = gateway.seen
    assert value == getattr(seen, where)[name]
    assert SECRET not in repr(sender.settings) + repr(sender)


async def test_auth_token_shorthand_is_bearer(transport: Factory, gateway: Gateway) -> None:
    sender = await transport(f'auth_token = "{SECRET}"')
    await sender.send([out(1)])
    assert f"Bearer {SECRET}" == gateway.seen[0].headers["Authorization"]


# -- what counts as success ----------------------------------------------------------------
SUCCESS_FIELD = """
id_path = "SMSID"
error_message_path = "ErrorMessage"
permanent_codes = [101, "104"]
transient_codes = ["99"]
[success]
field = "CodeResult"
equals = "100"
"""


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            {"CodeResult": "100", "SMSID": "e-1"}, Accepted(provider_id="e-1"), id="accepted"
        ),
        pytest.param(
            {"CodeResult": 100, "SMSID": 7}, Accepted(provider_id="7"), id="numeric-code-and-id"
        ),
        pytest.param(
            {"CodeResult": "101", "ErrorMessage": "sai API key"},
            Failed("sai API key", code="101", kind=FailureKind.PERMANENT),
            id="permanent-code",
        ),
        pytest.param(
            {"CodeResult": "99"},
            RetryLater("the gateway refused with code 99", code="99"),
            id="transient-code",
        ),
        pytest.param(
            {"CodeResult": "777", "ErrorMessage": "?"},
            Failed("?", code="777", kind=FailureKind.PERMANENT),
            id="unknown-code-permanent",
        ),
        pytest.param({"SMSID": "e-1"}, RetryLater(UNREADABLE), id="no-code-field"),
        pytest.param({"CodeResult": "100"}, RetryLater(UNREADABLE), id="success-without-id"),
    ],
)
async def test_success_field_and_error_codes(
    transport: Factory, gateway: Gateway, answer: dict[str, Any], expected: SendResult
) -> None:
    gateway.answer = lambda seen: web.json_response(answer)
    assert [expected] == await (await transport(SUCCESS_FIELD)).send([out(1)])


async def test_unknown_codes_may_be_declared_transient(
    transport: Factory, gateway: Gateway
) -> None:
    gateway.answer = lambda seen: web.json_response({"CodeResult": "777"})
    sender = await transport('unknown_codes = "transient"\n' + SUCCESS_FIELD)
    assert [RetryLater("the gateway refused with code 777", code="777")] == await sender.send(
        [out(1)]
    )


async def test_success_status_list_refuses_other_2xx(transport: Factory, gateway: Gateway) -> None:
    gateway.answer = lambda seen: web.Response(status=202, text="queued?")
    sender = await transport("success = { status = [200] }")
    expected = Failed("the gateway refused with code 202", code="202")
    assert [expected] == await sender.send([out(1)])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            web.Response(status=502),
            RetryLater("the gateway failed with HTTP 502", code="502"),
            id="502",
        ),
        pytest.param(
            web.json_response({"error": "so bi chan"}, status=400),
            Failed("so bi chan", code="400"),
            id="400",
        ),
        pytest.param(
            web.Response(status=429, headers={"Retry-After": "30"}),
            RetryLater("the gateway asked us to slow down", after=30.0, code="429"),
            id="429",
        ),
        pytest.param(web.Response(text="OK"), RetryLater(UNREADABLE), id="not-json"),
    ],
)
async def test_http_statuses_keep_their_meaning(
    transport: Factory, gateway: Gateway, answer: web.Response, expected: SendResult
) -> None:
    gateway.answer = lambda seen: answer
    assert [expected] == await (await transport(SUCCESS_FIELD)).send([out(1)])


async def test_slow_gateway_times_out_as_transient(transport: Factory, gateway: Gateway) -> None:
    gateway.hang = True
    sender = await transport("", timeout=SHORT_TIMEOUT)
    expected = RetryLater("the gateway did not answer within 0.5 s")
    assert [expected] == await sender.send([out(1)])


async def test_unreachable_gateway_is_transient_and_logs_no_secret(tmp_path: Path) -> None:
    toml = f'url = "URL"\nauth = {{ type = "query", name = "key", value = "{SECRET}" }}'
    settings = settings_from(toml, "http://127.0.0.1:9/send")
    sender = GenericHttpTransport(settings, make_context(tmp_path, settings, "sms"))
    await sender.start()
    try:
        with capture_logs() as logs:
            [result] = await sender.send([out(1)])
    finally:
        await sender.aclose()
    assert isinstance(result, RetryLater) and "cannot reach the gateway" in result.reason
    assert ["sms_gateway_unreachable"] == [entry["event"] for entry in logs]
    assert SECRET not in repr(logs) + result.reason


async def test_send_before_start_is_refused(tmp_path: Path) -> None:
    settings = settings_from('url = "URL"')
    with pytest.raises(RuntimeError, match="start"):
        await GenericHttpTransport(settings, make_context(tmp_path, settings, "sms")).send([])


# -- batches -------------------------------------------------------------------------------
BATCH = """
brandname = "UBND"
permanent_codes = ["5"]
transient_codes = ["9"]
[batch]
max_size = 300
template = { Brandname = "{{ brandname }}", Total = "{{ count }}" }
items_field = "data.messages"
item_template = { Phone = "{{ to_digits }}", Msg = "{{ text }}", Rid = "{{ ref }}" }
results_path = "data.results"
result_ref_path = "Rid"
result_id_path = "SmsId"
result_code_path = "Code"
result_error_path = "Desc"
result_permanent_path = ""
result_success = { field = "Code", equals = 0 }
"""


def per_item(seen: Seen) -> web.Response:
    """Accept every message, except the refs 2 (code 5), 3 (code 9) and 4 (left out)."""
    results = []
    for item in seen.json()["data"]["messages"]:
        ref = item["Rid"]
        code = {"d2": 5, "d3": 9}.get(ref, 0)
        if ref != "d4":
            results.append({"Rid": ref, "Code": code, "SmsId": f"s-{ref}", "Desc": f"code {code}"})
    return web.json_response({"data": {"results": results[::-1]}})


async def test_batch_shape_with_per_item_results(transport: Factory, gateway: Gateway) -> None:
    gateway.answer = per_item
    sender = await transport(BATCH)
    expected: list[SendResult] = [
        Accepted(provider_id="s-d1"),
        Failed("code 5", code="5", kind=FailureKind.PERMANENT),
        RetryLater("code 9", code="9"),
        RetryLater(NO_RESULT),
        Accepted(provider_id="s-d5"),
    ]
    assert expected == await sender.send(outs(5))
    [seen] = gateway.seen
    body = seen.json()
    assert ("UBND", 5) == (body["Brandname"], body["Total"])
    assert {"Phone": "84910000001", "Msg": TEXT, "Rid": "d1"} == body["data"]["messages"][0]


async def test_batch_results_may_match_by_order(transport: Factory, gateway: Gateway) -> None:
    gateway.answer = lambda seen: web.json_response({"results": [{"id": "x"}, {"id": "y"}]})
    sender = await transport('[batch]\nmatch = "order"')
    expected = [Accepted(provider_id="x"), Accepted(provider_id="y"), RetryLater(NO_RESULT)]
    assert expected == await sender.send(outs(3))


async def test_batch_true_is_the_original_batch_wire(transport: Factory, gateway: Gateway) -> None:
    results = [
        {"ref": "d1", "id": "gw-1"},
        {"ref": "d2", "error": "number is barred", "code": "E12", "permanent": True},
        {"ref": "d3", "error": "operator busy", "code": 99},
    ]
    gateway.answer = lambda seen: web.json_response({"results": results})
    expected: list[SendResult] = [
        Accepted(provider_id="gw-1"),
        Failed("number is barred", code="E12", kind=FailureKind.PERMANENT),
        RetryLater("operator busy", code="99"),
    ]
    assert expected == await (await transport("batch = true")).send(outs(3))
    assert ["d1", "d2", "d3"] == [m["ref"] for m in gateway.seen[0].json()["messages"]]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(web.json_response({"ok": True}), TransientDeliveryError, id="no-results"),
        pytest.param(web.Response(status=401), PermanentDeliveryError, id="401"),
    ],
)
async def test_failure_of_one_batch_request_raises(
    transport: Factory, gateway: Gateway, answer: web.Response, error: type[Exception]
) -> None:
    gateway.answer = lambda seen: answer
    with pytest.raises(error):
        await (await transport("batch = true")).send(outs(2))


@pytest.mark.parametrize(
    ("toml", "per_send"),
    [
        pytest.param("", 100, id="defaults: 10 lanes, 50 a second"),
        pytest.param("parallel = 100\nrate_per_sec = 100000", 400, id="4 requests a lane"),
        pytest.param("parallel = 100\nrate_per_sec = 250", 250, id="a second of the rate"),
        pytest.param("parallel = 100\nrate_per_sec = 20", 100, id="never under 100"),
    ],
)
async def test_a_send_gives_every_lane_several_requests_within_a_second_of_the_rate(
    transport: Factory, gateway: Gateway, toml: str, per_send: int
) -> None:
    sender = await transport(toml)
    assert per_send == sender.max_batch
    results = await sender.send(outs(per_send))
    assert per_send == len(gateway.seen) == len(results)
    assert all(isinstance(result, Accepted) for result in results)


async def test_ten_thousand_numbers_take_ceil_of_max_batch_requests(
    transport: Factory, gateway: Gateway
) -> None:
    gateway.answer = per_item
    sender = await transport(BATCH)
    numbers = [out(n) for n in range(10, 10_010)]
    results: list[SendResult] = []
    for start in range(0, len(numbers), sender.max_batch):
        results += await sender.send(numbers[start : start + sender.max_batch])
    assert (300, math.ceil(10_000 / 300)) == (sender.max_batch, len(gateway.seen))
    assert 10_000 == sum(len(seen.json()["data"]["messages"]) for seen in gateway.seen)
    assert [Accepted(provider_id=f"s-d{n}") for n in range(10, 10_010)] == results


async def test_oversized_batch_is_split_and_a_failed_request_fails_only_its_messages(
    transport: Factory, gateway: Gateway
) -> None:
    def second_fails(seen: Seen) -> web.Response:
        if seen.json()["data"]["messages"][0]["Rid"] == "d1300":
            return web.Response(status=503)
        return per_item(seen)

    gateway.answer = second_fails
    results = await (await transport(BATCH)).send([out(n) for n in range(1000, 1600)])
    assert 2 == len(gateway.seen)
    assert [Accepted(provider_id=f"s-d{n}") for n in range(1000, 1300)] == results[:300]
    assert [RetryLater("the gateway failed with HTTP 503", code="503")] * 300 == results[300:]


# -- settings are checked at load ----------------------------------------------------------
BAD_SETTINGS = [
    pytest.param(
        'template = { to = "{{ phone }}" }',
        "template.to: unknown variable 'phone'",
        id="unknown-variable",
    ),
    pytest.param(
        'template = { a = { b = "{{ text " } }',
        "template.a.b: the template does not compile",
        id="does-not-compile",
    ),
    pytest.param('template = { from = "{{ brandname }}" }', "set brandname", id="no-brandname"),
    pytest.param(
        'template = { n = "{{ segments + text }}" }',
        "template.n: fails on a sample",
        id="fails-on-sample",
    ),
    pytest.param('method = "GET"', 'set body = "query"', id="get-with-json-body"),
    pytest.param('body = "form"\nbatch = true', 'batches need body = "json"', id="batch-form"),
    pytest.param(
        'body = "form"\ntemplate = { a = { b = "c" } }',
        "template.a: form bodies are flat",
        id="nested-form",
    ),
    pytest.param(
        'permanent_codes = ["1"]\ntransient_codes = [1]',
        "'1' is also in transient_codes",
        id="code-in-both-lists",
    ),
    pytest.param(
        '[success]\nfield = "code"', "success.field and success.equals", id="field-without-equals"
    ),
    pytest.param(
        '[batch]\ntemplate = { x = "{{ text }}" }',
        "batch.template.x: unknown variable 'text'",
        id="batch-envelope-variable",
    ),
    pytest.param('id_path = "data..id"', "not a dotted path", id="bad-path"),
    pytest.param('auth = { type = "token", value = "x" }', "auth", id="unknown-auth"),
    pytest.param('headerz = { a = "b" }', "headerz", id="unknown-field"),
]


@pytest.mark.parametrize(("toml", "message"), BAD_SETTINGS)
def test_bad_settings_name_the_field(toml: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings_from('url = "URL"\n' + toml)
    assert message in str(info.value)


# -- latency -------------------------------------------------------------------------------
SLOW = 0.5  # seconds one request of a send waits for its answer


async def test_each_message_gets_the_latency_of_its_own_request(
    transport: Factory, gateway: Gateway
) -> None:
    # Two lanes: d1 waits SLOW in one while the other sends d2..d6. Their latencies are
    # their own requests', not the whole send's (which is at least SLOW).
    gateway.delay = lambda seen: SLOW if seen.json()["ref"] == "d1" else 0.0
    sender = await transport("parallel = 2")
    results = await sender.send(outs(6))
    assert [Accepted(provider_id="gw-1")] * 6 == results
    slow, *fast = [r.latency_ms for r in results]
    assert slow is not None and slow >= SLOW * 1000
    assert all(ms is not None and ms < SLOW * 1000 for ms in fast)


async def test_a_failed_request_has_its_latency_too(transport: Factory, gateway: Gateway) -> None:
    gateway.delay = lambda seen: SLOW
    gateway.answer = lambda seen: web.json_response({"error": "busy"}, status=503)
    sender = await transport("")
    [result] = await sender.send([out(1)])
    assert isinstance(result, RetryLater) and result.latency_ms is not None
    assert result.latency_ms >= SLOW * 1000


async def test_a_batch_requests_messages_share_that_requests_latency(
    transport: Factory, gateway: Gateway
) -> None:
    # Two requests of two messages at once: the slow one's messages have its latency.
    gateway.delay = lambda seen: SLOW if seen.json()["messages"][0]["ref"] == "d1" else 0.0
    gateway.answer = lambda seen: web.json_response(
        {"results": [{"id": f"gw-{m['ref']}"} for m in seen.json()["messages"]]}
    )
    sender = await transport('parallel = 2\n[batch]\nmax_size = 2\nmatch = "order"')
    results = await sender.send(outs(4))
    assert [f"gw-d{n}" for n in range(1, 5)] == [
        r.provider_id for r in results if isinstance(r, Accepted)
    ]
    latencies = [r.latency_ms or 0.0 for r in results]
    assert latencies[0] == latencies[1] >= SLOW * 1000
    assert latencies[2] == latencies[3] < SLOW * 1000
