"""The SMTP transport against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from email.headerregistry import Address
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from dispatcher import Accepted, Failed, OutboundGuard, RetryLater, TransientDeliveryError
from dispatcher.testing import ChannelContract, make_context, make_message
from plugins.email.channel import EmailChannel
from plugins.email.settings import EmailSettings
from schemas import Attachment

SENDER, SENDER_NAME = "thongbao@ubnd.hoankiem.gov.vn", "UBND phường Hàng Bạc – Thông báo"
ADDRESS = "lan.nguyen@example.vn"

ChannelMaker = Callable[..., Any]
SmtpServer = Any  # conftest.SmtpServer: port, handler, ca_file, server, connections, messages
SmtpFactory = Callable[..., Awaitable[SmtpServer]]
USER, PASSWORD = "ubnd", "mat-khau-3f9c2b7e"  # what the smtpd fixture accepts


def email_settings(server: SmtpServer, **smtp: Any) -> EmailSettings:
    table = {"host": "127.0.0.1", "port": server.port, "timeout": 2.0, "ca_file": server.ca_file}
    table["security"] = "plain"
    table.update(smtp)
    return EmailSettings.model_validate(
        {"transport": "smtp", "sender": SENDER, "sender_name": SENDER_NAME, "smtp": table}
    )


@pytest.fixture
async def make_channel(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_channel(settings)``: a started e-mail channel, closed after the test."""
    made: list[EmailChannel] = []

    async def make(settings: EmailSettings, outbound: OutboundGuard | None = None) -> EmailChannel:
        channel = EmailChannel(make_context(tmp_path, settings, "email", outbound=outbound))
        await channel.start()
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


def message(number: int = 1, address: str = ADDRESS) -> Any:
    return replace(make_message(address, number, "email"), title="Thông báo: cắt điện ngày 5/3")


async def test_vietnamese_subject_and_sender_round_trip(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    channel = await make_channel(email_settings(server))
    [result] = await channel.send([message()])
    [received] = server.messages
    sender = received["From"].addresses[0]
    assert ("Thông báo: cắt điện ngày 5/3", Address(SENDER_NAME, addr_spec=SENDER)) == (
        received["Subject"],
        sender,
    )
    assert Accepted(provider_id="<tb-d1@ubnd.hoankiem.gov.vn>", provider_code="250") == result


async def test_headers_are_ascii_on_the_wire(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    channel = await make_channel(email_settings(server))
    await channel.send([message()])
    head = server.handler.received[0].content.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head


async def test_both_parts_and_list_headers_are_present(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    channel = await make_channel(email_settings(server))
    await channel.send([message()])
    [received] = server.messages
    parts = {part.get_content_type(): part.get_content() for part in received.iter_parts()}
    assert ["text/plain", "text/html"] == list(parts)
    assert "Lịch cắt điện phường Hàng Bạc, tin số 1." in parts["text/plain"]
    assert "<p>Lịch cắt điện phường Hàng Bạc, tin số 1.</p>" in parts["text/html"]
    link = channel.signer.url("http://127.0.0.1:8080", ADDRESS)
    assert {
        "Message-ID": "<tb-d1@ubnd.hoankiem.gov.vn>",
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "To": ADDRESS,
    } == {
        name: str(received[name])
        for name in ("Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "To")
    }
    assert received["Date"].datetime is not None
    assert [ADDRESS] == server.handler.received[0].rcpt_tos
    assert SENDER == server.handler.received[0].mail_from


async def test_refused_recipients_fail_alone(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    server.handler.rcpt_replies = {
        "busy@example.vn": "450 4.2.1 Mailbox busy",
        "gone@example.vn": "550 5.1.1 No such user",
    }
    channel = await make_channel(email_settings(server))
    batch = [message(1), message(2, "busy@example.vn"), message(3, "gone@example.vn")]
    results = await channel.send(batch)
    assert [
        Accepted(provider_id="<tb-d1@ubnd.hoankiem.gov.vn>", provider_code="250"),
        RetryLater("SMTP 450: 4.2.1 Mailbox busy", code="450"),
        Failed("SMTP 550: 5.1.1 No such user", code="550"),
    ] == results
    assert [[ADDRESS]] == [item.rcpt_tos for item in server.handler.received]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            "451 4.3.0 Try later",
            RetryLater("SMTP 451: 4.3.0 Try later", code="451"),
            id="451-transient",
        ),
        pytest.param(
            "554 5.6.0 Rejected", Failed("SMTP 554: 5.6.0 Rejected", code="554"), id="554-permanent"
        ),
    ],
)
async def test_data_reply_is_mapped(
    smtpd: SmtpFactory, make_channel: ChannelMaker, reply: str, expected: object
) -> None:
    server = await smtpd()
    server.handler.data_reply = reply
    channel = await make_channel(email_settings(server))
    assert [expected] == await channel.send([message()])


async def test_connection_is_reused_after_a_refusal(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    server.handler.rcpt_replies = {"gone@example.vn": "550 5.1.1 No such user"}
    channel = await make_channel(email_settings(server, pool_size=1))
    await channel.send([message(1, "gone@example.vn"), message(2)])
    await channel.send([message(3)])
    assert (1, 2) == (server.connections, len(server.handler.received))


async def test_an_idle_connection_the_server_dropped_is_replaced(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    channel = await make_channel(email_settings(server))
    await channel.send([message(1)])
    server.drop_connections()
    await asyncio.sleep(0.05)  # let the close reach the client
    [result] = await channel.send([message(2)])
    assert isinstance(result, Accepted)
    assert (2, 2) == (server.connections, len(server.messages))


async def test_pool_bounds_connections_across_batches(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    channel = await make_channel(email_settings(server, pool_size=3))
    first = await channel.send([message(n) for n in range(1, 21)])
    second = await channel.send([message(n) for n in range(21, 41)])
    assert all(isinstance(result, Accepted) for result in first + second)
    assert 40 == len(server.handler.received)
    assert server.connections <= 3


async def test_unreachable_server_fails_the_batch_transiently(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    server.server.close()
    await server.server.wait_closed()
    channel = await make_channel(email_settings(server))
    with pytest.raises(TransientDeliveryError, match="cannot be reached"):
        await channel.send([message(1), message(2)])


async def test_timeout_after_data_is_unknown(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd()
    server.handler.hold_data = asyncio.Event()
    channel = await make_channel(email_settings(server, timeout=0.3))
    [result] = await channel.send([message()])
    assert isinstance(result, RetryLater)
    assert result.unknown


async def test_starttls_with_login(smtpd: SmtpFactory, make_channel: ChannelMaker) -> None:
    server = await smtpd("starttls", auth=True)
    settings = email_settings(server, security="starttls", username=USER, password=PASSWORD)
    channel = await make_channel(settings)
    [result] = await channel.send([message()])
    assert isinstance(result, Accepted)
    assert ([USER], 1) == (server.handler.logins, len(server.messages))


async def test_implicit_tls(smtpd: SmtpFactory, make_channel: ChannelMaker) -> None:
    server = await smtpd("tls")
    channel = await make_channel(email_settings(server, security="tls"))
    [result] = await channel.send([message()])
    assert isinstance(result, Accepted)
    assert "Thông báo: cắt điện ngày 5/3" == server.messages[0]["Subject"]


async def test_untrusted_certificate_is_refused(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    server = await smtpd("tls")
    channel = await make_channel(email_settings(server, security="tls", ca_file=None))
    with pytest.raises(TransientDeliveryError):
        await channel.send([message()])
    assert [] == server.handler.received


def test_rate_and_batch_come_from_the_server_settings(tmp_path: Path) -> None:
    settings = EmailSettings.model_validate(
        {"transport": "smtp", "smtp": {"host": "mail.test", "rate_per_sec": 3, "max_batch": 7}}
    )
    channel = EmailChannel(make_context(tmp_path, settings, "email"))
    assert (3.0, 7) == (channel.rate_per_sec, channel.max_batch)


class TestEmailSmtpContract(ChannelContract):
    channel_name = "email"
    factory = EmailChannel
    address = "lan.nguyen@ubnd.hoankiem.gov.vn"
    invalid_address = "lan.nguyen at ubnd"
    secret = PASSWORD

    @pytest.fixture
    async def provider_url(self, smtpd: SmtpFactory) -> str:  # type: ignore[override]
        server = await smtpd(auth=True)
        return f"127.0.0.1:{server.port}"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        assert provider_url is not None
        host, _, port = provider_url.partition(":")
        smtp = {
            "host": host,
            "port": int(port),
            "security": "plain",
            "username": USER,
            "password": PASSWORD,
            "timeout": 2.0,
        }
        return EmailSettings.model_validate({"transport": "smtp", "smtp": smtp})


@pytest.fixture
async def documents() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server of documents: /qd.pdf (small), /big.pdf (too big), /down (503)."""
    seen: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/down":
            return web.Response(status=503)
        size = 5000 if request.path == "/big.pdf" else 100
        return web.Response(body=b"%PDF" + b"x" * size, content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")), seen


async def test_attachments_are_fetched_once_and_limited(
    smtpd: SmtpFactory, make_channel: ChannelMaker, documents: tuple[str, list[str]]
) -> None:
    base, seen = documents
    server = await smtpd()
    settings = email_settings(server).model_copy(update={"max_attachment_bytes": 1000})
    channel = await make_channel(settings)

    def with_doc(number: int, path: str) -> Any:
        doc = Attachment(url=f"{base.rstrip('/')}/{path}", name="Quyết định số 12.pdf")
        return replace(message(number), attachments=(doc,))

    results = await channel.send(
        [with_doc(1, "qd.pdf"), with_doc(2, "qd.pdf"), with_doc(3, "big.pdf"), with_doc(4, "down")]
    )
    assert [Accepted, Accepted, Failed, RetryLater] == [type(r) for r in results]
    assert "attachment_too_large" == getattr(results[2], "code", None)
    assert 1 == seen.count("/qd.pdf")
    [attached] = list(server.messages[0].iter_attachments())
    assert ("Quyết định số 12.pdf", 104) == (attached.get_filename(), len(attached.get_content()))


async def test_an_attachment_on_a_private_address_fails_without_being_fetched(
    smtpd: SmtpFactory, make_channel: ChannelMaker, documents: tuple[str, list[str]]
) -> None:
    base, seen = documents
    server = await smtpd()
    # The default: URLs from requests reach public addresses only, not this loopback server.
    channel = await make_channel(email_settings(server), OutboundGuard())
    doc = Attachment(url=f"{base.rstrip('/')}/qd.pdf", name="Quyết định số 12.pdf")
    [result] = await channel.send([replace(message(1), attachments=(doc,))])
    assert isinstance(result, Failed), "a refused address is not worth trying again"
    assert "attachment_refused" == result.code
    assert "[outbound] allowed_networks" in result.reason
    assert ([], []) == (seen, server.messages)


async def test_latency_is_the_servers_not_the_wait_for_a_connection(
    smtpd: SmtpFactory, make_channel: ChannelMaker
) -> None:
    # One connection: the second e-mail waits for the first, whose DATA the server holds
    # for about half a second. The second's latency is its own transaction's, not that wait.
    server = await smtpd()
    server.handler.hold_data = held = asyncio.Event()
    channel = await make_channel(email_settings(server, pool_size=1))
    asyncio.get_running_loop().call_later(0.5, held.set)
    results = await channel.send([message(1), message(2, "b@example.org")])
    first, second = [r.latency_ms or 0.0 for r in results]
    assert first > 250 > second
