"""Our signatures verify with the ``standardwebhooks`` library, and only when untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from plugins.web.signing import new_secret, secret_bytes, signed_headers

BODY = json.dumps(
    {"type": "announcement.released", "data": {"title": "Cúp nước"}}, ensure_ascii=False
).encode()


def test_a_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    headers = signed_headers("d1", datetime.now(UTC), BODY, [secret])
    assert {"type": "announcement.released", "data": {"title": "Cúp nước"}} == Webhook(
        secret
    ).verify(BODY, headers)


def test_a_tampered_body_fails() -> None:
    secret = new_secret()
    headers = signed_headers("d1", datetime.now(UTC), BODY, [secret])
    tampered = BODY.replace("Cúp".encode(), "Cắt".encode())
    assert tampered != BODY
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_an_old_timestamp_fails() -> None:
    secret = new_secret()
    headers = signed_headers("d1", datetime.now(UTC) - timedelta(minutes=10), BODY, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_another_secret_fails() -> None:
    headers = signed_headers("d1", datetime.now(UTC), BODY, [new_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify() -> None:
    new, old = new_secret(), new_secret()
    headers = signed_headers("d1", datetime.now(UTC), BODY, [new, old])
    assert 2 == len(headers["webhook-signature"].split(" "))
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", id="no-prefix"),
        pytest.param("whsec_not base64!", id="not-base64"),
        pytest.param("whsec_c2hvcnQ=", id="too-short"),
    ],
)
def test_unusable_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        secret_bytes(secret)
