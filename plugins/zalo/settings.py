"""Settings of the Zalo channel: the sandbox (default) or Zalo's own API.

``transport = "zalo"`` sends ZNS template messages to phone numbers and Official Account
messages to Zalo user ids, with the ``[channels.zalo.api]`` credentials and the
``[channels.zalo.zns]`` template choice. See docs/zalo.md.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from dispatcher import Priority, SandboxSettings, TimeZoneName

ZNS_API = "https://business.openapi.zalo.me"
OA_API = "https://openapi.zalo.me"
OAUTH_API = "https://oauth.zaloapp.com"
DEFAULT_STOP_KEYWORDS = ("TU CHOI", "TUCHOI", "HUY", "STOP")

_TEMPLATE_ID = re.compile(r"^[0-9]{1,20}$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def template_id(value: str | int) -> str:
    """A ZNS template id as digits; ``ValueError`` otherwise."""
    text = str(value).strip()
    if not _TEMPLATE_ID.match(text):
        raise ValueError(f"{value!r} is not a ZNS template id: write its digits, e.g. 231677")
    return text


class ZnsSettings(BaseModel):
    """Which ZNS template an announcement goes out with, and how it is filled.

    Attributes:
        default_template: the template of announcements that name none.
        templates: a template per priority (``emergency``, ``high``, ``normal``, ``bulk``);
            an announcement's ``content.zalo.options.template_id`` wins over both.
        params: template parameter → a Jinja text filling it, over ``title``, ``body``,
            ``issuer``, ``announcement_id``, ``delivery_id``, ``date``, the announcement's
            variables and ``contact`` (``name``, ``area_code``, ``id``). A parameter with no
            entry takes the variable of its name, or the field of its name.
        template_ttl: seconds a template's declared parameters are trusted before they are
            fetched again from Zalo.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_template: str | None = None
    templates: dict[Priority, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    template_ttl: float = Field(default=3600.0, ge=0)

    @field_validator("default_template")
    @classmethod
    def _default_digits(cls, value: str | None) -> str | None:
        return None if value is None else template_id(value)

    @field_validator("templates")
    @classmethod
    def _digits(cls, value: dict[Priority, str]) -> dict[Priority, str]:
        return {priority: template_id(tid) for priority, tid in value.items()}

    @field_validator("params")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _PARAM.match(name):
                raise ValueError(f"{name!r} is not a template parameter name")
        return value

    def choose(self, priority: Priority, option: object | None) -> str | None:
        """The template for a message: its option, else its priority's, else the default."""
        if option is not None:
            return template_id(option)  # type: ignore[arg-type]
        return self.templates.get(priority, self.default_template)


class ZaloApiSettings(BaseModel):
    """One Zalo app and its Official Account.

    Attributes:
        app_id: the app's id (Zalo for Developers).
        secret_key: the app's secret key, sent to the token endpoint.
        oa_secret_key: the OA secret key of the app's webhook page; events are verified
            with it (without it the webhook refuses every event).
        refresh_token: the first refresh token, used only while the store holds none; the
            channel keeps every later one in the store.
        access_token: an access token to start with (optional).
        zns_url, oa_url, oauth_url: the API hosts.
        timeout: seconds one request may take.
        parallel: requests in flight at once.
        rate_per_sec: messages a second for this app.
        oa_message: ``cs`` (consultation, within the interaction window) or ``transaction``
            for Official Account messages to user ids.
        refresh_margin: seconds before expiry at which the access token is renewed.
        token_retry_after: seconds deliveries wait when no token can be had.
        webhook_max_age: seconds an event may be old and still be taken (replays).
        quota_timezone: where the daily ZNS quota resets at midnight.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z]+$")
    secret_key: SecretStr
    oa_secret_key: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None
    zns_url: AnyHttpUrl = AnyHttpUrl(ZNS_API)
    oa_url: AnyHttpUrl = AnyHttpUrl(OA_API)
    oauth_url: AnyHttpUrl = AnyHttpUrl(OAUTH_API)
    timeout: float = Field(default=10.0, gt=0)
    parallel: int = Field(default=10, ge=1, le=100)
    rate_per_sec: float | None = Field(default=20.0, gt=0)
    oa_message: Literal["cs", "transaction"] = "cs"
    refresh_margin: float = Field(default=300.0, ge=0)
    token_retry_after: float = Field(default=1800.0, gt=0)
    webhook_max_age: float = Field(default=86400.0, gt=0)
    quota_timezone: TimeZoneName = "Asia/Ho_Chi_Minh"

    @model_validator(mode="after")
    def _some_token(self) -> ZaloApiSettings:
        if self.refresh_token is None and self.access_token is None:
            raise ValueError(
                "set refresh_token (from the OA's authorisation), e.g. "
                'refresh_token = { "$env" = "ZALO_REFRESH_TOKEN" }'
            )
        return self


class ZaloSettings(BaseModel):
    """How the Zalo channel sends.

    Attributes:
        transport: ``"sandbox"`` (default: a local outbox and simulated receipts) or
            ``"zalo"`` (Zalo's API with ``api``). It stays the sandbox until set.
        sandbox: how the sandbox simulates the provider.
        api: the Zalo app and Official Account.
        zns: the template choice and how templates are filled.
        stop_keywords: replies to the Official Account that opt the sender out of Zalo.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["sandbox", "zalo"] = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    api: ZaloApiSettings | None = None
    zns: ZnsSettings = ZnsSettings()
    stop_keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_STOP_KEYWORDS))

    @model_validator(mode="after")
    def _api_given(self) -> ZaloSettings:
        if self.transport == "zalo" and self.api is None:
            raise ValueError(
                "transport is 'zalo' but [channels.zalo.api] is missing: set api.app_id, "
                "api.secret_key and api.refresh_token"
            )
        return self
