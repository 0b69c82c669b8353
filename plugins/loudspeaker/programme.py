"""The day's programme of a commune: what each of its clusters plays in each slot.

:func:`build` gathers it as plain data (the API's JSON); :func:`as_text` and :func:`as_html`
print it for the ward office (the HTML prints on one A4 page per few clusters).
"""

from __future__ import annotations

import html
from datetime import date, datetime, timedelta
from typing import Any

from plugins.loudspeaker.broadcast import Broadcaster
from plugins.loudspeaker.registry import Cluster
from plugins.loudspeaker.schedule import Item, Play, Schedule
from plugins.loudspeaker.slots import DailySlot

PRIORITY_WORDS = {"emergency": "KHẨN CẤP", "high": "ưu tiên", "normal": "", "bulk": ""}
STATUS_WORDS = {
    "scheduled": "sẽ phát",
    "played": "đã phát",
    "failed": "lỗi",
    "missed": "không báo",
    "expired": "hết hạn",
    "cancelled": "đã hủy",
    "waiting": "chờ xếp",
}


async def build(
    broadcaster: Broadcaster, subtree: set[str], commune: str, day: date
) -> dict[str, Any]:
    """The programme of ``day`` for the clusters whose area is in ``subtree``."""
    zone = broadcaster.settings.zone
    now = broadcaster.clock.now()
    clusters = [c for c in await broadcaster.book.all() if c.area_code in subtree]
    found = []
    for cluster in clusters:
        schedule = await broadcaster.load(cluster.id)
        online = await broadcaster.book.online(
            cluster.id, now, broadcaster.settings.heartbeat_timeout
        )
        found.append(_cluster(broadcaster, cluster, schedule, day, online))
    return {"commune": commune, "date": day.isoformat(), "timezone": zone.key, "clusters": found}


def _cluster(
    broadcaster: Broadcaster, cluster: Cluster, schedule: Schedule, day: date, online: bool | None
) -> dict[str, Any]:
    zone = broadcaster.settings.zone
    slots = []
    for text in cluster.slots or broadcaster.settings.slots:
        daily = DailySlot.parse(text)
        start = datetime.combine(day, daily.start, zone)
        end = datetime.combine(day, daily.end, zone)
        plays = [
            _play(item, play, zone)
            for item, play in _plays(schedule)
            if play.slot_start is not None and play.slot_start == start
        ]
        used = sum(p["duration"] for p in plays)
        slots.append(
            {
                "start": f"{daily.start:%H:%M}",
                "end": f"{daily.end:%H:%M}",
                "capacity": (end - start).total_seconds(),
                "used": round(used, 1),
                "plays": plays,
            }
        )
    day_start = datetime.combine(day, datetime.min.time(), zone)
    day_end = day_start + timedelta(days=1)
    interrupts = [
        _play(item, play, zone)
        for item, play in _plays(schedule)
        if play.interrupt and play.at is not None and day_start <= play.at < day_end
    ]
    waiting = [
        {"title": item.title, "play": f"{play.n}/{len(item.plays)}", "reason": play.reason}
        for item, play in _plays(schedule)
        if play.status == "waiting"
    ]
    return {
        "id": cluster.id,
        "name": cluster.name,
        "area_code": cluster.area_code,
        "online": online,
        "slots": slots,
        "interrupts": interrupts,
        "waiting": waiting,
    }


def _plays(schedule: Schedule) -> list[tuple[Item, Play]]:
    pairs = [(item, play) for item in schedule.items for play in item.plays]
    return sorted(pairs, key=lambda p: (p[1].at or p[1].wanted, p[0].priority.rank, p[0].order))


def _play(item: Item, play: Play, zone: Any) -> dict[str, Any]:
    return {
        "at": play.at.astimezone(zone).strftime("%H:%M:%S") if play.at else None,
        "title": item.title,
        "announcement_id": item.announcement_id,
        "priority": item.priority.value,
        "duration": round(item.duration, 1),
        "play": f"{play.n}/{len(item.plays)}",
        "status": play.status,
        "moved": play.moved,
        "interrupt": play.interrupt,
        "recorded": item.recorded,
    }


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _line(play: dict[str, Any]) -> str:
    marks = [PRIORITY_WORDS[play["priority"]], STATUS_WORDS[play["status"]]]
    if play["moved"]:
        marks.append("dời từ khung trước")
    label = ", ".join(m for m in marks if m)
    return (
        f"{play['at']}  {play['title']} ({_minutes(play['duration'])}, lần {play['play']}; {label})"
    )


def as_text(programme: dict[str, Any]) -> str:
    """The programme as plain text, one block per cluster."""
    lines = [f"Chương trình phát thanh ngày {programme['date']} — địa bàn {programme['commune']}"]
    if not programme["clusters"]:
        lines.append("(không có cụm loa nào trong địa bàn)")
    for cluster in programme["clusters"]:
        state = {True: "trực tuyến", False: "MẤT KẾT NỐI", None: "chưa báo"}[cluster["online"]]
        lines += ["", f"Cụm loa {cluster['id']} — {cluster['name']} [{state}]"]
        for play in cluster["interrupts"]:
            lines.append(f"  phát ngay  {_line(play)}")
        for slot in cluster["slots"]:
            room = f"{_minutes(slot['used'])}/{_minutes(slot['capacity'])}"
            lines.append(f"  {slot['start']}–{slot['end']} ({room})")
            lines += [f"    {_line(play)}" for play in slot["plays"]] or ["    (trống)"]
        for wait in cluster["waiting"]:
            lines.append(f"  chưa xếp được: {wait['title']} (lần {wait['play']}; {wait['reason']})")
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:serif;margin:2em}table{border-collapse:collapse;width:100%;margin-bottom:1em}"
    "td,th{border:1px solid #444;padding:4px 8px;text-align:left}"
    ".emergency{font-weight:bold}.moved{font-style:italic}"
    "@media print{section{page-break-inside:avoid}}"
)


def as_html(programme: dict[str, Any]) -> str:
    """The programme as a printable HTML page (every text escaped)."""
    e = html.escape
    title = f"Chương trình phát thanh ngày {programme['date']} — {programme['commune']}"
    parts = [
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{e(title)}</title>',
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>",
    ]
    for cluster in programme["clusters"]:
        parts.append(f"<section><h2>{e(cluster['name'])} ({e(cluster['id'])})</h2>")
        parts.append(
            "<table><tr><th>Khung giờ</th><th>Giờ phát</th><th>Nội dung</th>"
            "<th>Thời lượng</th><th>Lần</th><th>Ghi chú</th></tr>"
        )
        rows = [("phát ngay", p) for p in cluster["interrupts"]]
        for slot in cluster["slots"]:
            label = f"{slot['start']}–{slot['end']}"
            rows += [(label, p) for p in slot["plays"]] or [(label, None)]
        for label, play in rows:
            parts.append(_row(label, play))
        parts.append("</table>")
        for wait in cluster["waiting"]:
            parts.append(f"<p>Chưa xếp được: {e(wait['title'])} (lần {e(wait['play'])})</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def _row(label: str, play: dict[str, Any] | None) -> str:
    e = html.escape
    if play is None:
        return f"<tr><td>{e(label)}</td><td colspan=5>(trống)</td></tr>"
    notes = [PRIORITY_WORDS[play["priority"]], STATUS_WORDS[play["status"]]]
    if play["moved"]:
        notes.append("dời từ khung trước")
    css = " ".join(c for c in (play["priority"], "moved" if play["moved"] else "") if c)
    return (
        f'<tr class="{css}"><td>{e(label)}</td><td>{e(play["at"] or "")}</td>'
        f"<td>{e(play['title'])}</td><td>{_minutes(play['duration'])}</td>"
        f"<td>{e(play['play'])}</td><td>{e(', '.join(n for n in notes if n))}</td></tr>"
    )
