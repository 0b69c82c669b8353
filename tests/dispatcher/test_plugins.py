"""Building the plugin manager: built-ins, entry points, load control, tracing, versions.

The entry points come from ``tests/data/fake-plugin`` (on pytest's ``pythonpath``): a fake
``.dist-info`` declaring ``fake-ok`` (loads) and ``fake-broken`` (fails to import).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest
import structlog
from structlog.testing import capture_logs
from structlog.typing import EventDict

from dispatcher import hookspecs
from dispatcher.errors import PluginError
from dispatcher.plugins import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    PluginInfo,
    get_plugins,
    load_entrypoints,
    make_plugin_manager,
)
from dispatcher.registry import ChannelRegistry

DATA = Path(__file__).resolve().parents[1] / "data"
BUILTINS = {path.rsplit(".", 1)[-1]: path for path in DEFAULT_PLUGINS}
ENV_VARS = ("THONGBAO_LOAD_PLUGINS", "THONGBAO_DISABLE_PLUGINS", "THONGBAO_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No load-control variable leaks in from the shell running the tests."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def debug_logs() -> Iterator[list[EventDict]]:
    """Captured log events down to debug, whatever level an earlier test configured."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as events:
            yield events
    finally:
        structlog.configure(**saved)


def names(pm: pluggy.PluginManager) -> set[str]:
    """Names of the plugins registered (blocked names excluded)."""
    return {name for name, plugin in pm.list_name_plugin() if plugin is not None}


def events_named(events: list[EventDict], event: str) -> list[EventDict]:
    """The captured events called ``event``."""
    return [e for e in events if e["event"] == event]


def test_builtins_are_registered_by_module_path() -> None:
    pm = make_plugin_manager(entrypoints=False)
    registered = {name: pm.get_plugin(name) for name in BUILTINS}
    assert {name: importlib.import_module(path) for name, path in BUILTINS.items()} == registered


def test_without_entry_points_only_builtins_register() -> None:
    assert set(BUILTINS) == names(make_plugin_manager(entrypoints=False))


def test_entry_point_plugin_is_registered() -> None:
    pm = make_plugin_manager()
    assert importlib.import_module("fake_plugin.ok") is pm.get_plugin("fake-ok")


def test_entry_point_plugin_channel_is_declared() -> None:
    registry = ChannelRegistry.from_plugins(make_plugin_manager())
    assert "plugin 'fake-ok' (fake_plugin.ok)" == registry.origin("fake")


def test_broken_plugin_is_logged() -> None:
    with capture_logs() as events:
        make_plugin_manager()
    [failed] = events_named(events, "plugin_load_failed")
    assert {
        "event": "plugin_load_failed",
        "log_level": "error",
        "plugin": "fake-broken",
        "target": "fake_plugin.broken",
        "error": "ImportError(\"fake_plugin.broken needs 'thongbao-missing-dependency', "
        'which is not installed")',
    } == failed


def test_broken_plugin_is_skipped() -> None:
    pm = make_plugin_manager()
    assert set(BUILTINS) | {"fake-ok"} == names(pm)


def test_strict_reraises_a_broken_plugin_as_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"'fake-broken' \(fake_plugin\.broken\) failed") as info:
        make_plugin_manager(strict=True)
    assert isinstance(info.value.__cause__, ImportError)


def test_builtins_are_declared_as_entry_points_too() -> None:
    """The precondition of the next test: thongbao is installed with its entry points."""
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    declared = {ep.name: ep.value for ep in entry_points}
    assert BUILTINS.items() <= declared.items()


def test_builtins_in_the_entry_point_group_register_once() -> None:
    pm = make_plugin_manager()
    found = {
        path: [name for name, plugin in pm.list_name_plugin() if plugin is module]
        for path, module in ((p, importlib.import_module(p)) for p in DEFAULT_PLUGINS)
    }
    assert {path: [name] for name, path in BUILTINS.items()} == found


def test_loading_entry_points_twice_is_harmless() -> None:
    pm = make_plugin_manager()
    before = pm.list_name_plugin()
    load_entrypoints(pm)
    assert before == pm.list_name_plugin()


@pytest.mark.parametrize(
    ("allowed", "third_party"),
    [
        pytest.param("fake-ok", {"fake-ok"}, id="one"),
        pytest.param(" fake-ok , ", {"fake-ok"}, id="spaces-and-trailing-comma"),
        pytest.param("", set(), id="empty-loads-none"),
    ],
)
def test_allow_list_loads_only_the_named_third_party_plugins(
    monkeypatch: pytest.MonkeyPatch, allowed: str, third_party: set[str]
) -> None:
    monkeypatch.setenv("THONGBAO_LOAD_PLUGINS", allowed)
    assert set(BUILTINS) | third_party == names(make_plugin_manager())


def test_allow_list_never_imports_unlisted_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THONGBAO_LOAD_PLUGINS", "fake-ok")
    with capture_logs() as events:
        make_plugin_manager(strict=True)
    assert [] == events_named(events, "plugin_load_failed")


@pytest.mark.parametrize(
    ("disabled", "missing"),
    [
        pytest.param("fake-ok", {"fake-ok"}, id="third-party"),
        pytest.param("sms", {"sms"}, id="built-in"),
        pytest.param("sms,zalo", {"sms", "zalo"}, id="two-built-ins"),
    ],
)
def test_block_list_keeps_plugins_out(
    monkeypatch: pytest.MonkeyPatch, disabled: str, missing: set[str]
) -> None:
    monkeypatch.setenv("THONGBAO_DISABLE_PLUGINS", disabled)
    assert (set(BUILTINS) | {"fake-ok"}) - missing == names(make_plugin_manager())


def test_block_list_marks_plugins_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THONGBAO_DISABLE_PLUGINS", "sms,fake-ok")
    pm = make_plugin_manager()
    assert [True, True] == [pm.is_blocked("sms"), pm.is_blocked("fake-ok")]


def test_block_list_never_imports_a_blocked_broken_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THONGBAO_DISABLE_PLUGINS", "fake-broken")
    with capture_logs() as events:
        make_plugin_manager(strict=True)
    assert [] == events_named(events, "plugin_load_failed")


@pytest.mark.parametrize(
    ("trace", "traced"),
    [
        pytest.param("1", True, id="on"),
        pytest.param("0", False, id="off"),
    ],
)
def test_trace_env_var_logs_hook_calls(
    monkeypatch: pytest.MonkeyPatch, debug_logs: list[EventDict], trace: str, traced: bool
) -> None:
    monkeypatch.setenv("THONGBAO_TRACE_PLUGINS", trace)
    pm = make_plugin_manager(entrypoints=False)
    pm.hook.register_channels()
    traces = [e["message"] for e in events_named(debug_logs, "plugin_trace")]
    calls = [message for message in traces if "register_channels" in message]
    assert traced == bool(calls)


def test_get_plugins_gives_an_entry_point_plugin_its_distribution_version() -> None:
    infos = {info.name: info for info in get_plugins(make_plugin_manager())}
    assert (
        PluginInfo(name="fake-ok", hooks=("dispatcher_started", "register_channels"), version="0.1")
        == infos["fake-ok"]
    )


def test_get_plugins_gives_a_builtin_thongbao_version() -> None:
    infos = {info.name: info for info in get_plugins(make_plugin_manager(entrypoints=False))}
    assert (
        PluginInfo(
            name="sms",
            hooks=("register_channels", "register_routes"),
            version=importlib.metadata.version("thongbao"),
        )
        == infos["sms"]
    )


class _HandMade:
    @hookspecs.hookimpl
    def dispatcher_stopping(self) -> None:
        """Does nothing."""


def test_get_plugins_gives_a_hand_registered_plugin_no_version() -> None:
    pm = make_plugin_manager(entrypoints=False)
    pm.register(_HandMade(), name="hand-made")
    infos = {info.name: info for info in get_plugins(pm)}
    assert (
        PluginInfo(name="hand-made", hooks=("dispatcher_stopping",), version=None)
        == infos["hand-made"]
    )


def test_get_plugins_is_sorted_by_name() -> None:
    found = [info.name for info in get_plugins(make_plugin_manager())]
    assert sorted(found) == found


def test_misspelled_hookimpl_is_a_plugin_error_naming_the_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(DATA / "misspelled-plugin"))
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert (
        "plugin 'fake-misspelled' (misspelled_plugin) implements unknown hook(s) "
        "register_channel; thongbao's hooks are announcement_status_changed, "
        "delivery_status_changed, dispatcher_started, dispatcher_stopping, register_channels, "
        "register_commands, register_routes: fix the name, or disable the plugin with "
        "THONGBAO_DISABLE_PLUGINS=fake-misspelled"
    ) == str(info.value)


def test_misspelled_hookimpl_error_keeps_pluggy_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA / "misspelled-plugin"))
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert isinstance(info.value.__cause__, pluggy.PluginValidationError)
