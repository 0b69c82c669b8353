"""The messages thongbao and loudspeaker controllers exchange (docs/loudspeaker.md shows them).

- thongbao → controller: the cluster's whole upcoming schedule (:func:`schedule_message`);
  the controller replaces what it had, so a push is idempotent and a cancelled play is
  simply absent from the next one.
- controller → thongbao: play reports (:class:`PlayReports`) and heartbeats
  (:class:`Heartbeat`), over HTTP or MQTT alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from plugins.loudspeaker.registry import Cluster
from plugins.loudspeaker.schedule import Schedule, upcoming

PLAYED_PATH = "/v1/callbacks/loudspeaker/played"
HEARTBEAT_PATH = "/v1/callbacks/loudspeaker/heartbeat"
AUDIO_PATH = "/v1/loudspeaker/audio/{name}"
MAX_REPORTS = 500


class PlayReport(BaseModel):
    """One play, as the controller saw it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    play_id: str = Field(min_length=3, max_length=200, pattern=r"^.+:\d+$")
    status: Literal["played", "failed"]
    at: AwareDatetime
    detail: str | None = Field(default=None, max_length=500)


class PlayReports(BaseModel):
    """``{"cluster": …, "plays": [...]}``: what a controller reports after playing."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cluster: str = Field(min_length=1, max_length=64)
    plays: list[PlayReport] = Field(min_length=1, max_length=MAX_REPORTS)


class Heartbeat(BaseModel):
    """``{"cluster": …, "at": …, "schedule_version": …}``: the controller is alive and holds
    that version of its schedule (0 or absent: none, after a restart)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cluster: str = Field(min_length=1, max_length=64)
    at: AwareDatetime | None = None
    schedule_version: int | None = Field(default=None, ge=0)


def schedule_message(
    cluster: Cluster, schedule: Schedule, now: datetime, zone: ZoneInfo, public_url: str
) -> dict[str, Any]:
    """The schedule push for ``cluster``: every play it must still hold, in time order."""
    base = public_url.rstrip("/")
    plays = []
    for item, play in upcoming(schedule, now):
        assert play.at is not None  # upcoming() only yields plays with a time
        slot = None
        if play.slot_start and play.slot_end:
            slot = {
                "start": play.slot_start.astimezone(zone).isoformat(),
                "end": play.slot_end.astimezone(zone).isoformat(),
            }
        plays.append(
            {
                "play_id": item.play_id(play),
                "delivery_id": item.delivery_id,
                "announcement_id": item.announcement_id,
                "title": item.title,
                "priority": item.priority.value,
                "at": play.at.astimezone(zone).isoformat(),
                "slot": slot,
                "interrupt": play.interrupt,
                "duration": round(item.duration, 2),
                "audio_url": base + AUDIO_PATH.format(name=item.audio),
                "audio_sha256": item.audio.removesuffix(".wav"),
                "script": item.script,
            }
        )
    return {
        "cluster": cluster.id,
        "version": schedule.version,
        "generated_at": now.astimezone(zone).isoformat(),
        "timezone": zone.key,
        "report_url": base + PLAYED_PATH,
        "heartbeat_url": base + HEARTBEAT_PATH,
        "plays": plays,
    }
