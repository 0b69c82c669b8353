"""Secrets a plugin makes once and keeps in its data folder when none is configured."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``; when missing, one from ``make()`` is written there first,
    readable by the owner only. Two processes starting at once end up with the same one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as file:
            file.write(make())
    return path.read_text().strip()
