"""The wire contract: strict models that say what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import Field, ValidationError

from schemas import AnnouncementIn, Contact, ReceiptIn
from schemas.base import InputModel

GOOD: dict[str, Any] = {
    "title": "Thông báo",
    "body": "Cắt nước",
    "channels": ["sms", "zalo"],
    "audience": {"areas": ["01"]},
}


def variant(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def test_defaults() -> None:
    a = AnnouncementIn.model_validate(GOOD)
    assert ("vi", "normal", "all", 5, False) == (
        a.language,
        a.priority.value,
        a.mode.value,
        a.max_attempts,
        a.test,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(variant(colour="red"), "Extra inputs are not permitted", id="unknown-field"),
        pytest.param(variant(audience={}), "the audience is empty", id="empty-audience"),
        pytest.param(variant(channels=["sms", "sms"]), "name each channel once", id="dup-channel"),
        pytest.param(variant(channels=["SMS!"]), "is not a channel name", id="bad-channel"),
        pytest.param(variant(send_at="2026-01-01T08:00:00"), "has no time zone", id="naive"),
        pytest.param(
            variant(send_at="2026-01-02T08:00:00+07:00", expires_at="2026-01-01T08:00:00+07:00"),
            "expires_at must come after send_at",
            id="expires-before-send",
        ),
        pytest.param(
            variant(content={"email": {"body": "x"}}),
            "channels not in channels",
            id="content-for-unlisted-channel",
        ),
        pytest.param(
            variant(audience={"addresses": {"email": ["a@b.vn"]}}),
            "audience.addresses names channels not in channels",
            id="address-channel",
        ),
        pytest.param(variant(priority="urgent"), "Input should be", id="bad-priority"),
    ],
)
def test_invalid_announcement_is_refused_with_a_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AnnouncementIn.model_validate(data)


def test_lone_surrogate_is_refused() -> None:
    # json.loads (what the API parses with) lets "\ud800" escapes through as lone surrogates.
    data = variant(variables=json.loads('{"gio": "a\\ud800"}'))
    with pytest.raises(ValidationError, match=r"variables\.gio holds a lone surrogate"):
        AnnouncementIn.model_validate(data)


class Loose(InputModel):
    """An input model with a field pydantic leaves unchecked: the base's check is all."""

    note: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


@pytest.mark.parametrize(
    ("fields", "place"),
    [
        ({"note": "x\ud800"}, "note"),
        ({"data": {"ok": "Cắt điện", "gio": ["8h", "x\udfff"]}}, r"data\.gio\[1\]"),
        ({"data": {"k\ud800": "v"}}, "data"),
        ({"data": {"a": {"b": ("c", "\udc00")}}}, r"data\.a\.b\[1\]"),
    ],
    ids=["field", "nested-in-list", "dict-key", "deeper"],
)
def test_lone_surrogate_is_named_where_it_is(fields: dict[str, Any], place: str) -> None:
    with pytest.raises(ValidationError, match=f"{place} holds a lone surrogate"):
        Loose.model_validate(fields)


def test_valid_non_ascii_text_passes() -> None:
    text = "Kính gửi bà con 🌧️: cắt điện từ 8h đến 11h"
    assert text == AnnouncementIn.model_validate(variant(body=text, variables={"x": text})).body
    assert {"k": [text]} == Loose.model_validate({"note": text, "data": {"k": [text]}}).data


def test_contact_and_receipt_are_strict() -> None:
    with pytest.raises(ValidationError):
        Contact.model_validate({"id": "c1", "phone": "0912345678"})
    with pytest.raises(ValidationError):
        ReceiptIn.model_validate({"channel": "sms", "provider_id": "", "status": "delivered"})


def test_json_schema_is_exported() -> None:
    schema = AnnouncementIn.model_json_schema()
    assert {"title", "body", "channels", "audience"} == set(schema["required"])
    assert schema["additionalProperties"] is False
