"""The Zalo channel (ZNS and OA messages); only the sandbox transport exists so far.

An address is either a Vietnamese mobile number, kept in E.164 form (``+84912345678``),
or a Zalo user id (10 to 25 digits, not starting with 0), kept as written. A string that
reads as a valid Vietnamese number is taken as a phone number, so ``0912345678`` and
``84912345678`` are both ``+84912345678`` and a landline is refused; Zalo user ids are
longer (usually 16-19 digits) and are not valid phone numbers.
"""

from __future__ import annotations

import re

import phonenumbers

from dispatcher import (
    InvalidAddressError,
    SandboxChannel,
)
from plugins.zalo.settings import ZaloSettings

_USER_ID = re.compile(r"^[1-9][0-9]{9,24}$")
_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


class ZaloChannel(SandboxChannel):
    """Zalo messages to a Vietnamese phone number or a Zalo user id."""

    settings_model = ZaloSettings
    max_batch = 50
    max_length = 2000  # Zalo OA text messages stop at 2000 characters
    # A duplicate costs one message fee; a lost announcement costs more.
    repeatable = True
    concurrency = 4

    def normalize_address(self, address: str) -> str:
        """A phone number in E.164 form, or a Zalo user id as written."""
        return normalize_zalo_address(address)


def normalize_zalo_address(address: str) -> str:
    """``0912345678`` → ``+84912345678``; ``1234567890123456789`` stays as it is.

    Raises:
        InvalidAddressError: neither a Vietnamese mobile number nor a Zalo user id.
    """
    text = address.strip()
    number = _vietnamese_number(text)
    if number is not None:
        if phonenumbers.number_type(number) not in _MOBILE:
            raise InvalidAddressError(
                f"{address!r} is a landline: Zalo needs a mobile number such as 0912345678"
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if _USER_ID.match(text):
        return text
    raise InvalidAddressError(
        f"{address!r} is not a Zalo address: write a Vietnamese mobile number "
        "(0912345678 or +84912345678) or a Zalo user id (10 to 25 digits)"
    )


def _vietnamese_number(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        return None
    valid = phonenumbers.is_valid_number(number)
    return number if valid and phonenumbers.region_code_for_number(number) == "VN" else None
