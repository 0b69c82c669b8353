"""The web channel (outbound webhooks); only the sandbox transport exists so far."""

from __future__ import annotations

from yarl import URL

from dispatcher import (
    InvalidAddressError,
    SandboxChannel,
)
from plugins.web.settings import WebSettings

_EXAMPLE = "write it as https://example.gov.vn/hooks/thongbao"


class WebChannel(SandboxChannel):
    """Announcements POSTed to another system's webhook endpoint."""

    settings_model = WebSettings
    max_batch = 20
    max_length = None
    repeatable = True  # webhook receivers de-duplicate on the message id
    concurrency = 8

    def normalize_address(self, address: str) -> str:
        """An http(s) URL with scheme and host in lower case and no fragment."""
        return normalize_webhook_url(address)


def normalize_webhook_url(address: str) -> str:
    """``HTTPS://Example.gov.vn/hook#x`` → ``https://example.gov.vn/hook``.

    Raises:
        InvalidAddressError: not an absolute http(s) URL, or one carrying credentials.
    """
    text = address.strip()
    try:
        url = URL(text) if text and not any(c.isspace() for c in text) else None
    except ValueError:
        url = None
    if url is None or url.scheme not in {"http", "https"} or not url.host:
        raise InvalidAddressError(f"{address!r} is not a webhook URL: {_EXAMPLE}")
    if url.user is not None or url.password is not None:
        # Addresses are stored and shown to operators; credentials belong in settings.
        raise InvalidAddressError(
            f"the webhook URL {url.with_user(None)!s} carries a user name or password: remove it"
        )
    return str(url.with_fragment(None))
