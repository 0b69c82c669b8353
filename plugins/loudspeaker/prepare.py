"""From an outbound message to a schedule item: options, script, audio, wanted times."""

from __future__ import annotations

from typing import Protocol

import structlog

from dispatcher import Clock, Failed, FailureKind, OutboundMessage, RetryLater, SendResult
from plugins.loudspeaker.options import parse_options
from plugins.loudspeaker.registry import Cluster
from plugins.loudspeaker.schedule import Item, Play, wanted_times
from plugins.loudspeaker.script import Formula, build_script
from plugins.loudspeaker.settings import LoudspeakerSettings
from plugins.loudspeaker.speech import (
    Audio,
    Speech,
    SpeechError,
    SpeechUnavailableError,
    estimate_duration,
)
from schemas import Announcement

log = structlog.get_logger(__name__)


class Areas(Protocol):
    """The part of the store the preparer reads."""

    async def area_lineage(self, code: str) -> list[str]:
        """``code`` and its parents, nearest first."""
        ...


class Preparer:
    """Builds items for the broadcaster.

    Args:
        settings: the channel's settings.
        speech: the espeak-ng renderer.
        store: the open store (for the formula of the cluster's area), or None.
        clock: the time.
    """

    def __init__(
        self, settings: LoudspeakerSettings, speech: Speech, store: Areas | None, clock: Clock
    ) -> None:
        self.settings = settings
        self.speech = speech
        self.store = store
        self.clock = clock

    async def formula(self, area_code: str) -> Formula:
        """The formula of the nearest area (the cluster's own, then up) that has one."""
        lineage = [area_code] if self.store is None else await self.store.area_lineage(area_code)
        for code in lineage:
            if code in self.settings.formulas:
                return self.settings.formulas[code]
        return self.settings.formula

    async def item(
        self,
        cluster: Cluster,
        message: OutboundMessage,
        announcement: Announcement | None,
        sandbox: bool,
    ) -> Item | SendResult:
        """The item for ``message`` on ``cluster``, or the result that refuses it."""
        options, problems = parse_options(message.options)
        if problems:
            return Failed("; ".join(problems), code="BAD_OPTION")
        formula = await self.formula(cluster.area_code) if options.formula else None
        issuer = announcement.issuer if announcement else None
        script = build_script(
            message.title, message.body, formula, issuer=issuer, area=cluster.name
        )
        audio = await self.audio(script, options.recording, sandbox)
        if not isinstance(audio, Audio):
            return audio
        now = self.clock.now()
        wanted = wanted_times(now, options.repeats, options.days, self.settings.zone)
        return Item(
            delivery_id=message.delivery_id,
            announcement_id=message.announcement_id,
            provider_id=None if sandbox else f"ls-{message.delivery_id}",
            title=message.title,
            priority=message.priority,
            script=script,
            audio=audio.name,
            recorded=audio.recorded,
            duration=audio.duration,
            order=0,
            expires_at=announcement.expires_at if announcement else None,
            plays=[Play(n=n, wanted=when) for n, when in enumerate(wanted, start=1)],
        )

    async def audio(self, script: str, recording: str | None, sandbox: bool) -> Audio | SendResult:
        """The recording named, or the script spoken by espeak-ng.

        The sandbox without espeak-ng estimates the length from the words instead.
        """
        if recording is not None:
            found = self.speech.recording(recording)
            if found is None:
                return Failed(
                    f"no recording {recording}: upload it with 'thongbao loudspeaker upload'",
                    code="NO_RECORDING",
                )
            return found
        if sandbox and not self.speech.available():
            seconds = estimate_duration(script, self.settings.speech.rate)
            return Audio(self.speech.key(script), seconds)
        try:
            return await self.speech.render(script)
        except SpeechUnavailableError as exc:
            log.error("loudspeaker_speech_missing", error=str(exc))
            return RetryLater(str(exc), after=self.settings.offline_retry, code="NO_TTS")
        except SpeechError as exc:
            return Failed(str(exc), code="TTS_FAILED", kind=FailureKind.TECHNICAL)
