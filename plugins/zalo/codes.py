"""Zalo's documented error codes, and what each means for thongbao.

Sources: the ZNS "handle error codes" guide (zalo.cloud/zns/guidelines/handle-error-code,
mirrored by ZNS resellers' help pages) and the Official Account API v3 error table.
Every answer carries ``error`` (0 is success) and ``message``.

Decisions where the documentation is silent (see docs/zalo.md):

- a code no table lists is retried (the engine's attempt limit bounds it);
- codes about the app, the OA or the template's permissions fail the delivery as
  ``technical``: no retry will help until an operator fixes the account, and with
  ``mode: fallback`` the next channel takes over;
- -115 (ZNS balance) pauses like the daily quota: a top-up lets the announcement through.
"""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    """What a code means for the message that got it."""

    RECIPIENT = "recipient"  # this person cannot get it: fail, the next channel takes over
    MESSAGE = "message"  # our request is wrong (template, data): fail for good
    ACCOUNT = "account"  # the app or OA is refused: fail as technical, operator must act
    TOKEN = "token"  # the access token is invalid or expired: refresh, then retry
    QUOTA = "quota"  # the daily quota is spent: pause the channel until it resets
    NIGHT = "night"  # not sent at night: retry in the morning
    RETRY = "retry"  # try again later


CodeTable = dict[int, tuple[Kind, str]]

#: ZNS (``business.openapi.zalo.me``) ``error`` → (kind, meaning).
ZNS_CODES: CodeTable = {
    -100: (Kind.RETRY, "unknown error at Zalo"),
    -101: (Kind.ACCOUNT, "the app is invalid: check api.app_id"),
    -102: (Kind.ACCOUNT, "the app does not exist: check api.app_id"),
    -103: (Kind.ACCOUNT, "the app is not activated in Zalo for Developers"),
    -104: (Kind.ACCOUNT, "the app's secret key is invalid: check api.secret_key"),
    -105: (Kind.ACCOUNT, "the app is not linked to an Official Account"),
    -106: (Kind.MESSAGE, "method not supported"),
    -107: (Kind.MESSAGE, "message id invalid"),
    -108: (Kind.RECIPIENT, "the phone number is invalid"),
    -109: (Kind.MESSAGE, "the template id is invalid"),
    -110: (Kind.RECIPIENT, "the recipient's Zalo app is too old for ZNS"),
    -111: (Kind.MESSAGE, "the template data is empty"),
    -112: (Kind.MESSAGE, "the template data is invalid"),
    -113: (Kind.MESSAGE, "a button of the template is invalid"),
    -114: (Kind.RECIPIENT, "the user is inactive, refused the message or cannot receive it"),
    -115: (Kind.QUOTA, "the ZNS account is out of quota (balance)"),
    -116: (Kind.MESSAGE, "the text is invalid"),
    -117: (Kind.ACCOUNT, "the OA or app may not use this template"),
    -118: (Kind.RECIPIENT, "no Zalo account for this phone number, or it is disabled"),
    -119: (Kind.RECIPIENT, "this Zalo account cannot receive ZNS messages"),
    -120: (Kind.ACCOUNT, "the OA may not use this feature"),
    -121: (Kind.MESSAGE, "the body of the request is empty"),
    -122: (Kind.MESSAGE, "the body of the request is not valid JSON"),
    -123: (Kind.MESSAGE, "the QR code cannot be made"),
    -124: (Kind.TOKEN, "the access token is invalid or expired"),
    -125: (Kind.ACCOUNT, "the OA id is invalid"),
    -126: (Kind.RECIPIENT, "development mode only reaches the app's or OA's administrators"),
    -131: (Kind.MESSAGE, "the template is not approved"),
    -133: (Kind.NIGHT, "this template may not be sent at night (22:00-06:00)"),
    -137: (Kind.ACCOUNT, "payment through the Zalo Cloud Account failed"),
    -139: (Kind.RECIPIENT, "the user refused this kind of ZNS"),
    -141: (Kind.RECIPIENT, "the user refused ZNS from this OA"),
    -144: (Kind.QUOTA, "the OA's daily ZNS quota is spent"),
    -147: (Kind.QUOTA, "the template's daily quota is spent"),
}

#: Official Account API v3 (``openapi.zalo.me/v3.0/oa``) ``error`` → (kind, meaning).
OA_CODES: CodeTable = {
    -201: (Kind.MESSAGE, "a parameter is invalid"),
    -204: (Kind.ACCOUNT, "the OA has been deleted"),
    -205: (Kind.ACCOUNT, "the OA does not exist"),
    -209: (Kind.ACCOUNT, "the OA is not approved for this API"),
    -210: (Kind.MESSAGE, "a parameter exceeds its limit"),
    -211: (Kind.QUOTA, "the OA is out of message quota"),
    -212: (Kind.ACCOUNT, "the OA has not registered this API"),
    -213: (Kind.RECIPIENT, "the user does not follow the OA"),
    -216: (Kind.TOKEN, "the access token is invalid"),
    -217: (Kind.RECIPIENT, "the user blocked messages from the OA"),
    -218: (Kind.RECIPIENT, "the OA may send this user no more messages now"),
    -220: (Kind.TOKEN, "the access token has expired"),
    -224: (Kind.ACCOUNT, "the OA's service package does not include this message type"),
    -230: (Kind.RECIPIENT, "the user has not talked with the OA in the last 7 days"),
    -232: (Kind.RECIPIENT, "the user has no open interaction with the OA"),
}


def lookup(table: CodeTable, code: int) -> tuple[Kind, str]:
    """What ``code`` means; an undocumented code is retried."""
    return table.get(code, (Kind.RETRY, f"undocumented error {code}"))
