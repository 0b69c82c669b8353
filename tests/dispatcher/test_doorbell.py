"""The doorbell: processes on one database ring each other when they queue work."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dispatcher.doorbell import Doorbell, doorbell_folder

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "AF_UNIX"), reason="Unix datagram sockets are needed for the doorbell"
)


class Rings:
    """What one process heard: (urgent, announcement) per answer."""

    def __init__(self) -> None:
        self.heard: list[tuple[bool, bool]] = []
        self.event = asyncio.Event()

    def __call__(self, urgent: bool, announcement: bool) -> None:
        self.heard.append((urgent, announcement))
        self.event.set()

    async def next(self) -> tuple[bool, bool]:
        await asyncio.wait_for(self.event.wait(), 5)
        self.event.clear()
        return self.heard[-1]


def test_the_folder_sits_beside_the_database(tmp_path: Path) -> None:
    assert tmp_path / "thongbao.db-doorbell" == doorbell_folder(tmp_path / "thongbao.db")


async def test_a_ring_reaches_the_others_and_says_what_was_queued(tmp_path: Path) -> None:
    folder = doorbell_folder(tmp_path / "t.db")
    heard_a, heard_b = Rings(), Rings()
    a, b = Doorbell(folder, heard_a), Doorbell(folder, heard_b)
    a.listen()
    b.listen()
    try:
        a.ring(urgent=True)
        assert (True, True) == await heard_b.next()
        a.ring(announcement=False)
        assert (False, False) == await heard_b.next()

        await asyncio.sleep(0.05)
        assert [] == heard_a.heard  # a process does not ring itself
    finally:
        a.close()
        b.close()


async def test_a_process_that_queues_without_sending_rings_but_is_not_rung(
    tmp_path: Path,
) -> None:
    folder = doorbell_folder(tmp_path / "t.db")
    heard = Rings()
    sender, cli = Doorbell(folder, heard), Doorbell(folder, Rings())
    sender.listen()  # a process with workers
    try:
        cli.ring()  # `thongbao send`: rings, binds nothing
        assert (False, True) == await heard.next()
        assert [sender.path] == list(folder.glob("*.sock"))
    finally:
        cli.close()
        sender.close()


async def test_a_socket_left_by_a_dead_process_is_removed_by_the_next_ring(
    tmp_path: Path,
) -> None:
    folder = doorbell_folder(tmp_path / "t.db")
    folder.mkdir()
    dead = folder / "4242-deadbeef.sock"
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(dead))
    gone.close()  # the file stays; nobody reads it any more
    heard = Rings()
    alive = Doorbell(folder, heard)
    alive.listen()
    ringer = Doorbell(folder, Rings())
    try:
        ringer.ring()

        assert (False, True) == await heard.next()
        assert not dead.exists()
    finally:
        ringer.close()
        alive.close()


async def test_closing_removes_the_socket_and_the_folder_of_the_last_process(
    tmp_path: Path,
) -> None:
    folder = doorbell_folder(tmp_path / "t.db")
    first, second = Doorbell(folder, Rings()), Doorbell(folder, Rings())
    first.listen()
    second.listen()

    first.close()
    assert folder.exists()
    second.close()
    second.close()  # twice is fine

    assert not folder.exists()


async def test_a_folder_that_cannot_hold_sockets_leaves_the_doorbell_off(tmp_path: Path) -> None:
    # Unix socket paths are limited to about 100 bytes: polling does the work then.
    folder = tmp_path / ("x" * 120) / "t.db-doorbell"
    bell = Doorbell(folder, Rings())
    bell.listen()
    assert not bell.listening
    bell.ring()  # and ringing is harmless
    bell.close()
