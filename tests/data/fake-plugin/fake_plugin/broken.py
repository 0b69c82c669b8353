"""A plugin that cannot be imported: its dependency is missing."""

from __future__ import annotations

raise ImportError("fake_plugin.broken needs 'thongbao-missing-dependency', which is not installed")
