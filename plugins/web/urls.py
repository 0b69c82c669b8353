"""Webhook URLs as stored: absolute http(s), lower-case scheme and host, no fragment."""

from __future__ import annotations

from yarl import URL

from dispatcher import InvalidAddressError

_EXAMPLE = "write it as https://example.gov.vn/hooks/thongbao"


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
