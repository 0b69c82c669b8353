"""The public page of an announcement: Vietnamese HTML, readable on a phone.

It shows the title, the issuing body, the release time (Vietnam time), the areas, the
text, attachments, what it updates and what updated it, a "Đã hủy" notice when it was
cancelled, and its short link. Templates are autoescaped: announcement text cannot inject
markup.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment

from plugins.web.areas import area_label
from plugins.web.links import is_withdrawn, page_url
from schemas import Announcement, AnnouncementStatus, Priority

_VN = ZoneInfo("Asia/Ho_Chi_Minh")

_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="canonical" href="{{ link }}">
<link rel="alternate" type="application/atom+xml" title="Thông báo" href="{{ atom }}">
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;max-width:42rem;color:#1b1b1b}
h1{font-size:1.4rem;line-height:1.3;margin:.5rem 0}
.meta{color:#555;font-size:.95rem;margin:0 0 1rem}
.meta dt{font-weight:600;float:left;clear:left;margin-right:.4rem}
.meta dd{margin:0 0 .2rem}
.body{white-space:pre-line;font-size:1.05rem}
.notice{padding:.6rem .8rem;border-radius:.4rem;margin:.6rem 0;font-weight:600}
.cancelled{background:#fde2e1;color:#8a1c13}
.urgent{background:#fff1c2;color:#6b4a00}
.update{background:#e3efff;color:#123a6b}
footer{margin-top:2rem;color:#666;font-size:.85rem;word-break:break-all}
a{color:#0b57d0}
</style>
</head>
<body>
<main>
{% if cancelled %}<p class="notice cancelled">Đã hủy
{%- if cancelled_at %} lúc {{ cancelled_at }}{% endif %}: thông báo này không còn hiệu lực.</p>
{%- endif %}
{% if expired %}<p class="notice cancelled">Đã hết hiệu lực.</p>{% endif %}
{% if urgent %}<p class="notice urgent">{{ urgent }}</p>{% endif %}
{% for newer in newer_versions %}<p class="notice update">Đã có thông báo cập nhật:
<a href="{{ newer.link }}">{{ newer.title }}</a></p>{% endfor %}
<h1>{{ title }}</h1>
<dl class="meta">
{% if issuer %}<dt>Cơ quan ban hành:</dt><dd>{{ issuer }}</dd>{% endif %}
<dt>Thời gian:</dt><dd><time datetime="{{ released_iso }}">{{ released }}</time></dd>
{% if areas %}<dt>Địa bàn:</dt><dd>{{ areas | join(", ") }}</dd>{% endif %}
{% if expires %}<dt>Hiệu lực đến:</dt><dd>{{ expires }}</dd>{% endif %}
</dl>
{% if older %}<p class="notice update">Thông báo này cập nhật:
<a href="{{ older.link }}">{{ older.title }}</a></p>{% endif %}
<div class="body">{{ body }}</div>
{% if attachments %}<h2>Tài liệu kèm theo</h2><ul>
{% for a in attachments %}<li><a href="{{ a.url }}">{{ a.name }}</a></li>{% endfor %}
</ul>{% endif %}
</main>
<footer>
<p>Liên kết ngắn: <a href="{{ link }}">{{ link }}</a></p>
<p>Mã thông báo: {{ id }}</p>
</footer>
</body>
</html>
"""

_MISSING = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Không tìm thấy thông báo</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;padding:1rem">
<h1>Không tìm thấy thông báo</h1>
<p>Liên kết không đúng, hoặc thông báo chưa được phát hành hay không công khai.</p>
</body></html>
"""

_URGENT = {Priority.EMERGENCY: "KHẨN CẤP", Priority.HIGH: "Quan trọng"}
_env = Environment(autoescape=True, keep_trailing_newline=True)
_template = _env.from_string(_PAGE)


def local_time(value: datetime) -> str:
    """``07:30, 01/01/2026`` in Vietnam time."""
    return value.astimezone(_VN).strftime("%H:%M, %d/%m/%Y")


def render_page(
    announcement: Announcement,
    *,
    public_url: str,
    newer: list[Announcement],
    older: Announcement | None,
) -> str:
    """The page of ``announcement``; ``newer`` update it, it updates ``older``."""
    released = announcement.released_at or announcement.created_at
    cancelled = is_withdrawn(announcement)
    return _template.render(
        id=announcement.id,
        title=announcement.title,
        body=announcement.body,
        issuer=announcement.issuer,
        released=local_time(released),
        released_iso=released.isoformat(),
        areas=[area_label(code) for code in announcement.audience.areas],
        expires=local_time(announcement.expires_at) if announcement.expires_at else None,
        cancelled=cancelled,
        cancelled_at=local_time(announcement.finished_at)
        if cancelled and announcement.finished_at
        else None,
        expired=announcement.status is AnnouncementStatus.EXPIRED,
        urgent=_URGENT.get(announcement.priority),
        newer_versions=[_ref(a, public_url) for a in newer],
        older=_ref(older, public_url) if older else None,
        attachments=[{"url": str(a.url), "name": a.name} for a in announcement.attachments],
        link=page_url(public_url, announcement.id),
        atom=f"{public_url.rstrip('/')}/feeds/announcements.atom",
    )


def _ref(announcement: Announcement, public_url: str) -> dict[str, str]:
    return {"title": announcement.title, "link": page_url(public_url, announcement.id)}


def missing_page() -> str:
    """The page for a link that leads to nothing public."""
    return _MISSING
