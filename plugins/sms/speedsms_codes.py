"""Every code SpeedSMS documents, and what each means for thongbao.

Sources: the "Error codes" list of SpeedSMS's public SMS API page (the Vietnamese and the
English editions carry the same list) and the answer shapes of its official sample code
(PHP ``SpeedSMSAPI``, a public copy of which is read here) and of the public client
``alexzvn/speedsms-api``.

Decisions where the documentation is silent:

- ``300`` (balance too low) pauses the account: the batch is retried later, so a top-up
  lets the announcement through instead of failing it;
- ``101`` (invalid or missing parameters) fails the messages of that request for good:
  resending the same request cannot help;
- a code the list does not give is retried (the retry policy bounds it).
"""

from __future__ import annotations

from plugins.sms.brandname import CodeTable, Kind

#: ``code`` of an answer → (kind, meaning). Codes are compared as numbers: "007" is 7.
SPEEDSMS_CODES: CodeTable = {
    0: (Kind.ACCEPTED, "success"),
    7: (Kind.ACCOUNT, "IP locked: allow this server's IP in the SpeedSMS account"),
    8: (Kind.ACCOUNT, "account blocked"),
    9: (Kind.ACCOUNT, "the account is not allowed to call the API"),
    101: (Kind.FAILED, "invalid or missing parameters"),
    105: (Kind.FAILED, "phone number invalid"),
    110: (Kind.FAILED, "the text's encoding is not supported"),
    113: (Kind.FAILED, "the text is too long"),
    300: (Kind.ACCOUNT_RETRY, "the balance is too low to send"),
    500: (Kind.RETRY, "internal error, try again"),
}

INVALID_PHONE_CODE = "105"

#: Most numbers in one ``/sms/send`` request (the official clients refuse more than 100).
MAX_NUMBERS = 100

#: Delivery-report ``status``: 0 delivered; 1 to 63 a temporary failure the network still
#: retries (interim, changes nothing); 64 and above failed for good.
DELIVERED_STATUS, FAILED_FROM = 0, 64
