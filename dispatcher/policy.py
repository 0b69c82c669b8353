"""The rules that protect people from too many messages: quiet hours and daily caps.

Applied where deliveries are planned (fan-out, fallback steps, the preview). Quiet hours
make a delivery wait for the morning; a cap suppresses it; an emergency passes both, and its
delivery's reason records that it did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatcher.channel import Channel
from dispatcher.config import AudienceSettings

QUIET = "quiet hours"
CAP = "daily cap reached"
EMERGENCY = "emergency"


@dataclass(frozen=True)
class Verdict:
    """What the rules say about one delivery: wait until ``due_at``, be suppressed, or go
    with a note (an emergency that passed a rule)."""

    due_at: datetime | None = None
    suppress: str | None = None
    note: str | None = None


PASS = Verdict()


class Policy:
    """Quiet hours and caps from :class:`AudienceSettings`, for the running channels."""

    def __init__(self, settings: AudienceSettings, channels: Mapping[str, Channel]) -> None:
        self.settings = settings
        self.channels = channels
        self.zone = ZoneInfo(settings.timezone)

    def _applies(self, name: str) -> bool:
        channel = self.channels.get(name)
        return channel is not None and not (self.settings.sandbox_exempt and channel.simulated)

    def quiet_until(self, name: str, now: datetime) -> datetime | None:
        """The end of the quiet hours ``now`` falls in, for channel ``name``; else None."""
        start, end = self.settings.quiet_start, self.settings.quiet_end
        if start is None or name not in self.settings.quiet_channels or not self._applies(name):
            return None
        local = now.astimezone(self.zone)
        clock = local.time()
        inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
        if not inside:
            return None
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=self.zone)

    def day_start(self, now: datetime) -> datetime:
        """Local midnight of ``now``'s day (caps count from here)."""
        local = now.astimezone(self.zone)
        return datetime.combine(local.date(), time(0), tzinfo=self.zone)

    def cap(self, name: str) -> int | None:
        """The daily cap of channel ``name``, if one applies."""
        found = self.settings.daily_caps.get(name)
        return found if found is not None and self._applies(name) else None

    def judge(self, name: str, *, emergency: bool, now: datetime, sent_today: int) -> Verdict:
        """The rules' verdict on one more delivery on ``name`` for a person who already got
        ``sent_today`` non-emergency ones today."""
        until = self.quiet_until(name, now)
        cap = self.cap(name)
        capped = cap is not None and sent_today >= cap
        if emergency:
            passed = [r for r, hit in ((QUIET, until is not None), (CAP, capped)) if hit]
            if not passed:
                return PASS
            return Verdict(note=f"{EMERGENCY}: sent despite {' and '.join(passed)}")
        if capped:
            return Verdict(suppress=f"{CAP}: at most {cap} a day on {name}")
        if until is not None:
            return Verdict(due_at=until, note=f"{QUIET}: waits until {until:%H:%M}")
        return PASS
