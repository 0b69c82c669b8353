"""ChannelRegistry and collect_routes: what plugins declare, validated, conflicts refused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pluggy
import pytest
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from dispatcher import hookspecs
from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelSpec,
    OutboundMessage,
    RouteSpec,
    SendResult,
)
from dispatcher.errors import ChannelNotFoundError, PluginError
from dispatcher.plugins import make_plugin_manager
from dispatcher.registry import ChannelRegistry, collect_routes

HERE = __name__  # the module test plugins report as where they came from


class NoSettings(BaseModel):
    """The test channels take no settings."""

    model_config = ConfigDict(extra="forbid")


class NullChannel(Channel):
    """Accepts everything."""

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return [Accepted() for _ in batch]


async def ok(request: web.Request) -> web.Response:
    """A route handler; never called here."""
    return web.Response()


def spec(name: str) -> ChannelSpec:
    """A valid spec for channel ``name``."""
    return ChannelSpec(name=name, factory=NullChannel, settings=NoSettings)


class Declares:
    """A plugin whose ``register_channels`` yields ``items``, whatever they are."""

    def __init__(self, *items: object) -> None:
        self.items = items

    @hookspecs.hookimpl
    def register_channels(self) -> Iterator[object]:
        yield from self.items


class Returns:
    """A plugin whose ``register_channels`` returns ``value`` instead of yielding."""

    def __init__(self, value: object) -> None:
        self.value = value

    @hookspecs.hookimpl
    def register_channels(self) -> object:
        return self.value


class Serves:
    """A plugin whose ``register_routes`` yields ``items``."""

    def __init__(self, *items: object) -> None:
        self.items = items

    @hookspecs.hookimpl
    def register_routes(self) -> Iterator[object]:
        yield from self.items


def plugin_pm(**plugins: object) -> pluggy.PluginManager:
    """A plugin manager with only ``plugins``, registered under their keyword names."""
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


def registry_of(pm: pluggy.PluginManager) -> ChannelRegistry:
    """The registry of ``pm``'s channels."""
    return ChannelRegistry.from_plugins(pm)


# -- duplicates ----------------------------------------------------------------------------
def test_duplicate_of_a_builtin_names_both_providers() -> None:
    pm = make_plugin_manager(entrypoints=False)
    pm.register(Declares(spec("sms")), name="copycat")
    with pytest.raises(PluginError) as info:
        registry_of(pm)
    assert (
        f"channel 'sms' is declared by plugin 'sms' (plugins.sms) and by plugin 'copycat' "
        f"({HERE}): disable one with THONGBAO_DISABLE_PLUGINS=<plugin name>"
    ) == str(info.value)


def test_duplicate_by_three_plugins_names_all_three() -> None:
    pm = plugin_pm(a=Declares(spec("fax")), b=Declares(spec("fax")), c=Declares(spec("fax")))
    with pytest.raises(PluginError) as info:
        registry_of(pm)
    assert (
        f"channel 'fax' is declared by plugin 'a' ({HERE}) and by plugin 'b' ({HERE}) and by "
        f"plugin 'c' ({HERE}): disable one with THONGBAO_DISABLE_PLUGINS=<plugin name>"
    ) == str(info.value)


def test_every_clash_is_reported_at_once() -> None:
    pm = plugin_pm(a=Declares(spec("fax"), spec("pager")), b=Declares(spec("pager"), spec("fax")))
    with pytest.raises(PluginError) as info:
        registry_of(pm)
    assert (
        f"channel 'fax' is declared by plugin 'a' ({HERE}) and by plugin 'b' ({HERE}); "
        f"channel 'pager' is declared by plugin 'a' ({HERE}) and by plugin 'b' ({HERE}): "
        "disable one with THONGBAO_DISABLE_PLUGINS=<plugin name>"
    ) == str(info.value)


def test_one_plugin_declaring_a_name_twice_is_a_clash() -> None:
    with pytest.raises(PluginError, match="channel 'fax' is declared by plugin 'a'"):
        registry_of(plugin_pm(a=Declares(spec("fax"), spec("fax"))))


def test_disabling_one_provider_resolves_the_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THONGBAO_DISABLE_PLUGINS", "sms")
    pm = make_plugin_manager(entrypoints=False)
    pm.register(Declares(spec("sms")), name="copycat")
    assert f"plugin 'copycat' ({HERE})" == registry_of(pm).origin("sms")


# -- names ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("SMS", id="upper-case"),
        pytest.param("1sms", id="leading-digit"),
        pytest.param("-sms", id="leading-dash"),
        pytest.param("", id="empty"),
        pytest.param("a" * 33, id="33-chars"),
        pytest.param("sms channel", id="space"),
        pytest.param("sms.v2", id="dot"),
        pytest.param("loa-phường", id="non-ascii"),
    ],
)
def test_bad_channel_name_is_refused(name: str) -> None:
    with pytest.raises(PluginError) as info:
        registry_of(plugin_pm(a=Declares(spec(name))))
    assert (
        f"plugin 'a' ({HERE}) declares channel {name!r}: names are lower-case letters, digits, "
        "'-' or '_', starting with a letter"
    ) == str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a", id="one-letter"),
        pytest.param("zalo-oa", id="dash"),
        pytest.param("web_hook", id="underscore"),
        pytest.param("sms2", id="digit"),
        pytest.param("a" * 32, id="32-chars"),
    ],
)
def test_good_channel_name_is_accepted(name: str) -> None:
    assert [name] == registry_of(plugin_pm(a=Declares(spec(name)))).names()


# -- what register_channels yields ---------------------------------------------------------
@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"name": "fax"}, id="dict"),
        pytest.param("fax", id="str"),
        pytest.param(None, id="none"),
        pytest.param(RouteSpec("GET", "/x", ok), id="route-spec"),
    ],
)
def test_a_yield_that_is_not_a_channel_spec_is_refused(item: object) -> None:
    with pytest.raises(PluginError) as info:
        registry_of(plugin_pm(a=Declares(item)))
    assert (
        f"plugin 'a' ({HERE}) yielded {item!r} from register_channels; yield ChannelSpec"
    ) == str(info.value)


def test_a_returned_spec_instead_of_an_iterable_is_refused() -> None:
    with pytest.raises(PluginError) as info:
        registry_of(plugin_pm(a=Returns(spec("fax"))))
    assert (
        f"plugin 'a' ({HERE}) returned {spec('fax')!r} from register_channels; return an "
        "iterable of ChannelSpec (yield them)"
    ) == str(info.value)


def test_returning_none_declares_nothing() -> None:
    assert [] == registry_of(plugin_pm(a=Returns(None))).names()


def test_a_factory_that_cannot_be_called_is_refused() -> None:
    broken = ChannelSpec(name="fax", factory="NullChannel", settings=NoSettings)  # type: ignore[arg-type]
    with pytest.raises(PluginError) as info:
        registry_of(plugin_pm(a=Declares(broken)))
    assert f"plugin 'a' ({HERE}): channel 'fax' has no callable factory" == str(info.value)


# -- lookups -------------------------------------------------------------------------------
def test_unknown_channel_lists_the_registered_ones() -> None:
    with pytest.raises(ChannelNotFoundError) as info:
        registry_of(make_plugin_manager(entrypoints=False)).get("fax")
    assert (
        "no channel named 'fax'; registered channels: email, loudspeaker, sms, web, zalo"
    ) == str(info.value)


def test_unknown_channel_in_an_empty_registry_says_none() -> None:
    with pytest.raises(ChannelNotFoundError) as info:
        registry_of(plugin_pm()).get("fax")
    assert "no channel named 'fax'; registered channels: none" == str(info.value)


def test_origin_of_an_unknown_channel_is_channel_not_found() -> None:
    with pytest.raises(ChannelNotFoundError):
        registry_of(plugin_pm()).origin("fax")


def test_specs_iterate_in_name_order() -> None:
    pm = plugin_pm(a=Declares(spec("zeta"), spec("alpha")), b=Declares(spec("mu")))
    registry = registry_of(pm)
    assert ["alpha", "mu", "zeta"] == [s.name for s in registry]


# -- routes --------------------------------------------------------------------------------
def test_routes_of_every_plugin_are_collected_in_registration_order() -> None:
    first = RouteSpec("POST", "/v1/callbacks/a", ok)
    second = RouteSpec("GET", "/v1/callbacks/b", ok)
    assert [first, second] == collect_routes(plugin_pm(a=Serves(first), b=Serves(second)))


@pytest.mark.parametrize(
    ("method_a", "method_b"),
    [
        pytest.param("POST", "POST", id="same-method"),
        pytest.param("post", "POST", id="method-case-differs"),
    ],
)
def test_route_clash_names_both_providers(method_a: str, method_b: str) -> None:
    pm = plugin_pm(
        a=Serves(RouteSpec(method_a, "/v1/callbacks/dlr", ok)),
        b=Serves(RouteSpec(method_b, "/v1/callbacks/dlr", ok)),
    )
    with pytest.raises(PluginError) as info:
        collect_routes(pm)
    assert (
        f"route POST /v1/callbacks/dlr is declared by plugin 'a' ({HERE}) and by plugin 'b' "
        f"({HERE})"
    ) == str(info.value)


def test_same_path_with_another_method_is_no_clash() -> None:
    routes = [RouteSpec("POST", "/v1/callbacks/dlr", ok), RouteSpec("GET", "/v1/callbacks/dlr", ok)]
    assert routes == collect_routes(plugin_pm(a=Serves(*routes)))


class ReturnsRoute:
    """A plugin whose ``register_routes`` returns one route instead of yielding it."""

    @hookspecs.hookimpl
    def register_routes(self) -> RouteSpec:
        return RouteSpec("GET", "/x", ok)


def test_a_returned_route_instead_of_an_iterable_is_refused() -> None:
    with pytest.raises(PluginError, match=r"returned RouteSpec\(.*from register_routes; return"):
        collect_routes(plugin_pm(a=ReturnsRoute()))


def test_a_yield_that_is_not_a_route_spec_is_refused() -> None:
    with pytest.raises(PluginError) as info:
        collect_routes(plugin_pm(a=Serves(("GET", "/x"))))
    assert (
        f"plugin 'a' ({HERE}) yielded ('GET', '/x') from register_routes; yield RouteSpec"
    ) == str(info.value)


def test_builtin_routes_do_not_clash(pm: pluggy.PluginManager) -> None:
    routes = collect_routes(pm)
    assert len(routes) == len({(r.method.upper(), r.path) for r in routes})
