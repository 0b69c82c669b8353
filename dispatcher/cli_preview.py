"""``thongbao preview``: what a draft would send, per channel, before it is queued."""

from __future__ import annotations

from typing import IO, Any

import click

from dispatcher.cli_send import draft_options, read_draft
from dispatcher.cli_support import CliState, open_services, pass_state, run
from schemas import ChannelPreview, Preview


def _describe(channel: ChannelPreview) -> list[str]:
    lines = [f"{channel.channel}: {channel.recipients} recipient(s)"]
    lines += [f"  suppressed, {reason}: {n}" for reason, n in sorted(channel.suppressed.items())]
    lines += [f"  {key}: {value}" for key, value in channel.details.items()]
    lines += [f"  PROBLEM: {problem}" for problem in channel.problems]
    lines += ["  text:"] + [f"    {line}" for line in channel.text.splitlines() or [""]]
    return lines


def render_preview(preview: Preview) -> str:
    """The preview as text for people."""
    lines = [line for channel in preview.channels for line in _describe(channel)]
    lines.append(
        f"total: {preview.recipients} deliveries, {preview.duplicates} duplicate(s) merged"
    )
    return "\n".join(lines)


@click.command(short_help="Show what a draft would send, per channel; sends nothing.")
@draft_options
@click.option("--as-json", "as_json", is_flag=True, help="Print the preview as JSON.")
@pass_state
def preview(
    state: CliState,
    /,
    body_file: IO[str] | None,
    json_file: IO[str] | None,
    as_json: bool,
    **opts: Any,
) -> None:
    """Show, per channel, the text the first recipient would get, the channel's details
    (SMS: encoding and segments), any problem, and how many people it would reach or
    suppress and why. Exits 1 when a channel would refuse the text.

    \b
    Example:
      thongbao preview --title "Cúp nước" --body "…" --channel sms --area 79
    """
    data = read_draft(body_file, json_file, opts)

    async def compute() -> Preview:
        async with open_services(state.settings) as services:
            return await services.preview(data)

    result = run(compute())
    click.echo(result.model_dump_json(indent=2) if as_json else render_preview(result))
    if any(channel.problems for channel in result.channels):
        raise SystemExit(1)
