"""``thongbao email import-bounces MBOX``: apply the bounces a mailbox file collected."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import click

from dispatcher import Dispatcher, Settings, cli_settings
from plugins.email.bounce import (
    Bounce,
    BounceReport,
    NotADsnError,
    apply_bounces,
    parse_dsn,
)
from plugins.email.settings import EmailSettings


def read_mbox(path: Path) -> tuple[list[Bounce], int]:
    """Every DSN recipient block in the mbox ``path``, and how many messages were not DSNs."""
    bounces: list[Bounce] = []
    others = 0
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            try:
                bounces.extend(parse_dsn(box.get_bytes(key)))
            except NotADsnError:
                others += 1
    finally:
        box.close()
    return bounces, others


@click.group(name="email", short_help="E-mail channel tools.")
def email_group() -> None:
    """Tools of the e-mail channel."""


@email_group.command(name="import-bounces")
@click.argument("mbox", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_bounces(ctx: click.Context, mbox: Path) -> None:
    """Read the bounces (RFC 3464 DSNs) in the mbox file MBOX: hard bounces fail their
    deliveries, and addresses with too many are opted out of e-mail."""
    bounces, others = read_mbox(mbox)
    settings = cli_settings(ctx)
    limit = EmailSettings.model_validate(settings.channels.get("email", {})).bounce_limit
    report = asyncio.run(_apply(settings, bounces, limit))
    click.echo(
        f"{report.hard} hard bounce(s), {report.applied} delivery(ies) marked failed, "
        f"{report.ignored} other report(s), {others} message(s) not a bounce"
    )
    for address in report.opted_out:
        click.echo(f"opted out: {address}")


async def _apply(settings: Settings, bounces: list[Bounce], limit: int) -> BounceReport:
    # Only the store is opened: no channel starts and nothing is sent.
    engine = Dispatcher(settings)
    await engine.store.open()
    try:
        return await apply_bounces(engine.services, bounces, limit)
    finally:
        await engine.store.close()
