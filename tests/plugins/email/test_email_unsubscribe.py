"""One-click unsubscribe (RFC 8058) through the HTTP app, end to end."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from plugins.email.unsubscribe import UNSUBSCRIBE_PATH
from schemas import DeliveryStatus

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def link_of(service: Any) -> str:
    """The path and query of the unsubscribe link in the last e-mail received."""
    header = str(service.smtp.messages[-1]["List-Unsubscribe"]).strip("<>")
    parts = urlsplit(header)
    return f"{parts.path}?{parts.query}"


async def test_one_click_unsubscribe_suppresses_the_next_announcement(email_service: Any) -> None:
    await email_service.announce("lan@example.vn")
    answer = await email_service.client.post(link_of(email_service), data=ONE_CLICK)
    assert 200 == answer.status
    [lan, minh] = await email_service.announce("lan@example.vn", "minh@example.vn")
    assert (DeliveryStatus.SUPPRESSED, DeliveryStatus.SENT) == (lan.status, minh.status)


async def test_get_shows_a_button_and_changes_nothing(email_service: Any) -> None:
    await email_service.announce("lan@example.vn")
    answer = await email_service.client.get(link_of(email_service))
    page = await answer.text()
    assert (200, "text/html") == (answer.status, answer.content_type)
    assert '<form method="post"' in page and "Hủy nhận thông báo" in page
    [again] = await email_service.announce("lan@example.vn")
    assert DeliveryStatus.SENT == again.status


async def test_forged_token_is_refused(email_service: Any) -> None:
    await email_service.announce("lan@example.vn")
    token = link_of(email_service).split("token=")[1]
    forged = email_service.engine.services.channels["email"].signer.token("minh@example.vn")
    address_part = forged.split(".")[0]
    tampered = f"{UNSUBSCRIBE_PATH}?token={address_part}.{token.split('.')[1]}"
    answer = await email_service.client.post(tampered, data=ONE_CLICK)
    assert (400, "application/problem+json") == (answer.status, answer.content_type)
    [minh] = await email_service.announce("minh@example.vn")
    assert DeliveryStatus.SENT == minh.status
