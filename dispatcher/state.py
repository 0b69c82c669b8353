"""What a plugin keeps in the store: JSON documents under its own namespace, and leases.

A channel gets a :class:`PluginState` as ``ctx.state``; a route handler builds one with
``PluginState(services(request).store, "zalo", clock)``. Documents survive restarts and are
shared by every process on the store; :meth:`PluginState.lease` serialises work (a token
refresh) across tasks and processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from dispatcher.clock import Clock
from dispatcher.errors import DispatcherError
from dispatcher.store.base import StateEntry, Store


class LeaseTimeoutError(DispatcherError):
    """Another task or process held the lease for longer than we were willing to wait."""


class PluginState:
    """A plugin's documents in the store, under ``namespace`` (the plugin's name).

    Args:
        store: the open store.
        namespace: keeps one plugin's keys apart from another's.
        clock: time source for ``updated_at`` and lease expiry.
    """

    def __init__(self, store: Store, namespace: str, clock: Clock | None = None) -> None:
        self.store = store
        self.namespace = namespace
        self.clock = clock or Clock()

    async def get(self, key: str) -> dict[str, Any] | None:
        """The document under ``key``, or None."""
        entry = await self.store.state_get(self.namespace, key)
        return None if entry is None else entry.value

    async def entry(self, key: str) -> StateEntry | None:
        """The document with its version, for :meth:`put` with ``expect_version``."""
        return await self.store.state_get(self.namespace, key)

    async def put(
        self, key: str, value: dict[str, Any], *, expect_version: int | None = None
    ) -> int | None:
        """Write ``value``; returns the new version, or None when ``expect_version`` (0 for
        "not there yet") no longer matches because someone else wrote first."""
        return await self.store.state_put(
            self.namespace, key, value, now=self.clock.now(), expect_version=expect_version
        )

    async def delete(self, key: str) -> bool:
        """Remove the document under ``key``; False if there was none."""
        return await self.store.state_delete(self.namespace, key)

    async def items(self, prefix: str = "", *, page: int = 1000) -> AsyncIterator[StateEntry]:
        """Every document whose key starts with ``prefix``, in key order, a page at a time."""
        after: str | None = None
        while True:
            found = await self.store.state_items(
                self.namespace, prefix=prefix, after=after, limit=page
            )
            for entry in found:
                yield entry
            if len(found) < page:
                return
            after = found[-1].key

    @asynccontextmanager
    async def lease(
        self, name: str, *, ttl: float = 30.0, wait: float = 30.0, poll: float = 0.05
    ) -> AsyncIterator[None]:
        """Hold the lease ``name`` (namespaced) while the block runs.

        Only one holder at a time across every task and process on the store. A holder that
        dies loses the lease after ``ttl`` seconds. Waits up to ``wait`` seconds (real time)
        for it, then raises :class:`LeaseTimeoutError`.
        """
        full = f"{self.namespace}:{name}"
        owner = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            now = self.clock.now()
            if await self.store.acquire_lease(
                full, owner, now=now, until=now + timedelta(seconds=ttl)
            ):
                break
            if loop.time() >= deadline:
                raise LeaseTimeoutError(
                    f"lease {full!r} stayed held by another worker for {wait:g} s; "
                    "check for a stuck worker, or wait until it expires"
                )
            await asyncio.sleep(poll)
        try:
            yield
        finally:
            await asyncio.shield(self.store.release_lease(full, owner))
