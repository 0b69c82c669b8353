"""The doorbell: processes on one database wake each other when they queue work.

``thongbao serve`` and ``thongbao worker`` processes on one SQLite file otherwise find new
work by polling (``worker.poll_interval``). A process whose workers send binds a Unix
datagram socket in ``<database file>-doorbell/`` (beside SQLite's own ``-wal`` and
``-shm`` files); a process that queues work (an announcement posted, a fan-out batch
written, a fallback step) sends one byte to every other socket there, saying whether the
work is urgent and whether it is an announcement to release (or deliveries to send), and
each process rung looks at once.

Nothing depends on it: a ring that is lost (a full socket buffer, a process starting)
costs at most one poll interval. Where Unix datagram sockets are missing (Windows) or
the path is too long for one, the doorbell stays off and polling does the work. A socket
left by a process that died is removed by the first ring that finds nobody behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# One byte a ring: these flags or'ed.
URGENT = 1  # an emergency or high-priority announcement
ANNOUNCEMENT = 2  # an announcement to release (schedulers look), not only deliveries to send


def doorbell_folder(database: Path) -> Path:
    """The folder of the sockets of every process on the SQLite file ``database``."""
    return database.with_name(database.name + "-doorbell")


class Doorbell:
    """This process's socket in ``folder``, and ringing the others'.

    Args:
        folder: where every process on the same database keeps its socket.
        on_ring: called as ``on_ring(urgent, announcement)`` when another process rang
            (several rings that arrived together are answered once, their flags or'ed).
    """

    def __init__(self, folder: Path, on_ring: Callable[[bool, bool], None]) -> None:
        self.folder = folder
        self.on_ring = on_ring
        self.path: Path | None = None
        self._listener: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def listening(self) -> bool:
        """Whether other processes can ring this one."""
        return self._listener is not None

    def listen(self) -> None:
        """Bind this process's socket and answer rings in the running loop; logs and stays
        off where that cannot be done."""
        if self._listener is not None or not hasattr(socket, "AF_UNIX"):
            return
        path = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            listener.setblocking(False)
            listener.bind(str(path))
        except OSError as exc:
            listener.close()
            log.warning("doorbell_off", folder=str(self.folder), error=str(exc))
            return
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(listener.fileno(), self._answer)
        self._listener, self.path = listener, path

    def ring(self, urgent: bool = False, *, announcement: bool = True) -> None:
        """Tell every other process on the database that work was queued: an announcement
        (or, with ``announcement=False``, deliveries of one already released)."""
        if not hasattr(socket, "AF_UNIX"):
            return
        try:
            others = [p for p in self.folder.glob("*.sock") if p != self.path]
        except OSError:
            return
        if not others:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        flags = bytes([(URGENT if urgent else 0) | (ANNOUNCEMENT if announcement else 0)])
        for other in others:
            try:
                self._sender.sendto(flags, str(other))
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody behind it: its process died without closing.
                with contextlib.suppress(OSError):
                    other.unlink()
            except OSError:
                pass  # a full buffer: it has been rung already, and polls anyway

    def close(self) -> None:
        """Stop answering and remove this process's socket; safe to call twice."""
        listener, self._listener = self._listener, None
        if listener is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(listener.fileno())
            listener.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # when it was the last process's
            self.path = None
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()

    def _answer(self) -> None:
        assert self._listener is not None
        rung, flags = False, 0
        while True:
            try:
                data = self._listener.recv(16)
            except OSError:  # BlockingIOError: nothing more to read
                break
            rung = True
            flags |= data[0] if data else 0
        if rung:
            self.on_ring(bool(flags & URGENT), bool(flags & ANNOUNCEMENT))
