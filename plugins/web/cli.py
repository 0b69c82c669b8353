"""``thongbao web …``: manage webhook subscriptions and show the signing secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from pydantic import ValidationError

from dispatcher import Dispatcher, PluginState, Priority, Settings, cli_settings
from plugins.web.keys import signing_secrets
from plugins.web.settings import WebSettings
from plugins.web.subscriptions import Filters, Subscription, SubscriptionIn, Subscriptions

T = TypeVar("T")


def _web_settings(settings: Settings) -> WebSettings:
    return WebSettings.model_validate(settings.channels.get("web", {}))


def _run(settings: Settings, work: Callable[[Subscriptions, Dispatcher], Awaitable[T]]) -> T:
    async def main() -> T:
        # Only the store is opened: no channel starts and nothing is sent.
        engine = Dispatcher(settings)
        await engine.store.open()
        try:
            state = PluginState(engine.store, "web", engine.services.clock)
            return await work(Subscriptions(state), engine)
        finally:
            await engine.store.close()

    return asyncio.run(main())


def _line(sub: Subscription) -> str:
    state = "active" if sub.active else f"disabled ({sub.disabled_reason})"
    f = sub.filters
    wanted = ", ".join(
        part
        for part in (
            f"areas={','.join(f.areas)}" if f.areas else "",
            f"priorities={','.join(p.value for p in f.priorities)}" if f.priorities else "",
            f"tags={','.join(f.tags)}" if f.tags else "",
            "test" if sub.accept_test else "",
        )
        if part
    )
    return f"{sub.id}  {sub.url}  {state}  {wanted or 'everything'}"


@click.group(name="web", short_help="Web channel: webhook subscriptions.")
def web_group() -> None:
    """Webhook subscriptions and signing secrets of the web channel."""


@web_group.command(name="subscribe")
@click.argument("url")
@click.option("--area", "areas", multiple=True, help="Area code (repeat); none: every area.")
@click.option(
    "--priority",
    "priorities",
    multiple=True,
    type=click.Choice([p.value for p in Priority]),
    help="Priority (repeat); none: every priority.",
)
@click.option("--tag", "tags", multiple=True, help="Tag (repeat); none: any tags.")
@click.option("--accept-test", is_flag=True, help="Also receive test announcements.")
@click.option("--description", default="", help="Who this is, for operators.")
@click.pass_context
def subscribe(
    ctx: click.Context,
    url: str,
    areas: tuple[str, ...],
    priorities: tuple[str, ...],
    tags: tuple[str, ...],
    accept_test: bool,
    description: str,
) -> None:
    """Subscribe URL to announcements; prints the subscription and its secret (once)."""
    try:
        data = SubscriptionIn(
            url=url,
            description=description,
            filters=Filters(
                areas=list(areas), priorities=[Priority(p) for p in priorities], tags=list(tags)
            ),
            accept_test=accept_test,
        )
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"], param_hint="URL") from None

    async def work(subs: Subscriptions, engine: Dispatcher) -> tuple[Subscription, str]:
        if (refused := engine.services.outbound.url_problem(data.url)) is not None:
            raise click.BadParameter(refused, param_hint="URL")
        unknown = sorted(set(areas) - await engine.store.known_areas(list(areas)))
        if unknown:
            raise click.BadParameter(f"no such area: {', '.join(unknown)}", param_hint="--area")
        return await subs.create(data)

    sub, secret = _run(cli_settings(ctx), work)
    click.echo(_line(sub))
    click.echo(f"secret: {secret}")
    click.echo("Give the secret to the receiver now: it is not shown again.", err=True)


@web_group.command(name="subscriptions")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_subscriptions(ctx: click.Context, as_json: bool) -> None:
    """List webhook subscriptions (never their secrets)."""

    async def work(subs: Subscriptions, engine: Dispatcher) -> list[Subscription]:
        return await subs.all()

    for sub in _run(cli_settings(ctx), work):
        click.echo(json.dumps(sub.public(), ensure_ascii=False) if as_json else _line(sub))


@web_group.command(name="rotate")
@click.argument("sub_id")
@click.option(
    "--overlap",
    type=click.FloatRange(min=0),
    help="Seconds the current secret keeps signing too (default: rotation_overlap).",
)
@click.pass_context
def rotate(ctx: click.Context, sub_id: str, overlap: float | None) -> None:
    """Give SUB_ID a new secret; prints it (once)."""
    settings = cli_settings(ctx)
    seconds = _web_settings(settings).rotation_overlap if overlap is None else overlap

    async def work(subs: Subscriptions, engine: Dispatcher) -> tuple[Subscription, str] | None:
        return await subs.rotate(sub_id, seconds)

    rotated = _run(settings, work)
    if rotated is None:
        raise click.ClickException(f"no subscription {sub_id}: see `thongbao web subscriptions`")
    click.echo(f"secret: {rotated[1]}")
    click.echo(f"The previous secret keeps signing for {seconds:g} s.", err=True)


@web_group.command(name="unsubscribe")
@click.argument("sub_id")
@click.pass_context
def unsubscribe(ctx: click.Context, sub_id: str) -> None:
    """Remove subscription SUB_ID."""

    async def work(subs: Subscriptions, engine: Dispatcher) -> bool:
        return await subs.delete(sub_id)

    if not _run(cli_settings(ctx), work):
        raise click.ClickException(f"no subscription {sub_id}: see `thongbao web subscriptions`")
    click.echo(f"removed {sub_id}")


@web_group.command(name="enable")
@click.argument("sub_id")
@click.pass_context
def enable(ctx: click.Context, sub_id: str) -> None:
    """Enable SUB_ID again after a 410 Gone disabled it."""

    async def work(subs: Subscriptions, engine: Dispatcher) -> Subscription | None:
        return await subs.set_active(sub_id, True)

    sub = _run(cli_settings(ctx), work)
    if sub is None:
        raise click.ClickException(f"no subscription {sub_id}: see `thongbao web subscriptions`")
    click.echo(_line(sub))


@web_group.command(name="signing-secret")
@click.pass_context
def signing_secret(ctx: click.Context) -> None:
    """Print the secret(s) that sign status callbacks (give them to the systems that
    post announcements with a callback)."""
    settings = cli_settings(ctx)
    data_dir = Path(settings.data_dir) / "channels" / "web"
    for secret in signing_secrets(_web_settings(settings), data_dir):
        click.echo(secret)
