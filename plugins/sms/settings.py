"""Settings of the SMS channel: the sandbox by default, or a generic HTTP gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from dispatcher import SandboxSettings


class SmsHttpSettings(BaseModel):
    """A generic HTTP SMS gateway (wire shape in :mod:`plugins.sms.channel`).

    Attributes:
        url: where messages are POSTed. Keep credentials out of it: use ``auth_token``.
        auth_token: sent as ``Authorization: Bearer <token>``.
        batch: POST whole batches (``{"messages": [...]}``) instead of one message a request.
        timeout: seconds one request may take.
        parallel: requests in flight at once when ``batch`` is off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    auth_token: SecretStr | None = None
    batch: bool = False
    timeout: float = Field(default=10.0, gt=0)
    parallel: int = Field(default=10, ge=1, le=100)


class SmsSettings(BaseModel):
    """How the SMS channel sends.

    ``transport`` stays ``"sandbox"`` until set to ``"http"`` explicitly, even when ``http``
    is filled in, so a configuration can keep its gateway while trying things out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["sandbox", "http"] = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    http: SmsHttpSettings | None = None

    @model_validator(mode="after")
    def _gateway_given(self) -> SmsSettings:
        if self.transport == "http" and self.http is None:
            raise ValueError(
                "transport is 'http' but no gateway is configured: set http.url, e.g. "
                '[channels.sms.http] url = "https://sms-gateway.example.vn/send"'
            )
        return self
