"""Every code eSMS (ViHAT) documents, and what each means for thongbao.

Sources: the "Table of error codes" (``esms-api/table-of-error-codes.md``, English and
Vietnamese editions) and the send pages' answer tabs of the public eSMS developer book.
The table lists codes of every eSMS product (SMS, Zalo ZNS, voice, template registration);
a code documented only for another product means, on an SMS send, that eSMS did not take
the request as we sent it, so the message fails for good rather than loop.

Decisions where the documentation is silent:

- ``103`` (balance too low) pauses the account: the batch is retried later, so a top-up
  lets the announcement through instead of failing it;
- ``124`` (duplicate ``RequestId``) means an earlier attempt of this delivery was taken:
  it counts as accepted (the provider id of that attempt is kept when it was recorded);
- a code the table does not list is retried (the retry policy bounds it).
"""

from __future__ import annotations

from plugins.sms.brandname import CodeTable, Kind

ACCEPTED_CODE = 100

#: ``CodeResult`` → (kind, meaning).
ESMS_CODES: CodeTable = {
    99: (Kind.FAILED, "the phone number is blocked in the eSMS system"),
    100: (Kind.ACCEPTED, "request taken by eSMS; delivery is reported to the callback"),
    101: (Kind.ACCOUNT, "wrong ApiKey or SecretKey"),
    102: (Kind.ACCOUNT, "the account has no price list"),
    103: (Kind.ACCOUNT_RETRY, "the balance is too low to send"),
    104: (Kind.ACCOUNT, "the brandname does not exist or is not active for this account"),
    105: (Kind.FAILED, "message or call code not found (status look-ups only)"),
    106: (Kind.FAILED, "the recording file does not exist (voice only)"),
    107: (Kind.FAILED, "each request needs at least 30 numbers (advertising only)"),
    108: (Kind.FAILED, "the phone number is not in a valid format"),
    110: (Kind.FAILED, "the request data is not valid (Zalo per-customer content only)"),
    115: (Kind.FAILED, "the phone hash is not valid (Zalo only)"),
    118: (Kind.ACCOUNT, "unsupported message type: check sms_type"),
    120: (Kind.FAILED, "too many phone numbers in the request (advertising only)"),
    124: (Kind.DUPLICATE, "duplicate RequestId: an earlier attempt was taken"),
    140: (Kind.ACCOUNT, "this server's IP is not whitelisted: give it to eSMS sales/support"),
    146: (Kind.FAILED, "the text matches no registered customer-care template"),
    171: (Kind.FAILED, "the code was used, expired or does not apply (check code only)"),
    177: (Kind.FAILED, "the brandname is not registered on the recipient's network"),
    199: (Kind.FAILED, "this request already exists and is being processed (registrations)"),
    204: (Kind.FAILED, "the OAID does not exist (Zalo only)"),
    210: (Kind.FAILED, "the payload is not as specified (Zalo only)"),
    300: (Kind.ACCOUNT, "the message type is missing: check sms_type"),
    301: (Kind.FAILED, "unsupported service type (template registration only)"),
    687: (Kind.FAILED, "more than 500 phone numbers (Zalo only)"),
    788: (Kind.FAILED, "the OAID is not active (Zalo only)"),
    789: (Kind.FAILED, "the template is not configured for this OA ID (Zalo only)"),
    790: (Kind.FAILED, "wrong ZNS template (Zalo only)"),
    791: (Kind.FAILED, "missing OA ID or template ID (Zalo only)"),
    799: (Kind.FAILED, "the OAID is inactive, wrong or not added to the account (Zalo only)"),
}

#: ``SendStatus`` of a delivery report → meaning; 5 is final, 4 a refusal, the rest interim.
SEND_STATUSES: dict[int, str] = {
    1: "pending approval",
    2: "waiting to be sent",
    4: "rejected",
    5: "sent: SendSuccess and SendFailed tell how it ended",
    7: "sent to the network, waiting for its report",
}
FINAL_STATUS, REJECTED_STATUS = 5, 4
