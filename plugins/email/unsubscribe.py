"""One-click unsubscribe (RFC 8058): signed links and the route that honours them.

Every e-mail carries ``List-Unsubscribe: <{public_url}/v1/unsubscribe/email?token=…>``
and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. The token is the address and
an HMAC-SHA256 of it under the channel's secret, so nobody can unsubscribe someone else.

- ``POST`` (a mail client's one-click, body ``List-Unsubscribe=One-Click``, or the button
  of the page) opts the address out of e-mail with source ``unsubscribe-link``;
- ``GET`` shows a page with that button and changes nothing: mail scanners follow links.

A wrong token is answered ``400`` application/problem+json.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import secrets
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from pydantic import SecretStr

from dispatcher import kept_secret, services

UNSUBSCRIBE_PATH = "/v1/unsubscribe/email"
SOURCE = "unsubscribe-link"
SECRET_FILE = "unsubscribe.key"
_MAC_BYTES = 16


class BadTokenError(ValueError):
    """The token was not made by this thongbao (altered, truncated or another secret)."""


class UnsubscribeSigner:
    """Makes and checks unsubscribe tokens.

    Args:
        secret: the configured secret; None reads (or creates) ``unsubscribe.key`` in
            ``data_dir`` the first time a token is made or checked.
        data_dir: the channel's data folder.
    """

    def __init__(self, secret: SecretStr | None, data_dir: Path) -> None:
        self._configured = secret
        self._data_dir = data_dir
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return "<UnsubscribeSigner secret=**********>"

    def token(self, address: str) -> str:
        """The token of ``address``: ``<address, base64url>.<mac, base64url>``."""
        return f"{_b64(address.encode())}.{_b64(self._mac(address))}"

    def address(self, token: str) -> str:
        """The address a genuine token was made for.

        Raises:
            BadTokenError: the token is malformed or its signature does not match.
        """
        encoded, _, mac = token.partition(".")
        try:
            address = _unb64(encoded).decode()
            given = _unb64(mac)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadTokenError("the unsubscribe link is damaged") from exc
        if not address or not hmac.compare_digest(given, self._mac(address)):
            raise BadTokenError("the unsubscribe link is not valid")
        return address

    def url(self, public_url: str, address: str) -> str:
        """The one-click link of ``address`` under ``public_url``."""
        return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(self.token(address))}"

    def _mac(self, address: str) -> bytes:
        digest = hmac.new(self._secret(), b"email-unsubscribe:" + address.encode(), hashlib.sha256)
        return digest.digest()[:_MAC_BYTES]

    def _secret(self) -> bytes:
        if self._key is None:
            if self._configured is not None:
                self._key = self._configured.get_secret_value().encode()
            else:
                path = self._data_dir / SECRET_FILE
                self._key = kept_secret(path, lambda: secrets.token_hex(32)).encode()
        return self._key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the route -----------------------------------------------------------------------------
_PAGE = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>
"""
_FORM = """<form method="post" action="{action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Hủy nhận thông báo qua e-mail</button></form>"""


def signer_of(request: web.Request) -> UnsubscribeSigner | None:
    """The signer of the running e-mail channel, or None when it is not enabled."""
    channel = services(request).channels.get("email")
    signer = getattr(channel, "signer", None)
    return signer if isinstance(signer, UnsubscribeSigner) else None


def _address(request: web.Request) -> str | web.Response:
    signer = signer_of(request)
    if signer is None:
        return problem(404, "E-mail is not enabled", "this thongbao does not send e-mail")
    try:
        return signer.address(request.query.get("token", ""))
    except BadTokenError as exc:
        return problem(400, "Bad unsubscribe link", f"{exc}: copy the whole link from the e-mail")


async def show_page(request: web.Request) -> web.StreamResponse:
    """``GET``: a page whose button unsubscribes; nothing changes on a GET."""
    address = _address(request)
    if isinstance(address, web.Response):
        return address
    form = _FORM.format(action=html.escape(request.path_qs))
    text = f"Địa chỉ {html.escape(address)} sẽ không nhận thông báo qua e-mail nữa."
    return _html("Hủy nhận thông báo", text, form)


async def unsubscribe(request: web.Request) -> web.StreamResponse:
    """``POST``: opt the token's address out of e-mail (RFC 8058 one-click)."""
    address = _address(request)
    if isinstance(address, web.Response):
        return address
    await services(request).opt_out("email", address, SOURCE)
    text = f"Địa chỉ {html.escape(address)} đã được hủy nhận thông báo qua e-mail."
    return _html("Đã hủy nhận thông báo", text, "")


def _html(title: str, text: str, form: str) -> web.Response:
    page = _PAGE.format(title=html.escape(title), text=text, form=form)
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")
