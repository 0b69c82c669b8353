"""Two ``thongbao worker`` processes on one SQLite file never send a delivery twice.

Both workers run their own scheduler and senders; each posts to its own lane of the
stand-in gateway, so the test can tell that both took part. The announcement is written
into the file only once both are running, so they race for it from its first moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatcher.plugins import make_plugin_manager
from dispatcher.registry import ChannelRegistry
from dispatcher.service import Services
from dispatcher.store.sqlite import SQLiteStore
from schemas import AnnouncementIn, AttemptOutcome, Delivery

from .harness import (
    AREAS,
    Gateway,
    Launcher,
    announcement_body,
    contact_rows,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

CONTACTS = 5_000
LANES = ("a", "b")
SETTLE_TIMEOUT = 120.0


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """Services over the shared database file, with the built-in channels registered."""
    store = SQLiteStore(tmp_path / "shared.db")
    await store.open()
    registry = ChannelRegistry.from_plugins(make_plugin_manager(entrypoints=False))
    yield Services(store, registry)
    await store.close()


async def all_deliveries(services: Services, announcement_id: str) -> list[Delivery]:
    """Every delivery of the announcement, with its attempts."""
    found: list[Delivery] = []
    after = None
    while True:
        page = await services.list_deliveries(announcement_id, after=after, limit=500)
        found += [await services.get_delivery(d.id) for d in page.items]
        if page.next_cursor is None:
            return found
        after = page.next_cursor


async def test_two_worker_processes_send_each_delivery_once(
    tmp_path: Path, services: Services, launcher: Launcher
) -> None:
    assert len(AREAS) == (await services.import_areas(AREAS)).accepted
    assert CONTACTS == (await services.import_contacts(contact_rows(CONTACTS))).accepted
    async with Gateway() as gateway:
        workers = []
        for lane in LANES:
            config = write_config(
                tmp_path / f"worker-{lane}.toml",
                db=tmp_path / "shared.db",
                gateway_url=gateway.url(lane),
                poll_interval=0.1,
            )
            workers.append(await launcher.start(config, "worker", name=f"worker-{lane}"))

        async def running() -> bool:
            outs = [(tmp_path / f"worker-{lane}.out").read_text() for lane in LANES]
            if any(w.returncode is not None for w in workers):
                logs = [launcher.log(f"worker-{lane}") for lane in LANES]
                pytest.fail("a worker exited:\n" + "\n".join(logs))
            return all("thongbao working on" in out for out in outs)

        await wait_for("both workers to start", running, timeout=30)
        data = AnnouncementIn.model_validate(announcement_body(priority="bulk"))
        announcement, _ = await services.create_announcement(data)

        async def all_sent() -> bool:
            counts = (await services.get_announcement(announcement.id)).counts
            return {"sms": {"sent": CONTACTS}} == counts

        await wait_for("every delivery to be sent", all_sent, SETTLE_TIMEOUT)
        codes = [await Launcher.stop(w) for w in workers]
    assert [0, 0] == codes, [launcher.log(f"worker-{lane}") for lane in LANES]

    deliveries = await all_deliveries(services, announcement.id)
    print(f"\ntwo workers: messages per worker {dict(gateway.paths)}")
    assert CONTACTS == len(deliveries)
    assert {d.id for d in deliveries} == set(gateway.refs)
    assert {} == {ref: n for ref, n in gateway.refs.items() if n > 1}, "a ref arrived twice"
    assert all(gateway.paths[lane] > 0 for lane in LANES), "one worker did all the work"
    assert [] == [d.id for d in deliveries if not sent_once(d)]


def sent_once(delivery: Delivery) -> bool:
    """Whether ``delivery`` went out in exactly one attempt, accepted, with nothing lost."""
    attempts = [(a.number, a.outcome) for a in delivery.attempts]
    return (
        [(1, AttemptOutcome.ACCEPTED)] == attempts
        and (1, 0) == (delivery.attempt_count, delivery.unknown_count)
        and f"gw-{delivery.id}" == delivery.provider_id
    )
