"""Every hook, exercised through a real Dispatcher, app or command and a test plugin.

``test_hooks_meta.py`` checks that each hookspec has a ``test_hook_<name>`` here (or
elsewhere under ``tests/``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import click
import pluggy
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict
from structlog.testing import capture_logs

from dispatcher import (
    Accepted,
    Channel,
    ChannelSpec,
    DeliveryStatus,
    Dispatcher,
    FakeClock,
    OutboundMessage,
    RouteSpec,
    SendResult,
    StatusChange,
    hookimpl,
    hookspecs,
    services,
)
from dispatcher import cli as cli_module
from dispatcher.api import make_app
from dispatcher.events import AnnouncementChange
from schemas import Announcement, AnnouncementIn

MakeDispatcher = Callable[..., Any]  # the dispatcher_factory fixture's ``make``
PING = "/v1/callbacks/loa/ping"


class LoaSettings(BaseModel):
    """The test channel takes no settings."""

    model_config = ConfigDict(extra="forbid")


class LoaChannel(Channel):
    """A ward loudspeaker that accepts every message."""

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return [Accepted(provider_id=f"loa-{m.delivery_id}") for m in batch]


async def ping(request: web.Request) -> web.Response:
    """A plugin route: answers with the channels of the running thongbao."""
    return web.json_response({"channels": services(request).registry.names()})


class LoaPlugin:
    """Declares the ``loa`` channel and the ``PING`` route."""

    @hookimpl
    def register_channels(self) -> Iterator[ChannelSpec]:
        yield ChannelSpec(name="loa", factory=LoaChannel, settings=LoaSettings)

    @hookimpl
    def register_routes(self) -> Iterator[RouteSpec]:
        yield RouteSpec("GET", PING, ping)


class SyncObserver:
    """Records every observer hook call, as plain functions."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def dispatcher_started(self, channels: Sequence[str]) -> None:
        self.calls.append(("dispatcher_started", list(channels)))

    @hookimpl
    def dispatcher_stopping(self) -> None:
        self.calls.append(("dispatcher_stopping", None))

    @hookimpl
    def delivery_status_changed(self, changes: Sequence[StatusChange]) -> None:
        self.calls.append(("delivery_status_changed", list(changes)))

    @hookimpl
    def announcement_status_changed(self, changes: Sequence[AnnouncementChange]) -> None:
        self.calls.append(("announcement_status_changed", list(changes)))

    def moves(self) -> list[tuple[str, str]]:
        """Every announcement change received, as (id, status)."""
        return [
            (c.announcement_id, c.status.value)
            for name, batch in self.calls
            if name == "announcement_status_changed"
            for c in batch
        ]

    def changes(self) -> list[StatusChange]:
        """Every change received, batches flattened."""
        return [c for name, batch in self.calls if name == "delivery_status_changed" for c in batch]


class AsyncObserver(SyncObserver):
    """Records every observer hook call, as ``async def`` implementations."""

    @hookimpl
    async def dispatcher_started(self, channels: Sequence[str]) -> None:  # type: ignore[override]
        self.calls.append(("dispatcher_started", list(channels)))

    @hookimpl
    async def dispatcher_stopping(self) -> None:  # type: ignore[override]
        self.calls.append(("dispatcher_stopping", None))

    @hookimpl
    async def delivery_status_changed(  # type: ignore[override]
        self, changes: Sequence[StatusChange]
    ) -> None:
        self.calls.append(("delivery_status_changed", list(changes)))

    @hookimpl
    async def announcement_status_changed(  # type: ignore[override]
        self, changes: Sequence[AnnouncementChange]
    ) -> None:
        self.calls.append(("announcement_status_changed", list(changes)))


class RaisingObserver:
    """An observer that always fails."""

    @hookimpl
    def delivery_status_changed(self, changes: Sequence[StatusChange]) -> None:
        raise RuntimeError("observer broke")


class AsyncRaisingObserver:
    """An async observer that always fails."""

    @hookimpl
    async def delivery_status_changed(self, changes: Sequence[StatusChange]) -> None:
        raise RuntimeError("observer broke")


OBSERVERS = [
    pytest.param(SyncObserver, id="sync"),
    pytest.param(AsyncObserver, id="async"),
]
RAISING = [
    pytest.param(RaisingObserver, id="sync"),
    pytest.param(AsyncRaisingObserver, id="async"),
]


def plugin_pm(**plugins: object) -> pluggy.PluginManager:
    """A plugin manager with ``LoaPlugin`` and ``plugins`` (by keyword name), nothing else."""
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    pm.register(LoaPlugin(), name="loa")
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


async def announce(d: Dispatcher, *addresses: str, **fields: Any) -> Announcement:
    """An announcement on ``loa`` to explicit ``addresses``."""
    data = {
        "title": "Thông báo",
        "body": "Phun thuốc muỗi tổ dân phố 5 sáng mai",
        "channels": ["loa"],
        "audience": {"addresses": {"loa": list(addresses)}},
        **fields,
    }
    announcement, _ = await d.services.create_announcement(AnnouncementIn.model_validate(data))
    return announcement


async def sent_changes(d: Dispatcher, announcement: Announcement) -> list[StatusChange]:
    """What ``delivery_status_changed`` should see when every delivery was sent."""
    page = await d.services.list_deliveries(announcement.id)
    return [
        StatusChange(
            delivery_id=x.id,
            announcement_id=announcement.id,
            channel="loa",
            status=DeliveryStatus.SENT,
        )
        for x in page.items
    ]


# -- declaring hooks -----------------------------------------------------------------------
async def test_hook_register_channels(dispatcher_factory: MakeDispatcher) -> None:
    d = await dispatcher_factory(pm=plugin_pm())
    assert {"loa": LoaChannel} == {name: type(ch) for name, ch in d.channels.items()}


@pytest.fixture
async def api_client(dispatcher_factory: MakeDispatcher) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the HTTP API of a dispatcher whose plugin declares ``PING``."""
    d = await dispatcher_factory(pm=plugin_pm())
    client = TestClient(TestServer(make_app(d.services, routes=d.routes)))
    await client.start_server()
    yield client
    await client.close()


async def test_hook_register_routes(api_client: TestClient[Any, Any]) -> None:
    response = await api_client.get(PING)
    assert (200, {"channels": ["loa"]}) == (response.status, await response.json())


class Greets:
    """Adds ``thongbao xin-chao``."""

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("xin-chao")
        @click.argument("name")
        def hello(name: str) -> None:
            """Greet NAME."""
            click.echo(f"xin chào {name}")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The command configures logging for its process; put the test process's back."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def main_with(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> Callable[[pluggy.PluginManager], click.Group]:
    """``thongbao``'s own ``main`` group, loading its plugin commands from a given manager.

    ``main`` adds plugin commands once per process; its command table and that flag are
    put back after the test, so no other test sees the commands added here.
    """

    def use(pm: pluggy.PluginManager) -> click.Group:
        main = cli_module.main
        monkeypatch.setattr(cli_module, "plugin_manager", lambda: pm)
        monkeypatch.setattr(main, "commands", dict(main.commands))
        monkeypatch.setattr(main, "_plugin_commands_added", False)
        return main

    return use


def test_hook_register_commands(
    main_with: Callable[[pluggy.PluginManager], click.Group],
) -> None:
    main = main_with(plugin_pm(greets=Greets()))
    result = CliRunner().invoke(main, ["xin-chao", "Lan"])
    assert (0, "xin chào Lan\n") == (result.exit_code, result.stdout)


# -- observer hooks ------------------------------------------------------------------------
@pytest.mark.parametrize("observer_class", OBSERVERS)
async def test_hook_dispatcher_started(
    dispatcher_factory: MakeDispatcher, observer_class: type[SyncObserver]
) -> None:
    observer = observer_class()
    await dispatcher_factory(pm=plugin_pm(observer=observer))
    assert [("dispatcher_started", ["loa"])] == observer.calls


@pytest.mark.parametrize("observer_class", OBSERVERS)
async def test_hook_dispatcher_stopping(
    dispatcher_factory: MakeDispatcher, observer_class: type[SyncObserver]
) -> None:
    observer = observer_class()
    d = await dispatcher_factory(pm=plugin_pm(observer=observer))
    await d.stop()
    assert ("dispatcher_stopping", None) == observer.calls[-1]


async def test_dispatcher_stopping_is_observed_once_however_often_stop_is_called(
    dispatcher_factory: MakeDispatcher,
) -> None:
    observer = SyncObserver()
    d = await dispatcher_factory(pm=plugin_pm(observer=observer))
    await d.stop()
    await d.stop()
    assert 1 == [name for name, _ in observer.calls].count("dispatcher_stopping")


@pytest.mark.parametrize("observer_class", OBSERVERS)
async def test_hook_delivery_status_changed(
    dispatcher_factory: MakeDispatcher, observer_class: type[SyncObserver]
) -> None:
    observer = observer_class()
    d = await dispatcher_factory(pm=plugin_pm(observer=observer))
    announcement = await announce(d, "loa-cum-1", "loa-cum-2")
    await d.run(until_idle=True)
    assert await sent_changes(d, announcement) == observer.changes()


@pytest.mark.parametrize("observer_class", OBSERVERS)
async def test_hook_announcement_status_changed(
    dispatcher_factory: MakeDispatcher, observer_class: type[SyncObserver]
) -> None:
    observer = observer_class()
    clock = FakeClock()
    d = await dispatcher_factory(pm=plugin_pm(observer=observer), clock=clock)
    done = await announce(d, "loa-cum-1")
    await d.run(until_idle=True)
    assert [(done.id, "fanning_out"), (done.id, "completed")] == observer.moves()
    later = await announce(d, "loa-cum-2", send_at=clock.now() + timedelta(hours=1))
    await d.services.cancel_announcement(later.id)
    await d.services.cancel_announcement(later.id)
    assert (later.id, "cancelled") == observer.moves()[-1]
    assert 3 == len(observer.moves())
    late = await announce(
        d,
        "loa-cum-3",
        send_at=clock.now() + timedelta(hours=1),
        expires_at=clock.now() + timedelta(hours=2),
    )
    clock.advance(3 * 3600)
    await d.run(until_idle=True)
    assert (late.id, "expired") == observer.moves()[-1]


async def test_delivery_status_changed_gets_lists_of_status_changes(
    dispatcher_factory: MakeDispatcher,
) -> None:
    observer = SyncObserver()
    d = await dispatcher_factory(pm=plugin_pm(observer=observer))
    await announce(d, "loa-cum-1", "loa-cum-2")
    await d.run(until_idle=True)
    batches = [batch for name, batch in observer.calls if name == "delivery_status_changed"]
    assert batches and all(
        isinstance(batch, list) and all(isinstance(c, StatusChange) for c in batch)
        for batch in batches
    ), batches


@pytest.mark.parametrize("raising_class", RAISING)
async def test_raising_observer_is_logged(
    dispatcher_factory: MakeDispatcher, raising_class: type[object]
) -> None:
    d = await dispatcher_factory(pm=plugin_pm(raises=raising_class()))
    await announce(d, "loa-cum-1")
    with capture_logs() as events:
        await d.run(until_idle=True)
    assert [
        {
            "event": "observer_failed",
            "log_level": "error",
            "hook": "delivery_status_changed",
            "plugin": "raises",
            "error": "RuntimeError('observer broke')",
        }
    ] == [e for e in events if e["event"] == "observer_failed"]


@pytest.mark.parametrize("raising_class", RAISING)
async def test_raising_observer_does_not_fail_the_delivery(
    dispatcher_factory: MakeDispatcher, raising_class: type[object]
) -> None:
    d = await dispatcher_factory(pm=plugin_pm(raises=raising_class()))
    announcement = await announce(d, "loa-cum-1", "loa-cum-2")
    await d.run(until_idle=True)
    page = await d.services.list_deliveries(announcement.id)
    assert [DeliveryStatus.SENT] * 2 == [x.status for x in page.items]


async def test_raising_observer_does_not_keep_others_from_observing(
    dispatcher_factory: MakeDispatcher,
) -> None:
    observer = SyncObserver()
    d = await dispatcher_factory(pm=plugin_pm(raises=RaisingObserver(), observer=observer))
    announcement = await announce(d, "loa-cum-1")
    await d.run(until_idle=True)
    assert await sent_changes(d, announcement) == observer.changes()


# -- lifecycle -----------------------------------------------------------------------------
class Lifecycle:
    """Records, in order, every hook the dispatcher calls, and the statuses it reports."""

    def __init__(self) -> None:
        self.order: list[str] = []

    @hookimpl
    def register_channels(self) -> Iterator[ChannelSpec]:
        self.order.append("register_channels")
        yield from ()

    @hookimpl
    def register_routes(self) -> Iterator[RouteSpec]:
        self.order.append("register_routes")
        yield from ()

    @hookimpl
    def dispatcher_started(self, channels: Sequence[str]) -> None:
        self.order.append("dispatcher_started")

    @hookimpl
    def delivery_status_changed(self, changes: Sequence[StatusChange]) -> None:
        self.order.append(f"delivery_status_changed:{','.join(c.status for c in changes)}")

    @hookimpl
    def dispatcher_stopping(self) -> None:
        self.order.append("dispatcher_stopping")


async def test_plugin_hooks_order(dispatcher_factory: MakeDispatcher) -> None:
    """One announcement to one address, run until idle, then stop."""
    lifecycle = Lifecycle()
    d = await dispatcher_factory(pm=plugin_pm(lifecycle=lifecycle))
    await announce(d, "loa-cum-1")
    await d.run(until_idle=True)
    await d.stop()
    assert [
        "register_channels",
        "register_routes",
        "dispatcher_started",
        "delivery_status_changed:sent",
        "dispatcher_stopping",
    ] == lifecycle.order
