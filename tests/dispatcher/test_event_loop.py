"""Which event loop the ``thongbao`` commands run on: uvloop's unless told otherwise."""

from __future__ import annotations

import asyncio

import click
import pytest

from dispatcher.cli_support import run


async def loop_kind() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_commands_run_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop", reason="uvloop is installed on Linux and macOS only")
    monkeypatch.delenv("THONGBAO_EVENT_LOOP", raising=False)
    assert run(loop_kind()) == "uvloop"


def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THONGBAO_EVENT_LOOP", "asyncio")
    assert run(loop_kind()) == "asyncio"


def test_an_unknown_loop_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THONGBAO_EVENT_LOOP", "tokio")
    coro = loop_kind()
    with pytest.raises(click.UsageError, match="use uvloop or asyncio"):
        run(coro)
    # Closed, not left to warn "never awaited" at exit.
    assert coro.cr_frame is None
