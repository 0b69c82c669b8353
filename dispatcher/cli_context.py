"""What a plugin's command needs from the ``thongbao`` command it runs under."""

from __future__ import annotations

import click

from dispatcher.config import Settings


def cli_settings(ctx: click.Context) -> Settings:
    """The settings of the running ``thongbao`` command (its ``--config`` and ``--db``
    options, the environment and the file), loaded on first use."""
    settings: Settings = ctx.find_root().obj.settings
    return settings
