"""Delivery reports from the generic HTTP SMS gateway.

The gateway calls ``/v1/callbacks/sms/http`` with:

- ``POST``: a JSON object, a JSON list of objects, or an urlencoded form;
- ``GET``: query parameters.

Fields of one report:

- ``id``: the provider id the gateway answered the send with (required);
- ``status``: ``delivered`` or ``failed``; SMPP words work too: ``DELIVRD`` is delivered,
  ``UNDELIV``, ``REJECTD``, ``EXPIRED``, ``DELETED`` are failed. Interim words (``ENROUTE``,
  ``ACCEPTD``, ``sent``, ``queued``, …) are acknowledged and change nothing;
- ``code``: the gateway's own code (optional; an SMPP word is kept as the code otherwise);
- ``at``: when it happened, ISO 8601 with an offset (optional).

Other fields are ignored. The answer is ``200 {"applied": true|false}`` (a list of booleans
for a list of reports), ``400`` application/problem+json for input that cannot be read, and
``503`` when receipts cannot be stored now (the gateway should try again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NotRequired

import structlog
from aiohttp import web
from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from dispatcher import services
from schemas import DeliveryStatus, ReceiptIn

log = structlog.get_logger(__name__)

CALLBACK_PATH = "/v1/callbacks/sms/http"
CHANNEL = "sms"
MAX_REPORTS = 1000

_DELIVERED = frozenset({"delivered", "delivrd"})
_FAILED = frozenset(
    {"failed", "undeliv", "undelivered", "rejectd", "rejected", "expired", "deleted"}
)
_INTERIM = frozenset({"accepted", "acceptd", "enroute", "sent", "pending", "queued", "buffered"})
_KNOWN = _DELIVERED | _FAILED | _INTERIM
_PLAIN = frozenset({"delivered", "failed"})  # plain words: no SMPP word to keep as the code


@with_config(ConfigDict(coerce_numbers_to_str=True))
class SmsReport(TypedDict):
    """One delivery report as the generic gateway sends it, as pydantic-core checks it: a
    dict, not a model, so a report is validated once, here, and then as the receipt it
    makes (its status word is checked by :func:`_parse`). Gateways add fields of their own
    (recipient, smsc, price): ignored rather than refused."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    status: str
    code: NotRequired[Annotated[str, Field(max_length=100)] | None]
    at: NotRequired[AwareDatetime | None]


_REPORTS = TypeAdapter(list[SmsReport])
_RECEIPTS = TypeAdapter(list[ReceiptIn])
_UNKNOWN_STATUS = (
    "status must be delivered or failed (DELIVRD, UNDELIV, REJECTD, EXPIRED and interim "
    "words such as ENROUTE are understood too)"
)


def is_final(report: SmsReport) -> bool:
    """Whether ``report`` settles its delivery (interim reports do not)."""
    return report["status"].lower() not in _INTERIM


def receipts(reports: Sequence[SmsReport]) -> list[ReceiptIn]:
    """The receipts of the final ones of ``reports``, in order: built as one list by
    pydantic-core, which takes half the time of a model_construct per report."""
    fields = []
    for report in reports:
        word = report["status"].lower()
        if word in _INTERIM:
            continue
        code = report.get("code")
        fields.append(
            {
                "channel": CHANNEL,
                "provider_id": report["id"],
                "status": DeliveryStatus.DELIVERED if word in _DELIVERED else DeliveryStatus.FAILED,
                "occurred_at": report.get("at"),
                "provider_code": code or (None if word in _PLAIN else report["status"].upper()),
            }
        )
    return _RECEIPTS.validate_python(fields)


class _BadReportError(Exception):
    """The request cannot be read as delivery reports."""


async def handle_delivery_report(request: web.Request) -> web.Response:
    """Store the delivery report(s) of a request; see the module docstring for the shape."""
    try:
        payload = await _payload(request)
        reports = _parse(payload)
    except _BadReportError as exc:
        return problem(400, "Bad delivery report", str(exc))
    final = receipts(reports)
    try:
        stored = iter(await services(request).submit(final) if final else [])
    except Exception as exc:
        log.error("sms_callback_failed", count=len(final), error=repr(exc))
        return problem(503, "Receipts cannot be stored now", "try again later")
    applied = [bool(next(stored, False)) if is_final(report) else False for report in reports]
    return web.json_response({"applied": applied if isinstance(payload, list) else applied[0]})


def problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


async def _payload(request: web.Request) -> Any:
    if request.method == "GET" or not request.body_exists:
        return dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(await request.post())
    try:
        return await request.json()
    except ValueError as exc:
        raise _BadReportError(
            "the body is not JSON: send a JSON object, a JSON list of objects, or a form"
        ) from exc


def _parse(payload: Any) -> list[SmsReport]:
    items: Sequence[Any] = payload if isinstance(payload, list) else [payload]
    if not items:
        raise _BadReportError("the list of reports is empty")
    if len(items) > MAX_REPORTS:
        raise _BadReportError(f"send at most {MAX_REPORTS} reports a request")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"[{index}]" if isinstance(payload, list) else ""
            raise _BadReportError(f"report{where} is not an object with id and status")
    listed = isinstance(payload, list)
    try:
        # One call validates the whole list.
        reports = _REPORTS.validate_python(items)
    except ValidationError as exc:
        raise _BadReportError(_explain(exc, listed)) from exc
    for index, report in enumerate(reports):
        word = report["status"] = report["status"].strip()
        if word.lower() not in _KNOWN:
            raise _BadReportError(f"{f'[{index}]' if listed else ''}status: {_UNKNOWN_STATUS}")
    return reports


def _explain(exc: ValidationError, listed: bool) -> str:
    def place(loc: tuple[int | str, ...]) -> str:
        index, *fields = loc
        return (f"[{index}]" if listed else "") + ".".join(str(part) for part in fields)

    return "; ".join(f"{place(error['loc'])}: {error['msg']}" for error in exc.errors())
