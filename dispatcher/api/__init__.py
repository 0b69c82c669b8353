"""The HTTP API of thongbao: JSON over aiohttp, Bearer API keys, RFC 9457 problems."""

from __future__ import annotations

from dispatcher.api.app import make_app

__all__ = ["make_app"]
