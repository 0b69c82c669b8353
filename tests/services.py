"""Local services some tests need (Mosquitto, PostgreSQL): whether they answer, and the
skip that says so, or the failure CI makes of it."""

from __future__ import annotations

import os
import socket

import pytest


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def need_service(available: bool, what: str) -> None:
    """Skip when ``what`` is missing, or fail under THONGBAO_REQUIRE_SERVICES=1 (CI)."""
    if available:
        return
    if os.environ.get("THONGBAO_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (THONGBAO_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} is not available here; CI runs this test")
