"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A signed request carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of ``"{id}.{timestamp}.{body}"`` under
the secret's bytes, one per valid secret, separated by spaces. A secret is written
``whsec_<base64 of 24–64 random bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_…`` secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret.

    Raises:
        ValueError: not ``whsec_`` followed by base64 of at least 16 bytes.
    """
    if not secret.startswith(PREFIX):
        raise ValueError("a signing secret starts with whsec_: make one with new_secret()")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the signing secret after whsec_ is not base64") from exc
    if len(key) < 16:
        raise ValueError("the signing secret is shorter than 16 bytes: make a new one")
    return key


def check_secret(secret: str) -> str:
    """``secret`` if it is a usable ``whsec_…`` secret; ``ValueError`` otherwise."""
    secret_bytes(secret)
    return secret


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    msg_id: str, when: datetime, body: bytes, secrets_: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers (and the JSON content type) for ``body``.

    Args:
        msg_id: the message id, the same on every retry so receivers de-duplicate.
        when: the time of this attempt.
        body: the exact bytes sent.
        secrets_: every secret valid now (during a rotation, the new one and the old one).
    """
    if not secrets_:
        raise ValueError("nothing to sign with: no valid secret")
    timestamp = int(when.timestamp())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }
