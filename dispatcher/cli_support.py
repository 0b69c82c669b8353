"""What every ``thongbao`` sub-command shares: settings, the store, and error reporting.

One-shot commands (``send``, ``status``, ``keys create``…) open the store directly through
:func:`open_services`; SQLite's WAL mode lets them do so while ``thongbao serve`` runs on
the same file. No worker starts: the serving process picks up what they write.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import pluggy
from pydantic import ValidationError

from dispatcher import logging as tb_logging
from dispatcher.config import Settings, load_settings
from dispatcher.doorbell import Doorbell, doorbell_folder
from dispatcher.engine import build_channels
from dispatcher.errors import (
    ConfigError,
    DispatcherError,
    InvalidRequestError,
    NotFoundError,
)
from dispatcher.outbound import OutboundGuard
from dispatcher.plugins import make_plugin_manager
from dispatcher.registry import ChannelRegistry
from dispatcher.service import Services
from dispatcher.store.sqlite import SQLiteStore

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CommandError(click.ClickException):
    """A failure shown as ``Error: …`` on stderr, without a traceback; exit code 1."""

    exit_code = EXIT_FAILURE


class InputError(CommandError):
    """The command was given something unusable (settings, a file, an option); exit code 2."""

    exit_code = EXIT_USAGE


def _problem_lines(problems: list[dict[str, Any]]) -> str:
    lines = []
    for problem in problems:
        loc = problem.get("loc") or ()
        where = ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else loc
        lines.append(f"  {where or 'request'}: {problem.get('msg')}")
    return "\n".join(lines)


def friendly_error(exc: Exception) -> CommandError | None:
    """The message and exit code a user should see for ``exc``; None for a real bug."""
    if isinstance(exc, InvalidRequestError):
        return InputError(f"{exc}\n{_problem_lines(exc.errors)}".rstrip())
    if isinstance(exc, ValidationError):
        problems = [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]
        what = exc.title.removesuffix("In").lower()
        return InputError(f"invalid {what}:\n{_problem_lines(problems)}")
    if isinstance(exc, ConfigError):
        return InputError(str(exc))
    if isinstance(exc, NotFoundError | DispatcherError):
        return CommandError(str(exc))
    if isinstance(exc, sqlite3.Error):
        return CommandError(f"database error: {exc}")
    if isinstance(exc, OSError):  # a port in use, a folder that cannot be written…
        return CommandError(str(exc))
    return None


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn thongbao's own errors into clean messages and exit codes."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as exc:
        error = friendly_error(exc)
        if error is None:
            raise
        raise error from exc


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager: built-ins plus the ``thongbao`` entry points."""
    return make_plugin_manager()


def default_log_level() -> str:
    """The level before settings are read: ``$THONGBAO_LOG_LEVEL`` or warning."""
    return os.environ.get("THONGBAO_LOG_LEVEL", "warning")


@dataclass
class CliState:
    """The global options, and the settings they lead to (loaded on first use).

    Attributes:
        config: the ``--config`` file, if given.
        overrides: dotted settings keys set by command-line flags.
        service: True for ``serve``/``worker``, which log at info unless told otherwise.
    """

    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    service: bool = False
    _settings: Settings | None = None

    def override(self, values: Mapping[str, Any]) -> None:
        """Add flag values (None means "not given") before settings are loaded."""
        self.overrides.update({k: v for k, v in values.items() if v is not None})
        self._settings = None

    @property
    def settings(self) -> Settings:
        """Load the settings (file, environment, flags) and configure logging by them."""
        if self._settings is None:
            settings = load_settings(self.config, overrides=self.overrides)
            level = settings.log_level
            if "log_level" not in settings.model_fields_set and not self.service:
                level = default_log_level()
            tb_logging.configure(level, settings.log_json)
            self._settings = settings
        return self._settings


pass_state = click.make_pass_decorator(CliState, ensure=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion with thongbao's errors reported cleanly, on the event
    loop :func:`event_loop_factory` names."""
    try:
        factory = event_loop_factory()
    except click.UsageError:
        coro.close()
        raise
    with reported_errors(), asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


EVENT_LOOPS = ("uvloop", "asyncio")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed (Linux and macOS), unless
    ``$THONGBAO_EVENT_LOOP`` is ``asyncio``; None means asyncio's own.

    uvloop runs the event loop's own work (callbacks, timers, sockets) in C: a send through
    a single-message gateway costs about a tenth less CPU (bench/README.md).
    """
    choice = os.environ.get("THONGBAO_EVENT_LOOP", "uvloop").strip().lower() or "uvloop"
    if choice not in EVENT_LOOPS:
        raise click.UsageError(
            f"THONGBAO_EVENT_LOOP={choice!r} is not an event loop thongbao knows: "
            f"use {' or '.join(EVENT_LOOPS)}"
        )
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open the store and build :class:`Services` over it, without starting any worker.

    The channel registry comes from the plugins, so announcements can only name channels
    that exist.
    """
    registry = ChannelRegistry.from_plugins(plugin_manager())
    store = SQLiteStore(settings.db)
    await store.open()
    # What is queued here is rung to running `thongbao serve`/`worker` processes at once.
    doorbell = Doorbell(doorbell_folder(store.file), lambda *_: None) if store.file else None
    try:
        services = Services(store, registry, wake=doorbell.ring if doorbell else None)
        services.audience = settings.audience
        services.outbound = OutboundGuard.from_settings(settings.outbound)
        # Built, not started: their checks and previews are pure, and nothing is sent here.
        services.channels = build_channels(settings, registry, services, services.clock, store)
        yield services
    finally:
        if doorbell is not None:
            doorbell.close()
        await store.close()
