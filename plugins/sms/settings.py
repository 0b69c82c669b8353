"""Settings of the SMS channel: which gateway, how text is prepared, how replies are read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatcher import SandboxSettings
from plugins.sms.esms import EsmsSettings
from plugins.sms.generic_config import GenericHttpSettings
from plugins.sms.inbound import SmsReplySettings
from plugins.sms.speedsms import SpeedSmsSettings

Transport = Literal["sandbox", "http", "esms", "speedsms"]


class SmsSettings(BaseModel):
    """How the SMS channel sends.

    Attributes:
        transport: ``"sandbox"`` (default: a local outbox and simulated receipts), ``"http"``
            (a gateway described in TOML), ``"esms"`` or ``"speedsms"`` (brandname gateways).
            It stays ``"sandbox"`` until set, even when a gateway's table is filled in.
        strip_diacritics: the channel default for writing Vietnamese without marks when that
            lowers the segment count; an announcement's ``content.sms.options`` wins.
        max_segments: the most segments one message may cost; longer text is refused at
            intake and in the preview, never truncated.
        replies: STOP keywords and the reply route's secret.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Transport = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    http: GenericHttpSettings | None = None
    esms: EsmsSettings | None = None
    speedsms: SpeedSmsSettings | None = None
    strip_diacritics: bool = False
    max_segments: int = Field(default=4, ge=1, le=10)
    replies: SmsReplySettings = SmsReplySettings()

    @model_validator(mode="after")
    def _gateway_given(self) -> SmsSettings:
        if self.transport != "sandbox" and getattr(self, self.transport) is None:
            needed = {
                "http": 'set http.url, e.g. [channels.sms.http] url = "https://gw.example.vn/send"',
                "esms": "set esms.api_key, esms.secret_key and esms.brandname",
                "speedsms": "set speedsms.access_token and speedsms.brandname",
            }[self.transport]
            raise ValueError(
                f"transport is {self.transport!r} but no gateway is configured: {needed}"
            )
        return self
