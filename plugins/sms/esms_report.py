"""eSMS delivery reports: the callback's query, parsed into receipts.

eSMS calls the ``CallbackUrl`` of each send (:mod:`plugins.sms.esms`) with HTTP GET, and
calls again up to 5 times when it times out. Query fields, from the eSMS "Callback Url"
page: ``SMSID, SendStatus, SendSuccess, SendFailed, TotalPrice, TotalReceiver,
TotalSent, RequestId, TypeId, telcoid, phonenumber`` (Zalo fields besides)::

    GET /v1/callbacks/sms/esms?SMSID=dc71…87&SendFailed=0&SendStatus=5&SendSuccess=1
        &TotalPrice=850.0000&TotalReceiver=1&TotalSent=1&RequestId=d1&TypeId=2
        &telcoid=1&phonenumber=0912345678

A report matches the delivery by ``SMSID``. ``SendStatus`` 5 (sent) with ``SendFailed``
above 0 is failed, with ``SendSuccess`` above 0 delivered; 4 (rejected) is failed; 1
(pending approval), 2 (waiting) and 7 (at the network, waiting for its report) are
interim and change nothing, as is a 5 that counts neither. The receipt keeps
``SendStatus:<n>`` as the provider code. Empty fields count as missing.

The answer is 200 ``{"applied": true|false}`` (eSMS documents no answer body), 400
problem+json for a report that cannot be read, 503 when receipts cannot be stored now
(eSMS then calls again). A POSTed form is read too (not documented). The reports carry no
time, so receipts have none, and no signature: keep the callback URL unguessable if that
matters.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugins.sms.brandname import explain, store_trouble, submit_receipts
from plugins.sms.callback import problem
from plugins.sms.esms_codes import FINAL_STATUS, REJECTED_STATUS, SEND_STATUSES
from schemas import DeliveryStatus, ReceiptIn

log = structlog.get_logger(__name__)

GATEWAY = "eSMS"
ESMS_CALLBACK_PATH = "/v1/callbacks/sms/esms"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class EsmsReport(BaseModel):
    """One eSMS delivery report, from the callback's query fields."""

    # eSMS adds fields of its own (TotalPrice, telcoid, Zalo fields): ignore them.
    model_config = ConfigDict(extra="ignore", frozen=True)

    sms_id: str = Field(alias="SMSID", min_length=1, max_length=200)
    send_status: int = Field(alias="SendStatus")
    send_success: int = Field(default=0, alias="SendSuccess", ge=0)
    send_failed: int = Field(default=0, alias="SendFailed", ge=0)

    def receipt(self) -> ReceiptIn | None:
        """The receipt of a final report; None while the message is still under way."""
        counts = f"SendSuccess={self.send_success}, SendFailed={self.send_failed}"
        if self.send_status == REJECTED_STATUS:
            return self._receipt(DeliveryStatus.FAILED, f"eSMS rejected the message ({counts})")
        if self.send_status != FINAL_STATUS:
            return None
        if self.send_failed > 0:
            return self._receipt(DeliveryStatus.FAILED, f"eSMS could not deliver ({counts})")
        if self.send_success > 0:
            return self._receipt(DeliveryStatus.DELIVERED, None)
        return None

    def _receipt(self, status: DeliveryStatus, detail: str | None) -> ReceiptIn:
        return ReceiptIn(
            channel="sms",
            provider_id=self.sms_id,
            status=status,
            provider_code=f"SendStatus:{self.send_status}",
            detail=detail,
        )


async def handle_esms_report(request: web.Request) -> web.Response:
    """Store one eSMS delivery report (GET query, or a POSTed form)."""
    fields = {key: value for key, value in request.query.items() if value != ""}
    if request.method == "POST" and request.content_type in _FORMS:
        fields.update((k, v) for k, v in (await request.post()).items() if isinstance(v, str))
    try:
        report = EsmsReport.model_validate(fields)
    except ValidationError as exc:
        return problem(400, "Bad eSMS delivery report", explain(exc))
    receipt = report.receipt()
    if receipt is None:
        meaning = SEND_STATUSES.get(report.send_status, "an undocumented status")
        log.info(
            "esms_report_interim", sms_id=report.sms_id, status=report.send_status, meaning=meaning
        )
        return web.json_response({"applied": False})
    applied = await submit_receipts(request, [receipt], GATEWAY)
    if applied is None:
        return store_trouble()
    return web.json_response({"applied": bool(applied and applied[0])})
