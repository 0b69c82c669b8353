"""SpeedSMS delivery reports: the webhook's calls, parsed into receipts.

SpeedSMS POSTs JSON to the webhook URL entered in the account (sources and the send side:
:mod:`plugins.sms.speedsms`)::

    {"type": "report", "tranId": 123456, "phone": "84912345678", "status": 0}

``status`` 0 is delivered; 1 to 63 a temporary failure the network still retries
(interim: acknowledged, changes nothing); 64 and above failed, with the status kept as
the provider code. The receipt's provider id is ``"<tranId>:<number>"``, the number as
international digits whatever form the report uses, as on the send side. The same
webhook gets the account's inbound messages (a ``type`` other than ``report``, with
``phone`` and ``content``): they are acknowledged and not stored here. A JSON list of
calls, or a form, is read too (not documented).

The answer is 200 ``{"applied": ...}`` (a list for a list; SpeedSMS documents no answer
body), 400 problem+json for input that cannot be read, 503 when receipts cannot be stored
now. Reports carry no time and no signature.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plugins.sms.brandname import explain, reported_digits, store_trouble, submit_receipts
from plugins.sms.callback import MAX_REPORTS, problem
from plugins.sms.speedsms_codes import DELIVERED_STATUS, FAILED_FROM
from schemas import DeliveryStatus, ReceiptIn

log = structlog.get_logger(__name__)

GATEWAY = "SpeedSMS"
SPEEDSMS_CALLBACK_PATH = "/v1/callbacks/sms/speedsms"


class SpeedSmsReport(BaseModel):
    """One SpeedSMS delivery report (``type`` is ``report``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    tran_id: str = Field(alias="tranId", min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=40)
    status: int = Field(ge=0)

    @field_validator("phone")
    @classmethod
    def _as_digits(cls, value: str) -> str:
        digits = reported_digits(value)
        if digits is None:
            raise ValueError("is not a phone number")
        return digits

    def receipt(self) -> ReceiptIn | None:
        """The receipt of a final report; None for a temporary failure still retried."""
        if DELIVERED_STATUS < self.status < FAILED_FROM:
            return None
        delivered = self.status == DELIVERED_STATUS
        return ReceiptIn(
            channel="sms",
            provider_id=f"{self.tran_id}:{self.phone}",
            status=DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED,
            provider_code=str(self.status),
            detail=None if delivered else f"the network reported failure (status {self.status})",
        )


class _BadReportError(Exception):
    """The request cannot be read as SpeedSMS webhook calls."""


async def handle_speedsms_report(request: web.Request) -> web.Response:
    """Store SpeedSMS delivery reports; acknowledge the webhook's other calls."""
    try:
        payload = await _payload(request)
        receipts = _receipts(payload)
    except _BadReportError as exc:
        return problem(400, "Bad SpeedSMS webhook call", str(exc))
    final = [receipt for receipt in receipts if receipt is not None]
    stored = await submit_receipts(request, final, GATEWAY)
    if stored is None:
        return store_trouble()
    applied = iter(stored)
    answer = [bool(next(applied, False)) if r is not None else False for r in receipts]
    return web.json_response({"applied": answer if isinstance(payload, list) else answer[0]})


async def _payload(request: web.Request) -> Any:
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(await request.post())
    try:
        return await request.json()
    except ValueError as exc:
        raise _BadReportError("the body is not JSON: SpeedSMS posts a JSON object") from exc


def _receipts(payload: Any) -> list[ReceiptIn | None]:
    items = payload if isinstance(payload, list) else [payload]
    if not items or len(items) > MAX_REPORTS:
        raise _BadReportError(f"send from 1 to {MAX_REPORTS} reports a request")
    found: list[ReceiptIn | None] = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(payload, list) else ""
        if not isinstance(item, dict):
            raise _BadReportError(f"call{where} is not an object with type, tranId and phone")
        if item.get("type") != "report":
            log.info("speedsms_webhook_not_a_report", type=str(item.get("type"))[:40])
            found.append(None)
            continue
        try:
            found.append(SpeedSmsReport.model_validate(item).receipt())
        except ValidationError as exc:
            raise _BadReportError(f"report{where}: {explain(exc)}") from exc
    return found
