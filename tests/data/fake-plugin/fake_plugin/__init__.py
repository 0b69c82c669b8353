"""A third-party thongbao plugin, "installed" by its ``.dist-info`` beside it (tests only)."""
