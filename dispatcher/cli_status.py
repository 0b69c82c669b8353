"""``thongbao status`` and ``thongbao deliveries``: where an announcement stands."""

from __future__ import annotations

import asyncio
import sys

import click

from dispatcher.cli_support import CliState, open_services, pass_state, run
from dispatcher.service import Services
from schemas import Announcement, AnnouncementStatus, Delivery, DeliveryStatus

FINISHED = frozenset(
    {AnnouncementStatus.COMPLETED, AnnouncementStatus.CANCELLED, AnnouncementStatus.EXPIRED}
)
_OPEN = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY_WAIT)
_BAR = 20
RECEIPT_GRACE = 10.0


def _bar(done: int, total: int) -> str:
    if not total:
        return f"[{'-' * _BAR}]    -"
    share = done / total
    filled = round(share * _BAR)
    return f"[{'#' * filled}{'-' * (_BAR - filled)}] {share:4.0%}"


def counts_table(announcement: Announcement) -> list[str]:
    """Lines of a table: one row per channel, one column per status that occurs."""
    counts = announcement.counts
    statuses = [s.value for s in DeliveryStatus if any(c.get(s.value) for c in counts.values())]
    rows = [(channel, counts.get(channel, {})) for channel in announcement.channels]
    rows.append(("all", {s: sum(c.get(s, 0) for c in counts.values()) for s in statuses}))
    first = max(len("channel"), *(len(name) for name, _ in rows))
    widths = [max(len(s), 6) for s in statuses]
    head = [f"{'channel':<{first}}", *(f"{s:>{w}}" for s, w in zip(statuses, widths, strict=True))]
    lines = ["  ".join([*head, f"{'total':>6}", "progress"])]
    for name, by_status in rows:
        total = sum(by_status.values())
        done = total - sum(by_status.get(s.value, 0) for s in _OPEN)
        cells = [f"{by_status.get(s, 0):>{w}}" for s, w in zip(statuses, widths, strict=True)]
        lines.append("  ".join([f"{name:<{first}}", *cells, f"{total:>6}", _bar(done, total)]))
    return lines


def status_view(announcement: Announcement) -> list[str]:
    """The announcement's heading and its per-channel counts."""
    a = announcement
    return [
        f"{a.id}  {a.title}",
        f"status: {a.status.value}   priority: {a.priority.value}   mode: {a.mode.value}"
        + ("   test" if a.test else ""),
        "",
        *counts_table(a),
    ]


def _awaiting_receipts(announcement: Announcement) -> bool:
    return any(by.get(DeliveryStatus.SENT.value) for by in announcement.counts.values())


async def _watch(services: Services, announcement_id: str, interval: float, as_json: bool) -> None:
    """Redraw the view until the announcement is finished (on a terminal, in place).

    A finished announcement may still have receipts on the way; the view waits for them
    while they keep coming, up to ``RECEIPT_GRACE`` seconds after the last change.
    """
    loop = asyncio.get_running_loop()
    redraw = sys.stdout.isatty() and not as_json
    shown: list[str] = []
    changed_at = loop.time()
    while True:
        announcement = await services.get_announcement(announcement_id)
        lines = [announcement.model_dump_json()] if as_json else status_view(announcement)
        if lines != shown:
            if redraw and shown:
                # Up to the first line of the last view, then clear to the end of the screen.
                click.echo(f"\x1b[{len(shown)}A\r\x1b[J", nl=False)
            elif shown and not as_json:
                click.echo()
            click.echo("\n".join(lines))
            shown, changed_at = lines, loop.time()
        if announcement.status in FINISHED and (
            not _awaiting_receipts(announcement) or loop.time() - changed_at > RECEIPT_GRACE
        ):
            return
        await asyncio.sleep(interval)


@click.command(short_help="Show an announcement's progress per channel.")
@click.argument("announcement_id")
@click.option("--json", "as_json", is_flag=True, help="Print the announcement as JSON.")
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Redraw until the announcement is finished (default: on a terminal, while it sends).",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes when watching.",
)
@pass_state
def status(
    state: CliState, announcement_id: str, as_json: bool, watch: bool | None, interval: float
) -> None:
    """Show an announcement's deliveries per channel and status."""

    async def show() -> None:
        async with open_services(state.settings) as services:
            announcement = await services.get_announcement(announcement_id)
            sending = announcement.status not in FINISHED
            on_screen = sys.stdout.isatty() and not as_json
            watching = watch if watch is not None else on_screen and sending
            if watching:
                await _watch(services, announcement_id, interval, as_json)
            elif as_json:
                click.echo(announcement.model_dump_json(indent=2))
            else:
                click.echo("\n".join(status_view(announcement)))

    run(show())


async def _collect(
    services: Services,
    announcement_id: str,
    status: DeliveryStatus | None,
    channel: str | None,
    limit: int,
) -> list[Delivery]:
    found: list[Delivery] = []
    after = None
    while len(found) < limit:
        page = await services.list_deliveries(
            announcement_id,
            status=status,
            channel=channel,
            after=after,
            limit=min(500, limit - len(found)),
        )
        found.extend(page.items)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    return found


def _delivery_line(d: Delivery) -> str:
    reason = f"  {d.reason}" if d.reason else ""
    return (
        f"{d.id}  {d.channel:<11} {d.status.value:<10} {d.attempt_count:>3}  "
        f"{d.address:<24} {d.contact_id or '-':<12}{reason}"
    )


@click.command(short_help="List an announcement's deliveries.")
@click.argument("announcement_id")
@click.option(
    "--status",
    "status_",
    type=click.Choice([s.value for s in DeliveryStatus]),
    help="Only deliveries in this status.",
)
@click.option("--channel", help="Only deliveries on this channel.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Most deliveries to list.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def deliveries(
    state: CliState,
    announcement_id: str,
    status_: str | None,
    channel: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List an announcement's deliveries: channel, status, attempts, address, contact."""

    async def fetch() -> list[Delivery]:
        async with open_services(state.settings) as services:
            wanted = DeliveryStatus(status_) if status_ else None
            return await _collect(services, announcement_id, wanted, channel, limit)

    for delivery in run(fetch()):
        click.echo(delivery.model_dump_json() if as_json else _delivery_line(delivery))
