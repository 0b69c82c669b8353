"""Bounces (RFC 3464 DSNs): parsed with the standard library, applied through the engine."""

from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage, Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dispatcher.cli import main
from plugins.email.bounce import BOUNCE_PATH, Bounce, NotADsnError, parse_dsn
from schemas import DeliveryStatus

DOMAIN = "ubnd.hoankiem.gov.vn"


def dsn(
    recipient: str,
    message_id: str,
    status: str = "5.1.1",
    action: str = "failed",
    returned: str = "headers",
) -> bytes:
    """A bounce as an MTA writes it, built with the email package."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.vn"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("Thư không gửi được.", _charset="utf-8"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.vn"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} No such user"
    status_part = Message()
    status_part.set_type("message/delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    original = EmailMessage()
    original["Message-ID"] = message_id
    original["Subject"] = "Thông báo"
    original.set_content("...")
    if returned == "headers":
        headers = MIMEText(f"Message-ID: {message_id}\nSubject: x\n", "rfc822-headers")
        report.attach(headers)
    else:
        report.attach(MIMEMessage(original))
    return report.as_bytes()


@pytest.mark.parametrize("returned", [pytest.param("headers"), pytest.param("message")])
def test_dsn_is_parsed(returned: str) -> None:
    raw = dsn("minh@example.vn", f"<tb-7@{DOMAIN}>", returned=returned)
    assert [Bounce("minh@example.vn", "failed", "5.1.1", f"<tb-7@{DOMAIN}>")] == parse_dsn(raw)


@pytest.mark.parametrize(
    ("status", "action", "hard"),
    [
        pytest.param("5.1.1", "failed", True, id="hard"),
        pytest.param("4.2.2", "failed", False, id="soft"),
        pytest.param("4.4.7", "delayed", False, id="delayed"),
    ],
)
def test_only_permanent_failures_are_hard(status: str, action: str, hard: bool) -> None:
    [bounce] = parse_dsn(dsn("minh@example.vn", "<x@y>", status, action))
    assert hard == bounce.hard


def test_plain_mail_is_not_a_dsn() -> None:
    with pytest.raises(NotADsnError):
        parse_dsn(b"From: a@b.vn\r\nSubject: hi\r\n\r\nhello\r\n")


async def test_bounce_fails_exactly_that_delivery(email_service: Any) -> None:
    lan, minh = await email_service.announce("lan@example.vn", "minh@example.vn")
    headers = {"Authorization": f"Bearer {email_service.token}"}
    raw = dsn("minh@example.vn", f"<tb-{minh.id}@{DOMAIN}>")
    answer = await email_service.client.post(BOUNCE_PATH, data=raw, headers=headers)
    assert 200 == answer.status, await answer.text()
    assert {"hard": 1, "ignored": 0, "applied": 1, "opted_out": []} == await answer.json()
    services = email_service.engine.services
    lan_now, minh_now = [await services.get_delivery(d.id) for d in (lan, minh)]
    assert (DeliveryStatus.SENT, DeliveryStatus.FAILED) == (lan_now.status, minh_now.status)
    assert "5.1.1" == minh_now.receipts[0].provider_code


async def test_bounce_route_needs_a_system_key(email_service: Any) -> None:
    answer = await email_service.client.post(BOUNCE_PATH, data=dsn("a@b.vn", "<x@y>"))
    assert 401 == answer.status


async def test_non_dsn_is_a_400_problem(email_service: Any) -> None:
    headers = {"Authorization": f"Bearer {email_service.token}"}
    answer = await email_service.client.post(BOUNCE_PATH, data=b"hello", headers=headers)
    assert (400, "application/problem+json") == (answer.status, answer.content_type)


async def test_address_is_opted_out_after_bounce_limit(email_service: Any) -> None:
    """bounce_limit is 2 in the fixture; the third announcement suppresses the address."""
    headers = {"Authorization": f"Bearer {email_service.token}"}
    for _ in range(2):
        [delivery] = await email_service.announce("minh@example.vn")
        raw = dsn("minh@example.vn", f"<tb-{delivery.id}@{DOMAIN}>")
        answer = await email_service.client.post(BOUNCE_PATH, data=raw, headers=headers)
    assert ["minh@example.vn"] == (await answer.json())["opted_out"]
    [third] = await email_service.announce("minh@example.vn")
    assert DeliveryStatus.SUPPRESSED == third.status
    assert 2 == len(email_service.smtp.handler.received)


async def test_mbox_import_applies_bounces(email_service: Any, tmp_path: Path) -> None:
    [delivery] = await email_service.announce("minh@example.vn")
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    box.add(dsn("minh@example.vn", f"<tb-{delivery.id}@{DOMAIN}>"))
    box.add(b"From: a@b.vn\nSubject: not a bounce\n\nhello\n")
    box.close()
    settings = email_service.engine.settings
    args = ["--db", str(settings.db), "--data-dir", str(settings.data_dir)]
    command = [*args, "email", "import-bounces", str(tmp_path / "bounces.mbox")]
    # the command runs its own event loop, so it runs in a thread beside the engine's
    result = await asyncio.to_thread(CliRunner().invoke, main, command)
    assert 0 == result.exit_code, result.output
    assert "1 delivery(ies) marked failed" in result.output
    now = await email_service.engine.services.get_delivery(delivery.id)
    assert DeliveryStatus.FAILED == now.status
