"""An in-process SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from dispatcher.api import make_app
from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.keys import Role
from dispatcher.plugins import make_plugin_manager
from schemas import AnnouncementIn, Audience, Delivery

USER, PASSWORD = "ubnd", "mat-khau-3f9c2b7e"


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    def parsed(self) -> EmailMessage:
        """The message read back with the standard library."""
        return cast(EmailMessage, message_from_bytes(self.content, policy=default))


@dataclass
class Recorder:
    """An aiosmtpd handler that records messages and answers as told.

    Attributes:
        rcpt_replies: per recipient, the reply to its RCPT (``"550 …"``); others get 250.
        data_reply: the reply to DATA when set (``"451 …"``).
        hold_data: when set, DATA is answered only once this event is set.
        received: every accepted message.
        logins: the user names that authenticated.
    """

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    hold_data: asyncio.Event | None = None
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hold_data is not None:
            await self.hold_data.wait()
        if self.data_reply is not None:
            return self.data_reply
        content = envelope.original_content or b""
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@dataclass
class SmtpServer:
    """A running server: where it listens, its handler, how many connections it got."""

    port: int
    handler: Recorder
    user: ClassVar[str] = USER
    password: ClassVar[str] = PASSWORD
    ca_file: Path | None
    server: asyncio.Server
    connections: int = 0
    sessions: list[SMTP] = field(default_factory=list)  # one per connection, in order

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as an idle timeout would."""
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()

    @property
    def messages(self) -> list[EmailMessage]:
        """Every received message, parsed."""
        return [item.parsed() for item in self.handler.received]


SmtpFactory = Callable[..., Awaitable[SmtpServer]]


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
async def smtpd(tmp_path: Path, tls_ca: trustme.CA) -> AsyncIterator[SmtpFactory]:
    """``await smtpd(security="plain"|"starttls"|"tls", auth=False)``: a recording server.

    ``starttls`` requires STARTTLS before MAIL; ``auth`` requires a login (``USER``,
    ``PASSWORD``). Servers are closed after the test.
    """
    made: list[SmtpServer] = []
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_tls)

    async def make(security: str = "plain", auth: bool = False) -> SmtpServer:
        handler = Recorder()
        holder: list[SmtpServer] = []

        def protocol() -> SMTP:
            holder[0].connections += 1
            with warnings.catch_warnings():
                # aiosmtpd warns that AUTH without TLS is unsafe: it is a local test server.
                warnings.simplefilter("ignore", UserWarning)
                session = SMTP(
                    handler,
                    hostname="smtp.test",
                    tls_context=server_tls if security == "starttls" else None,
                    require_starttls=security == "starttls",
                    auth_required=auth,
                    auth_require_tls=False,
                    authenticator=handler.authenticate if auth else None,
                )
            holder[0].sessions.append(session)
            return session

        ssl_arg = server_tls if security == "tls" else None
        server = await asyncio.get_running_loop().create_server(
            protocol, "127.0.0.1", 0, ssl=ssl_arg
        )
        port = server.sockets[0].getsockname()[1]
        running = SmtpServer(port, handler, ca_file if security != "plain" else None, server)
        holder.append(running)
        made.append(running)
        return running

    yield make
    for running in made:
        if running.handler.hold_data is not None:
            running.handler.hold_data.set()
        running.server.close()
        await running.server.wait_closed()


@dataclass
class EmailService:
    """The engine on the real e-mail plugin over SMTP, its API, and a system token."""

    engine: Dispatcher
    client: TestClient[web.Request, web.Application]
    smtp: SmtpServer
    token: str

    async def announce(self, *addresses: str) -> list[Delivery]:
        """Announce to ``addresses`` by e-mail and drain; returns the deliveries."""
        data = AnnouncementIn(
            title="Thông báo lịch tiêm chủng",
            body="Trạm y tế phường tiêm vắc-xin sởi sáng thứ Bảy.",
            channels=["email"],
            audience=Audience(addresses={"email": list(addresses)}),
        )
        announcement, _ = await self.engine.services.create_announcement(data)
        await self.engine.run(until_idle=True)
        return (await self.engine.services.list_deliveries(announcement.id)).items


@pytest.fixture
async def email_service(
    smtpd: SmtpFactory, settings_factory: Callable[..., Settings]
) -> AsyncIterator[EmailService]:
    """A started Dispatcher sending e-mail to the recording server, its API on 127.0.0.1."""
    server = await smtpd()
    email = {
        "transport": "smtp",
        "sender": "thongbao@ubnd.hoankiem.gov.vn",
        "bounce_limit": 2,
        "smtp": {"host": "127.0.0.1", "port": server.port, "security": "plain", "timeout": 2},
    }
    settings = settings_factory(enabled_channels=["email"], channels={"email": email})
    engine = Dispatcher(settings, pm=make_plugin_manager(entrypoints=False), clock=FakeClock())
    await engine.start()
    try:
        app = make_app(engine.services, routes=engine.routes, metrics=engine.metrics)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            _, token = await engine.services.create_api_key(Role.SYSTEM, "bounces")
            yield EmailService(engine, client, server, token)
    finally:
        await engine.stop()
