"""espeak-ng renders WAV audio whose measured duration the scheduler uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from loudspeaker_helpers import Controller, LoudFactory, silence

from plugins.loudspeaker.schedule import Schedule
from plugins.loudspeaker.speech import (
    BadRecordingError,
    Speech,
    SpeechSettings,
    SpeechUnavailableError,
    wav_duration,
)


async def test_espeak_renders_a_wav_whose_length_is_measured(tmp_path: Path, espeak: None) -> None:
    speech = Speech(tmp_path, SpeechSettings())
    short = await speech.render("Kính thưa bà con.")
    long = await speech.render("Kính thưa bà con. " * 6)
    data = speech.path(long.name).read_bytes()
    assert b"RIFF" == data[:4]
    assert long.duration == wav_duration(data)
    assert 1.0 < short.duration < long.duration


async def test_the_same_script_is_spoken_once(tmp_path: Path, espeak: None) -> None:
    speech = Speech(tmp_path, SpeechSettings())
    first = await speech.render("Xin chào bà con.")
    mtime = speech.path(first.name).stat().st_mtime_ns
    assert first == await speech.render("Xin chào bà con.")
    assert mtime == speech.path(first.name).stat().st_mtime_ns


async def test_a_missing_espeak_says_how_to_install_it(tmp_path: Path) -> None:
    speech = Speech(tmp_path, SpeechSettings(command="no-such-espeak-ng"))
    with pytest.raises(SpeechUnavailableError, match="apt-get install espeak-ng"):
        await speech.render("Xin chào.")


def test_an_uploaded_recording_is_kept_with_its_length(tmp_path: Path) -> None:
    speech = Speech(tmp_path, SpeechSettings())
    kept = speech.keep_recording(silence(2.5))
    assert (2.5, True) == (kept.duration, kept.recorded)
    assert kept == speech.recording(kept.name.removesuffix(".wav"))


def test_a_recording_that_is_not_wav_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRecordingError, match=r"upload a \.wav"):
        Speech(tmp_path, SpeechSettings()).keep_recording(b"ID3 not a wav")


async def test_the_scheduler_uses_the_rendered_duration(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(
        {
            "id": "loa-1",
            "name": "Loa 1",
            "area_code": "00004",
            "transport": "http",
            "endpoint": controller.url,
        }
    )
    await loud.announce()
    state = loud.channel.broadcaster
    assert state is not None
    schedule: Schedule = await state.load("loa-1")
    [item] = schedule.items
    audio = loud.channel.speech.path(item.audio).read_bytes()
    assert wav_duration(audio) == item.duration
    assert round(item.duration, 2) == controller.pushes[0]["plays"][0]["duration"]
