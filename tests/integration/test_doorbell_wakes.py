"""A running ``thongbao worker`` takes what another process queues at once, not at its next
poll: the queuing process rings it (``dispatcher/doorbell.py``).

The worker polls once a minute here, so only the ring can explain a send within the wait.
The announcement is queued the way ``thongbao send`` queues one: through the CLI's
``open_services`` on the same database file, in this (other) process.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dispatcher.cli_support import open_services
from dispatcher.config import load_settings
from schemas import AnnouncementIn

from .harness import (
    AREAS,
    Gateway,
    Launcher,
    announcement_body,
    contact_rows,
    wait_for,
    write_config,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not hasattr(socket, "AF_UNIX"), reason="the doorbell needs Unix datagram sockets"
    ),
]

CONTACTS = 50
POLL = 60.0  # seconds between the worker's own looks for work
WAIT = 20.0  # well under one poll


@pytest.mark.parametrize("priority", ["normal", "emergency"])
async def test_a_worker_sends_what_the_cli_queues_without_waiting_for_its_poll(
    tmp_path: Path, launcher: Launcher, priority: str
) -> None:
    db = tmp_path / "shared.db"
    async with Gateway() as gateway:
        config = write_config(
            tmp_path / "worker.toml", db=db, gateway_url=gateway.url(), poll_interval=POLL
        )
        settings = load_settings(config)
        async with open_services(settings) as services:
            assert len(AREAS) == (await services.import_areas(AREAS)).accepted
            assert CONTACTS == (await services.import_contacts(contact_rows(CONTACTS))).accepted
        worker = await launcher.start(config, "worker", name="worker")

        async def listening() -> bool:
            if worker.returncode is not None:
                pytest.fail("the worker exited:\n" + launcher.log("worker"))
            return any((tmp_path / "shared.db-doorbell").glob("*.sock"))

        await wait_for("the worker to open its doorbell", listening, timeout=30)
        # Past the worker's first looks at startup: from here on it would wait POLL seconds.
        await asyncio.sleep(2.0)
        async with open_services(settings) as services:
            data = AnnouncementIn.model_validate(announcement_body(priority=priority))
            announcement, _ = await services.create_announcement(data)

            async def all_sent() -> bool:
                counts = (await services.get_announcement(announcement.id)).counts
                return {"sms": {"sent": CONTACTS}} == counts

            await wait_for("every delivery to be sent", all_sent, WAIT)
        assert 0 == await Launcher.stop(worker), launcher.log("worker")
    assert CONTACTS == len(gateway.refs)
