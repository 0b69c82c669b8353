"""Settings of the loudspeaker channel (``[channels.loudspeaker]``)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dispatcher import SandboxSettings, TimeZoneName
from plugins.loudspeaker.script import Formula
from plugins.loudspeaker.slots import DailySlot
from plugins.loudspeaker.speech import SpeechSettings

Transport = Literal["sandbox", "http", "mqtt"]


class HttpSettings(BaseModel):
    """Pushing schedules to controllers over HTTP.

    Attributes:
        timeout: seconds one push may take.
        token: sent as ``Authorization: Bearer`` to every controller (None: no header).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(default=10.0, gt=0)
    token: SecretStr | None = None


class MqttSettings(BaseModel):
    """The MQTT broker the controllers of ``mqtt`` clusters use.

    Attributes:
        host, port: the broker.
        username, password: the broker account (None: anonymous).
        topic_prefix: topics are ``<prefix>/<cluster id>/schedule|played|heartbeat``.
        timeout: seconds to connect and publish.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic_prefix: str = Field(default="thongbao/loudspeaker", pattern=r"^[^#+]+[^/#+]$")
    timeout: float = Field(default=10.0, gt=0)


class LoudspeakerSettings(BaseModel):
    """How the loudspeaker channel schedules, speaks and pushes.

    Attributes:
        transport: for clusters whose registry row names none; ``"sandbox"`` writes the
            schedules to a local outbox and simulates receipts.
        sandbox: how the sandbox simulates controllers.
        timezone: the clusters' local time, in which slots are written.
        slots: daily slots of clusters whose registry row gives none.
        gap: seconds of silence between two items in a slot (counted against its room).
        push_lead: a slot that starts within this many seconds takes no new item.
        horizon_days: how many days ahead repeats may be placed.
        keep_days: how long played items stay in the programme.
        heartbeat_timeout: a cluster silent for longer is offline.
        offline_retry: seconds before an unpushed delivery is tried again.
        report_grace: seconds after its end that a play without report counts as missed.
        resync_interval: seconds between checks for cancelled announcements, missed plays
            and clusters back online (0: never, tests call ``resync()``).
        report_token: the bearer token controllers present with reports and heartbeats
            (a cluster's own token, from the registry, works too).
        speech: espeak-ng settings.
        http, mqtt: the transports.
        formula: the default opening and closing formula.
        formulas: formulas per area code; a cluster takes the one of its nearest area.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Transport = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    timezone: TimeZoneName = "Asia/Ho_Chi_Minh"
    slots: list[str] = Field(default_factory=lambda: ["06:00-06:30", "17:00-17:30"], min_length=1)
    gap: float = Field(default=3.0, ge=0)
    push_lead: float = Field(default=60.0, ge=0)
    horizon_days: int = Field(default=14, ge=1, le=90)
    keep_days: int = Field(default=7, ge=1, le=90)
    heartbeat_timeout: float = Field(default=300.0, gt=0)
    offline_retry: float = Field(default=600.0, gt=0)
    report_grace: float = Field(default=3600.0, ge=0)
    resync_interval: float = Field(default=60.0, ge=0)
    report_token: SecretStr | None = None
    speech: SpeechSettings = SpeechSettings()
    http: HttpSettings = HttpSettings()
    mqtt: MqttSettings = MqttSettings()
    formula: Formula = Formula()
    formulas: dict[str, Formula] = Field(default_factory=dict)

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: list[str]) -> list[str]:
        return [str(DailySlot.parse(text)) for text in value]

    @property
    def zone(self) -> ZoneInfo:
        """The clusters' time zone."""
        return ZoneInfo(self.timezone)

    @property
    def daily_slots(self) -> list[DailySlot]:
        """The default slots, parsed."""
        return [DailySlot.parse(text) for text in self.slots]
