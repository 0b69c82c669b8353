"""Audio of a script: espeak-ng's Vietnamese voice, offline, to WAV, cached by text.

Files live in ``<data_dir>/audio/<key>.wav`` where ``key`` is the SHA-256 of the voice, the
rate and the text, so a script already spoken is not spoken again. An uploaded human
recording is kept there too, under the SHA-256 of its bytes. Durations are measured from the
WAV itself (stdlib :mod:`wave`), never estimated, except by the sandbox when espeak-ng is
missing (see :func:`estimate_duration`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dispatcher import DispatcherError

AUDIO_NAME = re.compile(r"^[0-9a-f]{64}\.wav$")


class SpeechUnavailableError(DispatcherError):
    """espeak-ng is not installed: install it (``apt-get install espeak-ng``; ``./dev setup``
    does it) or set ``[channels.loudspeaker.speech] command`` to where it is."""


class SpeechError(DispatcherError):
    """espeak-ng failed on a script."""


class BadRecordingError(DispatcherError):
    """An uploaded recording is not a readable WAV file."""


class SpeechSettings(BaseModel):
    """How scripts become audio.

    Attributes:
        command: the espeak-ng program (a name on PATH or a path).
        voice: espeak-ng's voice (``vi``: Vietnamese).
        rate: words per minute (espeak-ng ``-s``); announcers read slowly, about 140.
        timeout: seconds one rendering may take.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str = "espeak-ng"
    voice: str = Field(default="vi", pattern=r"^[A-Za-z0-9_+-]{1,40}$")
    rate: int = Field(default=140, ge=80, le=450)
    timeout: float = Field(default=60.0, gt=0)


@dataclass(frozen=True, slots=True)
class Audio:
    """A WAV file under the audio folder and its length in seconds."""

    name: str
    duration: float
    recorded: bool = False


def wav_duration(data: bytes) -> float:
    """Seconds of audio in a WAV file's bytes.

    Raises:
        BadRecordingError: not a WAV file ``wave`` can read.
    """
    try:
        with wave.open(io.BytesIO(data)) as reader:
            return float(reader.getnframes()) / float(reader.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError) as exc:
        raise BadRecordingError(f"not a PCM WAV file ({exc}): upload a .wav recording") from exc


def estimate_duration(text: str, rate: int) -> float:
    """Seconds ``text`` takes at ``rate`` words per minute (the sandbox without espeak-ng)."""
    return round(len(text.split()) * 60.0 / rate, 1)


class Speech:
    """Renders scripts with espeak-ng into ``folder``.

    Args:
        folder: where WAV files are kept.
        settings: the program, voice and rate.
    """

    def __init__(self, folder: Path, settings: SpeechSettings) -> None:
        self.folder = folder
        self.settings = settings

    def available(self) -> bool:
        """Whether the espeak-ng program can be found."""
        return shutil.which(self.settings.command) is not None

    def path(self, name: str) -> Path:
        """Where the audio file ``name`` lives."""
        return self.folder / name

    def key(self, text: str) -> str:
        """The file name the spoken ``text`` gets."""
        s = self.settings
        digest = hashlib.sha256(f"{s.voice}|{s.rate}|{text}".encode()).hexdigest()
        return f"{digest}.wav"

    async def render(self, text: str) -> Audio:
        """The audio of ``text``, rendered now or found in the cache.

        Raises:
            SpeechUnavailableError: espeak-ng is not installed.
            SpeechError: espeak-ng failed or took longer than ``timeout``.
        """
        name = self.key(text)
        path = self.path(name)
        if path.exists():
            return Audio(name, wav_duration(path.read_bytes()))
        program = shutil.which(self.settings.command)
        if program is None:
            raise SpeechUnavailableError(
                f"espeak-ng ({self.settings.command!r}) is not installed: install it with "
                "'apt-get install espeak-ng' (./dev setup does it) or set "
                "[channels.loudspeaker.speech] command"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        await self._run(program, text, partial)
        duration = wav_duration(partial.read_bytes())
        partial.replace(path)  # atomic: a reader never sees half a file
        return Audio(name, duration)

    async def _run(self, program: str, text: str, out: Path) -> None:
        s = self.settings
        process = await asyncio.create_subprocess_exec(
            program,
            "-v",
            s.voice,
            "-s",
            str(s.rate),
            "-w",
            str(out),
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(s.timeout):
                _, err = await process.communicate(text.encode())
        except TimeoutError as exc:
            raise SpeechError(f"espeak-ng took longer than {s.timeout:g} s") from exc
        finally:
            # Cancelled or timed out: do not leave espeak-ng running.
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0:
            message = err.decode(errors="replace").strip()[:300]
            raise SpeechError(f"espeak-ng exited with {process.returncode}: {message}")

    def keep_recording(self, data: bytes) -> Audio:
        """Store an uploaded recording; returns its name (SHA-256 of the bytes) and length.

        Raises:
            BadRecordingError: not a WAV file.
        """
        duration = wav_duration(data)
        name = f"{hashlib.sha256(data).hexdigest()}.wav"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        if not path.exists():
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(path)
        return Audio(name, duration, recorded=True)

    def recording(self, name: str) -> Audio | None:
        """A recording kept earlier, by name (with or without ``.wav``), or None."""
        name = name if name.endswith(".wav") else f"{name}.wav"
        if not AUDIO_NAME.match(name) or not self.path(name).exists():
            return None
        return Audio(name, wav_duration(self.path(name).read_bytes()), recorded=True)
