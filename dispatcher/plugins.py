"""Building the plugin manager: built-ins by module path, third parties by entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass

import pluggy
import structlog

from dispatcher import hookspecs
from dispatcher.errors import PluginError

log = structlog.get_logger(__name__)

DEFAULT_PLUGINS = (
    "plugins.sms",
    "plugins.zalo",
    "plugins.email",
    "plugins.web",
    "plugins.loudspeaker",
)
ENTRY_POINT_GROUP = "thongbao"


@dataclass(frozen=True)
class PluginInfo:
    """What ``thongbao plugins`` shows of one plugin."""

    name: str
    hooks: tuple[str, ...]
    version: str | None


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def make_plugin_manager(*, entrypoints: bool = True, strict: bool = False) -> pluggy.PluginManager:
    """Build a plugin manager with the built-in plugins and, if asked, the installed ones.

    ``THONGBAO_LOAD_PLUGINS=a,b`` loads only those third-party plugins;
    ``THONGBAO_DISABLE_PLUGINS=a,b`` blocks plugins by name (built-ins included);
    ``THONGBAO_TRACE_PLUGINS=1`` logs every hook call.

    Args:
        entrypoints: also load the ``thongbao`` entry-point group.
        strict: re-raise a plugin's import error instead of logging and skipping it.
    """
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    blocked = _env_list("THONGBAO_DISABLE_PLUGINS") or set()
    for name in blocked:
        pm.set_blocked(name)
    for module_path in DEFAULT_PLUGINS:
        name = module_path.rsplit(".", 1)[-1]
        if name in blocked or pm.has_plugin(name):
            continue
        pm.register(importlib.import_module(module_path), name=name)
    if entrypoints:
        load_entrypoints(pm, strict=strict)
    pm.check_pending()
    if os.environ.get("THONGBAO_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(lambda msg: log.debug("plugin_trace", message=msg.rstrip()))
        pm.enable_tracing()
    return pm


def load_entrypoints(pm: pluggy.PluginManager, *, strict: bool = False) -> None:
    """Register every plugin of the ``thongbao`` entry-point group.

    A built-in listed there too is already registered and is skipped, so loading it twice
    is harmless. A plugin that fails to import is logged and skipped unless ``strict``.
    """
    allowed = _env_list("THONGBAO_LOAD_PLUGINS")
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            module = ep.load()
        except Exception as exc:
            if strict:
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            log.error("plugin_load_failed", plugin=ep.name, target=ep.value, error=repr(exc))
            continue
        if pm.is_registered(module):
            continue
        pm.register(module, name=ep.name)


def get_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Describe every registered plugin: name, hooks it implements, distribution version."""
    versions = {id(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(name=name, hooks=hooks, version=versions.get(id(plugin))))
    return sorted(infos, key=lambda info: info.name)
