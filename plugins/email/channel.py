"""The e-mail channel; only the sandbox transport exists so far (SMTP comes later)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from dispatcher import (
    InvalidAddressError,
    SandboxChannel,
)
from plugins.email.settings import EmailSettings


class EmailChannel(SandboxChannel):
    """E-mail to one mailbox per message."""

    settings_model = EmailSettings
    max_batch = 50
    max_length = None
    repeatable = True  # a duplicate e-mail is harmless; a lost announcement is not
    concurrency = 2

    def normalize_address(self, address: str) -> str:
        """The address with its domain in lower case (the local part is kept as written)."""
        return normalize_email(address)


def normalize_email(address: str) -> str:
    """``Lan@UBND.HaNoi.gov.vn`` → ``Lan@ubnd.hanoi.gov.vn``; the domain is not looked up.

    Raises:
        InvalidAddressError: not a syntactically valid address.
    """
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddressError(
            f"{address!r} is not an e-mail address ({exc}): write it as ten@example.gov.vn"
        ) from exc
    return str(checked.normalized)
