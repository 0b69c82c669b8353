"""Which announcements update which: documents ``upd:<id>`` listing the ids of the
announcements released with ``updates = <id>``, so an earlier page can link its updates."""

from __future__ import annotations

from dispatcher import PluginState

PREFIX = "upd:"


class UpdateIndex:
    """The index, in the web channel's plugin state."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    async def add(self, updated: str, update: str) -> None:
        """Record that ``update`` updates ``updated`` (a repeat changes nothing)."""
        while True:
            entry = await self.state.entry(PREFIX + updated)
            ids: list[str] = [] if entry is None else list(entry.value.get("ids", []))
            if update in ids:
                return
            version = 0 if entry is None else entry.version
            if await self.state.put(
                PREFIX + updated, {"ids": [*ids, update]}, expect_version=version
            ):
                return

    async def updates_of(self, announcement_id: str) -> list[str]:
        """Ids of the announcements that update ``announcement_id``, oldest first."""
        found = await self.state.get(PREFIX + announcement_id)
        return [] if found is None else list(found.get("ids", []))
