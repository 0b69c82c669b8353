"""``thongbao loudspeaker …``: import the registry, print a day's programme, upload audio."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from dispatcher import Dispatcher, PluginState, Settings, cli_settings
from plugins.loudspeaker import programme
from plugins.loudspeaker.broadcast import Broadcaster
from plugins.loudspeaker.registry import parse_rows
from plugins.loudspeaker.settings import LoudspeakerSettings
from plugins.loudspeaker.speech import BadRecordingError, Speech

T = TypeVar("T")


def _channel_settings(settings: Settings) -> LoudspeakerSettings:
    return LoudspeakerSettings.model_validate(settings.channels.get("loudspeaker", {}))


@asynccontextmanager
async def _broadcaster(settings: Settings) -> AsyncIterator[tuple[Broadcaster, Dispatcher]]:
    # Only the store is opened: no channel starts and nothing is sent.
    engine = Dispatcher(settings)
    await engine.store.open()
    try:
        state = PluginState(engine.store, "loudspeaker", engine.services.clock)
        yield (
            Broadcaster(
                _channel_settings(settings),
                state,
                engine.services,
                engine.services.clock,
                settings.public_url,
                {},
            ),
            engine,
        )
    finally:
        await engine.store.close()


def _run(settings: Settings, work: Callable[[Broadcaster, Dispatcher], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _broadcaster(settings) as (broadcaster, engine):
            return await work(broadcaster, engine)

    return asyncio.run(main())


@click.group(name="loudspeaker", short_help="Loudspeaker clusters and programmes.")
def loudspeaker_group() -> None:
    """Tools of the loudspeaker channel."""


@loudspeaker_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="default: by suffix")
@click.pass_context
def import_clusters(ctx: click.Context, file: Path, fmt: str | None) -> None:
    """Import loudspeaker clusters from FILE (CSV with a header row, or a JSON list).

    Every row is checked first; nothing is written unless all are good."""
    fmt = fmt or ("json" if file.suffix.lower() == ".json" else "csv")
    try:
        rows = parse_rows(file.read_text(encoding="utf-8-sig"), fmt)
    except ValueError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc

    async def work(broadcaster: Broadcaster, engine: Dispatcher) -> Any:
        return await broadcaster.book.import_rows(rows)

    report = _run(cli_settings(ctx), work)
    for row, message in report.errors:
        click.echo(f"row {row}: {message}", err=True)
    if not report.ok:
        click.echo(f"{len(report.errors)} bad row(s) of {len(rows)}: nothing imported", err=True)
        sys.exit(1)
    click.echo(f"{report.accepted} cluster(s) imported")


@loudspeaker_group.command(name="programme")
@click.option("--commune", required=True, help="area code of the commune (or any area)")
@click.option("--date", "day", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--html", "as_html", is_flag=True, help="a printable HTML page")
@click.pass_context
def show_programme(ctx: click.Context, commune: str, day: Any, as_html: bool) -> None:
    """Print what each cluster of COMMUNE plays in each slot on DATE."""

    async def work(broadcaster: Broadcaster, engine: Dispatcher) -> dict[str, Any]:
        subtree = await engine.store.area_subtree([commune])
        return await programme.build(
            broadcaster, subtree, commune, date.fromordinal(day.toordinal())
        )

    found = _run(cli_settings(ctx), work)
    click.echo(programme.as_html(found) if as_html else programme.as_text(found), nl=False)


@loudspeaker_group.command(name="upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def upload(ctx: click.Context, file: Path) -> None:
    """Keep a WAV recording; prints the id to give as content.loudspeaker.options.recording."""
    settings = cli_settings(ctx)
    speech = Speech(
        settings.data_dir / "channels" / "loudspeaker" / "audio",
        _channel_settings(settings).speech,
    )
    try:
        kept = speech.keep_recording(file.read_bytes())
    except BadRecordingError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    click.echo(f"{kept.name.removesuffix('.wav')}  ({kept.duration:.1f} s)")
