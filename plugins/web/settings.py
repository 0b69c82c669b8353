"""Settings of the web channel (``[channels.web]``).

Subscriptions carry their own secrets and are always posted over HTTP: an admin registered
them on purpose. ``transport`` governs only webhooks to URLs written into an announcement's
audience (``audience.addresses.web``), which stay on the sandbox until set to ``"http"``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dispatcher import SandboxSettings
from plugins.web.signing import check_secret


class WebSettings(BaseModel):
    """How the web channel sends, signs and publishes.

    Attributes:
        transport: webhooks to URLs named in an announcement (not subscriptions):
            ``"sandbox"`` writes them to a local outbox, ``"http"`` POSTs them.
        sandbox: how the sandbox simulates the receiver.
        timeout: seconds a receiver has to answer one POST.
        signing_secrets: ``whsec_…`` secrets that sign status callbacks and webhooks to
            URLs named in an announcement; every one listed signs (list the new one first
            and keep the old one while receivers switch). Empty: a secret made once and
            kept in ``<data_dir>/channels/web/signing.key`` (``thongbao web signing-secret``).
        rotation_overlap: seconds a subscription's previous secret keeps signing after
            a rotation.
        callback_attempts: tries of one status callback before it is given up.
        callback_retry_initial: first wait after a failed callback, seconds (doubles).
        callback_retry_max: longest wait between callback tries, seconds.
        callback_poll: seconds between looks at the callback outbox when nothing wakes it.
        feed_page_size: entries per feed page.
        cap_sender: the CAP ``sender`` of the CAP feed (default: ``thongbao@<public host>``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["sandbox", "http"] = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    timeout: float = Field(default=10.0, gt=0, le=120)
    signing_secrets: list[SecretStr] = Field(default_factory=list, max_length=4)
    rotation_overlap: float = Field(default=86_400.0, ge=0)
    callback_attempts: int = Field(default=8, ge=1, le=50)
    callback_retry_initial: float = Field(default=10.0, gt=0)
    callback_retry_max: float = Field(default=3600.0, gt=0)
    callback_poll: float = Field(default=5.0, gt=0)
    feed_page_size: int = Field(default=50, ge=1, le=500)
    cap_sender: str | None = Field(default=None, pattern=r"^[^\s,<&]+$")

    @field_validator("signing_secrets")
    @classmethod
    def _whsec(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            check_secret(secret.get_secret_value())
        return value
