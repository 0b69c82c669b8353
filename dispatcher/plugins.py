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
    ``THONGBAO_TRACE_PLUGINS=1`` logs every hook call (event ``plugin_trace``).

    Args:
        entrypoints: also load the ``thongbao`` entry-point group.
        strict: re-raise a plugin's import error instead of logging and skipping it.

    Returns:
        The plugin manager, every implementation checked against the hookspecs.

    Raises:
        PluginError: a plugin failed to import (``strict`` only), or implements a hook
            that does not exist (a misspelling, whatever ``strict`` says).
    """
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    blocked = _env_list("THONGBAO_DISABLE_PLUGINS") or set()
    for name in blocked:
        pm.set_blocked(name)
    for module_path in DEFAULT_PLUGINS:
        name = module_path.rsplit(".", 1)[-1]
        if not (pm.is_blocked(name) or pm.has_plugin(name)):
            pm.register(importlib.import_module(module_path), name=name)
    if entrypoints:
        load_entrypoints(pm, strict=strict)
    _check_pending(pm)
    if os.environ.get("THONGBAO_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(lambda msg: log.debug("plugin_trace", message=msg.rstrip()))
        pm.enable_tracing()
    return pm


def _check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = exc.plugin
        name = pm.get_name(plugin) or repr(plugin)
        module = getattr(plugin, "__name__", type(plugin).__module__)
        callers = vars(pm.hook).items()
        unknown = sorted(
            n
            for n, c in callers
            if not c.has_spec() and any(i.plugin is plugin for i in c.get_hookimpls())
        )
        known = sorted(n for n, c in callers if c.has_spec())
        raise PluginError(
            f"plugin {name!r} ({module}) implements unknown hook(s) {', '.join(unknown)}; "
            f"thongbao's hooks are {', '.join(known)}: fix the name, or disable the plugin "
            f"with THONGBAO_DISABLE_PLUGINS={name}"
        ) from exc


def load_entrypoints(pm: pluggy.PluginManager, *, strict: bool = False) -> None:
    """Register every plugin of the ``thongbao`` entry-point group.

    A built-in listed there too is already registered and is skipped, so loading it twice
    is harmless. A plugin that fails to import is logged (``plugin_load_failed``) and
    skipped unless ``strict``. pluggy records each plugin's distribution, which
    :func:`get_plugins` reports as its version.

    Raises:
        PluginError: with ``strict``, for the first plugin that fails to import.
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
        if not pm.is_registered(module):
            # Loading through pluggy (the module is imported already) records the
            # distribution, so ``list_plugin_distinfo`` knows the plugin's version.
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep.name)


def _builtin_version() -> str | None:
    try:
        return importlib.metadata.version("thongbao")
    except importlib.metadata.PackageNotFoundError:  # a source checkout, not installed
        return None


def get_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Describe every registered plugin: name, hooks it implements, distribution version.

    A built-in registered by module path has thongbao's own version (None when thongbao
    is not installed); a plugin registered by hand has none.
    """
    versions = {id(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()}
    builtin = _builtin_version()
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        version = versions.get(id(plugin))
        if version is None and getattr(plugin, "__name__", None) in DEFAULT_PLUGINS:
            version = builtin
        infos.append(PluginInfo(name=name, hooks=hooks, version=version))
    return sorted(infos, key=lambda info: info.name)
