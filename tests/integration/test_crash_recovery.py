"""kill -9 of ``thongbao serve`` in the middle of a 20,000-message send loses nothing.

The service runs as a subprocess with 2-second leases; the stand-in gateway reports every
message delivered on the service's callback route and keeps reports while the service is
down. After the restart every delivery must end ``delivered``; a message the gateway got
twice must show in the store as a send whose outcome was lost (counted, never hidden).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher.keys import Role
from dispatcher.registry import ChannelRegistry
from dispatcher.service import Services
from dispatcher.store.sqlite import SQLiteStore
from schemas import AttemptOutcome, Delivery, DeliveryStatus

from .harness import (
    AREAS,
    Gateway,
    Launcher,
    announcement_body,
    contact_rows,
    free_port,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CONTACTS = 20_000
KILL_AFTER = 3_000
SETTLE_TIMEOUT = 180.0
LOST_OUTCOMES = {AttemptOutcome.UNKNOWN, AttemptOutcome.ABORTED}


class Api:
    """A client of the service's HTTP API with a staff key."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; fails the test unless it answers 2xx, returns the JSON body."""
        kwargs.setdefault("headers", self.headers)
        async with self.session.request(method, self.url + path, **kwargs) as answer:
            assert answer.status < 300, f"{method} {path}: {answer.status} {await answer.text()}"
            return await answer.json()

    async def counts(self, announcement_id: str) -> dict[str, dict[str, int]]:
        """Deliveries per channel and status."""
        announcement = await self.call("GET", f"/v1/announcements/{announcement_id}")
        counts: dict[str, dict[str, int]] = announcement["counts"]
        return counts


async def staff_token(db: Path) -> str:
    """A staff key, written straight into the service's database before it starts."""
    store = SQLiteStore(db)
    await store.open()
    try:
        _, token = await Services(store, ChannelRegistry([])).create_api_key(Role.STAFF, "test")
    finally:
        await store.close()
    return token


async def final_state(db: Path, announcement_id: str) -> list[Delivery]:
    """Every delivery of the announcement, read page by page once the service has stopped."""
    store = SQLiteStore(db)
    await store.open()
    try:
        found: list[Delivery] = []
        after = None
        while True:
            page = await store.list_deliveries(
                announcement_id, status=None, channel=None, after=after, limit=1000
            )
            found += page.items
            if page.next_cursor is None:
                return found
            after = page.next_cursor
    finally:
        await store.close()


async def attempts_of(db: Path, ids: list[str]) -> list[Delivery]:
    """The deliveries ``ids`` with their attempts."""
    store = SQLiteStore(db)
    await store.open()
    try:
        return [await store.get_delivery(i) for i in ids]
    finally:
        await store.close()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """A gateway that accepts everything and reports it delivered."""
    async with Gateway(report=True) as running:
        yield running


async def test_kill_9_mid_send_loses_nothing_and_counts_duplicates(
    tmp_path: Path, gateway: Gateway, launcher: Launcher
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway.callback_url = f"{url}/v1/callbacks/sms/http"
    db = tmp_path / "crash.db"
    config = write_config(
        tmp_path / "thongbao.toml",
        db=db,
        gateway_url=gateway.url(),
        port=port,
        lease_seconds=2,
        poll_interval=0.1,
        retry_initial=0.5,
        shutdown_timeout=5,
    )
    token = await staff_token(db)
    first = await launcher.serve(config, url, name="first")
    async with aiohttp.ClientSession() as session:
        api = Api(session, url, token)
        assert len(AREAS) == (await api.call("POST", "/v1/areas/import", json=AREAS))["accepted"]
        # A body this large goes as a stream: raw bytes over 1 MB warn (and warnings fail).
        rows = io.BytesIO(json.dumps(contact_rows(CONTACTS)).encode())
        imported = await api.call(
            "POST",
            "/v1/contacts/import",
            data=rows,
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert CONTACTS == imported["accepted"]
        announcement = await api.call("POST", "/v1/announcements", json=announcement_body())

        await asyncio.wait_for(gateway.received(KILL_AFTER), timeout=60)
        await Launcher.kill(first)
        assert -9 == first.returncode
        at_kill = gateway.refs.total()

        second = await launcher.serve(config, url, name="second")

        async def all_delivered() -> bool:
            return {"sms": {"delivered": CONTACTS}} == await api.counts(announcement["id"])

        await wait_for("every delivery to be delivered", all_delivered, SETTLE_TIMEOUT)
    assert 0 == await Launcher.stop(second), launcher.log("second")

    deliveries = await final_state(db, announcement["id"])
    twice = sorted(ref for ref, n in gateway.refs.items() if n > 1)
    unexplained = [
        d.id
        for d in await attempts_of(db, twice)
        if d.unknown_count < 1 and not {a.outcome for a in d.attempts} & LOST_OUTCOMES
    ]
    cut = [d.id for d in deliveries if d.unknown_count > 0]
    print(
        f"\ncrash recovery: {at_kill} messages at the kill; {len(cut)} sends cut by it "
        f"(outcome unknown); {len(twice)} deliveries sent twice "
        f"({gateway.refs.total() - len(gateway.refs)} extra messages)"
    )
    assert at_kill < CONTACTS, "the send was over before the kill"
    assert CONTACTS == len(deliveries)
    assert [] == [d.id for d in deliveries if d.status is not DeliveryStatus.DELIVERED]
    assert [] == [d.id for d in deliveries if d.provider_id != f"gw-{d.id}"]
    assert {d.id for d in deliveries} == set(gateway.refs), "a delivery never reached the gateway"
    assert cut, "no send was in flight at the kill"
    assert [] == unexplained, "sent twice without a lost outcome on record"
