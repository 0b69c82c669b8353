"""Calling observer hooks: each implementation on its own, awaited when it is async.

An observer that raises is logged and skipped; it never fails a delivery nor keeps the
other observers from running.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy
import structlog

log = structlog.get_logger(__name__)


async def notify(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of observer hook ``hook_name`` with ``kwargs``."""
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        try:
            result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.error("observer_failed", hook=hook_name, plugin=impl.plugin_name, error=repr(exc))
