"""ChannelRegistry: the channels the plugins declared, validated, one per name."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

import pluggy

from dispatcher.channel import Channel, ChannelSpec, RouteSpec
from dispatcher.errors import ChannelNotFoundError, PluginError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _origin(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or repr(plugin)
    module = getattr(plugin, "__name__", type(plugin).__module__)
    return f"plugin {name!r} ({module})"


def _declared(result: object, origin: str, hook: str, kind: str) -> Iterable[object]:
    """What a declaring hook returned, as an iterable; None declares nothing."""
    if result is None:
        return ()
    # A single record returned instead of yielded would otherwise fail as a bare TypeError.
    if isinstance(result, str | bytes) or not isinstance(result, Iterable):
        raise PluginError(
            f"{origin} returned {result!r} from {hook}; return an iterable of {kind} (yield them)"
        )
    return result


def _specs_from(pm: pluggy.PluginManager) -> Iterator[tuple[object, str]]:
    for impl in pm.hook.register_channels.get_hookimpls():
        origin = _origin(pm, impl.plugin)
        for spec in _declared(impl.function(), origin, "register_channels", "ChannelSpec"):
            yield spec, origin


def _check(spec: object, origin: str) -> ChannelSpec:
    if not isinstance(spec, ChannelSpec):
        raise PluginError(f"{origin} yielded {spec!r} from register_channels; yield ChannelSpec")
    if not _NAME.match(spec.name):
        raise PluginError(
            f"{origin} declares channel {spec.name!r}: names are lower-case letters, digits, "
            "'-' or '_', starting with a letter"
        )
    if not (isinstance(spec.factory, type) and issubclass(spec.factory, Channel)) and not callable(
        spec.factory
    ):
        raise PluginError(f"{origin}: channel {spec.name!r} has no callable factory")
    return spec


class ChannelRegistry:
    """Every declared channel by name, with where it came from."""

    def __init__(self, specs: Iterable[tuple[object, str]]) -> None:
        found: dict[str, list[tuple[ChannelSpec, str]]] = defaultdict(list)
        for spec, origin in specs:
            checked = _check(spec, origin)
            found[checked.name].append((checked, origin))
        clashes = {name: entries for name, entries in found.items() if len(entries) > 1}
        if clashes:
            lines = [
                f"channel {name!r} is declared by " + " and by ".join(o for _, o in entries)
                for name, entries in sorted(clashes.items())
            ]
            raise PluginError(
                "; ".join(lines) + ": disable one with THONGBAO_DISABLE_PLUGINS=<plugin name>"
            )
        self._specs = {name: entries[0][0] for name, entries in found.items()}
        self._origins = {name: entries[0][1] for name, entries in found.items()}

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager) -> ChannelRegistry:
        """Collect ``register_channels`` from every plugin of ``pm``."""
        return cls(_specs_from(pm))

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ChannelSpec]:
        return iter(self._specs[name] for name in sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """Channel names, sorted."""
        return sorted(self._specs)

    def get(self, name: str) -> ChannelSpec:
        """The spec for ``name``, or ``ChannelNotFoundError`` listing what exists."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise ChannelNotFoundError(
                f"no channel named {name!r}; registered channels: {known}"
            ) from None

    def origin(self, name: str) -> str:
        """Which plugin declared ``name``."""
        self.get(name)
        return self._origins[name]


def collect_routes(pm: pluggy.PluginManager) -> list[RouteSpec]:
    """Every ``RouteSpec`` the plugins declare, checked for type and clashes."""
    seen: dict[tuple[str, str], str] = {}
    routes = []
    for impl in pm.hook.register_routes.get_hookimpls():
        origin = _origin(pm, impl.plugin)
        for route in _declared(impl.function(), origin, "register_routes", "RouteSpec"):
            if not isinstance(route, RouteSpec):
                raise PluginError(
                    f"{origin} yielded {route!r} from register_routes; yield RouteSpec"
                )
            key = (route.method.upper(), route.path)
            if key in seen:
                raise PluginError(
                    f"route {key[0]} {key[1]} is declared by {seen[key]} and by {origin}"
                )
            seen[key] = origin
            routes.append(route)
    return routes
