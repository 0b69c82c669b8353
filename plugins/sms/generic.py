"""The generic HTTP SMS gateway: any gateway its settings can describe.

The shape of requests and answers comes from :class:`GenericHttpSettings` (see
:mod:`plugins.sms.generic_config`); the defaults are the original generic wire::

    POST <url>  {"to": "+84912345678", "text": "<text>", "ref": "<delivery id>"}
    → 2xx       {"id": "<provider id>"}

The gateway must de-duplicate on ``ref``: a message whose outcome was lost (a timeout, an
unreadable answer, a crash) is sent again. Answers mean:

- 5xx (and any other status that is not 2xx or 4xx), timeouts, connection errors: try
  again later;
- 429: try again after ``Retry-After`` (delta-seconds or an HTTP date);
- any other 4xx: refused for good, with the status as code and the body's error as reason;
- a 2xx that ``success`` does not accept: the provider's code, mapped through
  ``permanent_codes`` / ``transient_codes`` (``unknown_codes`` for the rest);
- a 2xx without a readable JSON answer or id: try again (``ref`` makes that safe).

With one message a request, each message gets its own result. With batches, a failure of
the whole request raises a ``DeliveryError`` when :meth:`GenericHttpTransport.send` was given
one request's worth; a larger batch is split, and a failed request fails only its messages.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import aiohttp
import structlog
from yarl import URL

from dispatcher import (
    Accepted,
    ChannelContext,
    ChannelTimeoutError,
    DeliveryError,
    Failed,
    PermanentDeliveryError,
    RateLimitedError,
    RetryLater,
    SendResult,
    TransientDeliveryError,
    elapsed_ms,
    in_lanes,
    jsontext,
    timed,
)
from plugins.sms.generic_config import (
    BasicAuth,
    BatchShape,
    BearerAuth,
    BodyTemplate,
    FieldCheck,
    GenericHttpSettings,
    HeaderAuth,
    QueryAuth,
    TemplateRenderError,
)
from plugins.sms.transport import SmsOut, SmsTransport
from plugins.sms.wire import NO_RESULT, UNREADABLE, parse_retry_after, refusal_reason
from schemas import FailureKind

log = structlog.get_logger(__name__)
T = TypeVar("T")


class GenericHttpTransport(SmsTransport):
    """Sends prepared messages to the gateway ``settings`` describe, over one HTTP session.

    Args:
        settings: the gateway's validated settings.
        ctx: the channel's context (its name goes into errors; its clock reads Retry-After).
    """

    def __init__(self, settings: GenericHttpSettings, ctx: ChannelContext) -> None:
        self.settings = settings
        self.channel = ctx.name
        self.clock = ctx.clock
        self.account = settings.account or f"http:{settings.host()}"
        self.rate_per_sec = settings.rate_per_sec
        self.max_batch = settings.batch.max_size if settings.batch else messages_per_send(settings)
        templates = settings.templates()
        self._message = templates.get("batch.item_template", templates["template"])
        self._single = templates["template"]
        self._envelope = templates.get("batch.template")
        self._url = URL(str(settings.url))
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<GenericHttpTransport {self.channel!r} {self.account!r}>"

    async def start(self) -> None:
        """Open the one HTTP session, carrying the credentials."""
        if self._session is not None:
            return
        auth = self.settings.auth
        headers = dict(self.settings.headers)
        if isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
        elif isinstance(auth, HeaderAuth):
            headers[auth.name] = auth.value.get_secret_value()
        elif isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            # ``parallel`` bounds the requests of one send, the channel's concurrency the
            # sends: aiohttp's own cap (100) would only queue requests beyond it, at a cost.
            connector=aiohttp.TCPConnector(limit=0),
            json_serialize=jsontext.dumps,
        )

    async def send(self, batch: Sequence[SmsOut]) -> list[SendResult]:
        """Send ``batch``: one request a message, or requests of ``batch.max_size``."""
        self._client()  # fail before fanning out when not started
        shape = self.settings.batch
        if shape is None:
            return await self._lanes([partial(self._send_one, out) for out in batch])
        chunks = [batch[i : i + shape.max_size] for i in range(0, len(batch), shape.max_size)]
        if len(chunks) <= 1:
            return await self._send_chunk(batch, shape) if batch else []
        done = await self._lanes(
            [partial(self._send_chunk_or_fail, chunk, shape) for chunk in chunks]
        )
        return [result for results in done for result in results]

    async def aclose(self) -> None:
        """Close the HTTP session; safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- sending ---------------------------------------------------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"channel {self.channel!r} is not started: call start() first")
        return self._session

    async def _lanes(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run ``jobs`` at most ``parallel`` at a time, results in their order."""
        return await in_lanes(jobs, self.settings.parallel, name="sms-http")

    async def _send_one(self, out: SmsOut) -> SendResult:
        try:
            payload = self._render(self._single, message_variables(out, self.settings))
        except DeliveryError as exc:
            return result_for(exc)
        started = time.perf_counter()
        try:
            answer = await self._request(payload)
        except DeliveryError as exc:
            return timed(result_for(exc), started)
        accepted_id = text_at(answer, self.settings.id_path, id_like=True)
        latency_ms = elapsed_ms(started)
        if accepted_id:
            return Accepted(provider_id=accepted_id, latency_ms=latency_ms)
        return RetryLater(UNREADABLE, latency_ms=latency_ms)

    async def _send_chunk_or_fail(
        self, chunk: Sequence[SmsOut], shape: BatchShape
    ) -> list[SendResult]:
        started = time.perf_counter()
        try:
            return await self._send_chunk(chunk, shape)
        except DeliveryError as exc:
            return [timed(result_for(exc), started)] * len(chunk)

    async def _send_chunk(self, chunk: Sequence[SmsOut], shape: BatchShape) -> list[SendResult]:
        batch_variables = {"brandname": self.settings.brandname, "count": len(chunk)}
        envelope = self._render(self._envelope, batch_variables) if self._envelope else {}
        items = [self._render(self._message, message_variables(o, self.settings)) for o in chunk]
        started = time.perf_counter()
        answer = await self._request(put_at(envelope, shape.items_field, items))
        latency_ms = elapsed_ms(started)
        results = self._batch_results(chunk, shape, answer, latency_ms)
        if results is None:
            raise TransientDeliveryError(UNREADABLE, channel=self.channel)
        return results

    def _render(self, template: BodyTemplate, variables: Mapping[str, Any]) -> Any:
        try:
            return template.render(variables)
        except TemplateRenderError as exc:
            raise PermanentDeliveryError(str(exc), channel=self.channel) from exc

    async def _request(self, payload: Any) -> Any:
        """Send ``payload``; the JSON answer of an accepted request, or the ``DeliveryError``
        its failure means. The one place where statuses and aiohttp failures are mapped."""
        settings = self.settings
        params = dict(payload) if settings.body == "query" else {}
        if isinstance(settings.auth, QueryAuth):
            params[settings.auth.name] = settings.auth.value.get_secret_value()
        body: dict[str, Any] = {}
        if settings.body == "json":
            body["json"] = payload
        elif settings.body == "form":
            body["data"] = {key: form_text(value) for key, value in payload.items()}
        query = {key: form_text(value) for key, value in params.items()}
        try:
            async with self._client().request(
                settings.method, self._url, params=query or None, **body
            ) as response:
                raw = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise gateway_error(exc, self.channel, settings) from exc
        self._raise_for_status(status, raw, retry_after)
        try:
            answer = jsontext.loads(raw)
        except ValueError:
            answer = _lenient_json(raw)
        self._raise_for_refusal(status, answer)
        return answer

    def _raise_for_status(self, status: int, raw: bytes, retry_after: str | None) -> None:
        if status == 429:
            raise RateLimitedError(
                "the gateway asked us to slow down",
                retry_after=parse_retry_after(retry_after, self.clock.now()),
                channel=self.channel,
                code="429",
            )
        if 400 <= status < 500:
            raise PermanentDeliveryError(
                refusal_reason(raw, status), channel=self.channel, code=str(status)
            )
        if not 200 <= status < 300:
            raise TransientDeliveryError(
                f"the gateway failed with HTTP {status}", channel=self.channel, code=str(status)
            )

    def _raise_for_refusal(self, status: int, answer: Any) -> None:
        """Raise when ``success`` refuses a 2xx answer (None: not JSON)."""
        settings = self.settings
        check = settings.success.check()
        code: str | None
        if settings.success.status is not None and status not in settings.success.status:
            code = text_at(answer, settings.error_code_path) or str(status)
        elif check is None or answer is None:
            return  # no rule, or nothing to read: the id check decides
        elif value_at(answer, check.field) is None:
            raise TransientDeliveryError(UNREADABLE, channel=self.channel)
        elif passes(answer, check):
            return
        else:
            code = text_at(answer, settings.error_code_path or check.field)
        reason = text_at(answer, settings.error_message_path)
        raise refusal_error(settings, code, reason, None, channel=self.channel)

    # -- batch answers ---------------------------------------------------------------------
    def _batch_results(
        self, chunk: Sequence[SmsOut], shape: BatchShape, answer: Any, latency_ms: float
    ) -> list[SendResult] | None:
        items = value_at(answer, shape.results_path)
        if not isinstance(items, list):
            return None
        if shape.match == "order":
            paired: list[Any] = items[: len(chunk)] + [None] * (len(chunk) - len(items))
        else:
            by_ref = {text_at(item, shape.result_ref_path): item for item in items}
            paired = [by_ref.get(out.ref) for out in chunk]
        return [self._item_result(item, shape, latency_ms) for item in paired]

    def _item_result(self, item: Any, shape: BatchShape, latency_ms: float) -> SendResult:
        """The result of one message of a batch request answered in ``latency_ms``."""
        if not isinstance(item, dict):
            return RetryLater(NO_RESULT, latency_ms=latency_ms)
        accepted_id = text_at(item, shape.result_id_path, id_like=True)
        check = shape.result_success
        refused = check is not None and not passes(item, check)
        if accepted_id and not refused:
            return Accepted(provider_id=accepted_id, latency_ms=latency_ms)
        code = text_at(item, shape.result_code_path)
        if code is None and refused and check is not None:
            code = text_at(item, check.field)
        reason = text_at(item, shape.result_error_path)
        if code is None and reason is None:
            return RetryLater(UNREADABLE, latency_ms=latency_ms)
        flag = shape.result_permanent_path
        permanent = value_at(item, flag) is True if flag else None
        found = result_for(refusal_error(self.settings, code, reason, permanent, self.channel))
        return replace(found, latency_ms=latency_ms)


# Requests one lane of a send should get, with one message a request: a send runs
# ``parallel`` lanes, each a task made for that send, and a send of only ``parallel``
# messages paid for a task, and the worker's batch bookkeeping, per message or close to it.
LANE_REQUESTS = 4


def messages_per_send(settings: GenericHttpSettings) -> int:
    """How many messages one send takes with one message a request: enough for each lane to
    make ``LANE_REQUESTS`` requests, and 100 at least; under a rate limit, no more than the
    larger of 100 and a second's worth (a send takes its pacing tokens at once, before its
    first request, so a larger send would go out as a larger burst)."""
    per_send = max(SmsTransport.max_batch, LANE_REQUESTS * settings.parallel)
    if settings.rate_per_sec is not None:
        per_send = min(per_send, max(SmsTransport.max_batch, math.ceil(settings.rate_per_sec)))
    return per_send


def message_variables(out: SmsOut, settings: GenericHttpSettings) -> dict[str, Any]:
    """The template variables of one message."""
    # The channel already made the number E.164; a Vietnamese one reads 0 + the rest.
    vietnamese = out.phone.startswith("+84")
    return {
        "to": out.phone,
        "to_national": "0" + out.phone[3:] if vietnamese else out.phone.lstrip("+"),
        "to_digits": out.phone.lstrip("+"),
        "text": out.text,
        "ref": out.ref,
        "unicode": out.unicode,
        "segments": out.segments,
        "brandname": settings.brandname,
    }


def refusal_error(
    settings: GenericHttpSettings,
    code: str | None,
    reason: str | None,
    permanent: bool | None,
    channel: str,
) -> DeliveryError:
    """The error of a refusal with provider ``code``: the code lists decide, then the
    result's own ``permanent`` flag when it has one, then ``unknown_codes``."""
    why = reason or (f"the gateway refused with code {code}" if code else "the gateway refused")
    if code in settings.permanent_codes:
        permanent = True
    elif code in settings.transient_codes:
        permanent = False
    elif permanent is None:
        permanent = settings.unknown_codes == "permanent"
    kind = PermanentDeliveryError if permanent else TransientDeliveryError
    return kind(why[:300], channel=channel, code=code)


def result_for(exc: DeliveryError) -> SendResult:
    """The result of one message whose request failed with ``exc``."""
    if isinstance(exc, RateLimitedError):
        return RetryLater(str(exc), after=exc.retry_after, code=exc.code)
    if isinstance(exc, PermanentDeliveryError):
        return Failed(str(exc), code=exc.code, kind=FailureKind.PERMANENT)
    return RetryLater(str(exc), code=exc.code)


def gateway_error(exc: Exception, channel: str, settings: GenericHttpSettings) -> DeliveryError:
    """The transient ``DeliveryError`` an aiohttp failure or a timeout means.

    Logs and messages name the gateway's host only: a URL may carry a key.
    """
    if isinstance(exc, TimeoutError):
        log.warning("sms_gateway_timeout", channel=channel, host=settings.host())
        return ChannelTimeoutError(
            f"the gateway did not answer within {settings.timeout:g} s", channel=channel
        )
    log.warning(
        "sms_gateway_unreachable", channel=channel, host=settings.host(), error=type(exc).__name__
    )
    return TransientDeliveryError(
        f"cannot reach the gateway ({type(exc).__name__})", channel=channel
    )


# -- reading and writing JSON by dotted path ------------------------------------------------
def value_at(data: Any, path: str | None) -> Any:
    """The value at dotted ``path`` (digits index lists); None when any step is missing."""
    if path is None:
        return None
    for step in path.split("."):
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return None
    return data


def text_at(data: Any, path: str | None, *, id_like: bool = False) -> str | None:
    """The scalar at ``path`` as text (JSON spelling for booleans); None when missing or
    empty. ``id_like`` refuses booleans, which are never a provider id."""
    value = value_at(data, path)
    if isinstance(value, bool):
        return None if id_like else ("true" if value else "false")
    if isinstance(value, int | float | str) and value != "":
        return str(value)
    return None


def passes(data: Any, check: FieldCheck) -> bool:
    """Whether ``check.field`` holds one of ``check.equals``."""
    return text_at(data, check.field) in check.equals


def put_at(envelope: Any, path: str, value: Any) -> dict[str, Any]:
    """``envelope`` (a table) with ``value`` set at dotted ``path``, tables made on the way."""
    root: dict[str, Any] = dict(envelope) if isinstance(envelope, dict) else {}
    node = root
    *parents, last = path.split(".")
    for step in parents:
        child = node.get(step)
        node[step] = dict(child) if isinstance(child, dict) else {}
        node = node[step]
    node[last] = value
    return root


def form_text(value: Any) -> str:
    """A form or query value: booleans in JSON spelling, None as empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _lenient_json(raw: bytes) -> Any:
    """What the standard library reads of an answer orjson refused (a byte-order mark, UTF-16
    from some gateways), or None."""
    try:
        return json.loads(raw)
    except ValueError:
        return None
