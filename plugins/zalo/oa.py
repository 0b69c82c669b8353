"""Official Account messages to followers, by Zalo user id.

Send (``POST <oa_url>/v3.0/oa/message/cs``, header ``access_token``)::

    {"recipient": {"user_id": "4367228941206354210"}, "message": {"text": "..."}}
    → {"error": 0, "message": "Success",
       "data": {"message_id": "...", "user_id": "..."}}

Zalo lets consultation (``cs``) messages through only to users who interacted with the
OA recently (``-230`` otherwise); with ``mode: fallback`` the next channel then takes over.
"""

from __future__ import annotations

from typing import Any

from dispatcher import OutboundMessage

MAX_TEXT = 2000  # Zalo refuses longer text messages


def oa_text(message: OutboundMessage) -> str:
    """The title, a blank line and the body (the body alone when it starts with the title)."""
    title, body = message.title.strip(), message.body.strip()
    if not title or body.startswith(title):
        return body
    return f"{title}\n\n{body}"


def oa_body(message: OutboundMessage) -> dict[str, Any]:
    """The request body of one OA text message."""
    return {"recipient": {"user_id": message.address}, "message": {"text": oa_text(message)}}


def oa_problem(message: OutboundMessage) -> str | None:
    """Why the OA would refuse the text, or None."""
    length = len(oa_text(message))
    if length > MAX_TEXT:
        return (
            f"the Zalo OA text is {length} characters; Zalo takes at most {MAX_TEXT}: "
            "shorten it or set content.zalo.body"
        )
    return None
