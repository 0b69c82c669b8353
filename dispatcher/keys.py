"""API keys: roles, token generation and hashing. Only a token's hash is ever stored."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Role(StrEnum):
    """What a key may do.

    - ``staff``: write, schedule and cancel announcements; import contacts; read status.
    - ``system``: post announcements (other state systems); read status.
    - ``operator``: read status only.
    - ``admin``: everything, including keys.
    """

    STAFF = "staff"
    SYSTEM = "system"
    OPERATOR = "operator"
    ADMIN = "admin"


TOKEN_PREFIX = "tb_"


def new_token() -> str:
    """A fresh bearer token: the prefix makes it easy to spot in a leaked file."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of the token; tokens are 256-bit random, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()
