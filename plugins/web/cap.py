"""CAP 1.2 alerts (OASIS Common Alerting Protocol) of released announcements.

The CAP feed is an Atom feed whose entries each hold one ``<alert>`` as
``application/cap+xml`` content. Mapping:

- ``identifier`` is the announcement id; a cancelled one is published as a ``Cancel``
  (identifier ``<id>.cancel``, sent at the cancellation) referring to the original;
- an announcement that ``updates`` another is an ``Update`` with ``references``;
- priority → urgency / severity / certainty (emergency: Immediate, Severe, Likely; high:
  Expected, Moderate, Likely; normal: Future, Minor, Possible; bulk: all Unknown);
- category from well-known tags (``thời tiết``/``weather`` → Met, …), else ``Other``;
- one ``<area>`` per audience area, ``areaDesc`` its official name and a ``geocode``
  ``VN-AREA`` with the code.

Times are written in Vietnam's offset (``+07:00``), as CAP wants no ``Z``.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

from plugins.web.areas import area_name
from plugins.web.links import is_withdrawn, page_url
from schemas import Announcement, Priority

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
GEOCODE = "VN-AREA"
_VN = ZoneInfo("Asia/Ho_Chi_Minh")
ET.register_namespace("cap", CAP)

_GRADES = {
    Priority.EMERGENCY: ("Immediate", "Severe", "Likely"),
    Priority.HIGH: ("Expected", "Moderate", "Likely"),
    Priority.NORMAL: ("Future", "Minor", "Possible"),
    Priority.BULK: ("Unknown", "Unknown", "Unknown"),
}
_CATEGORIES = {
    "Met": ("thoi tiet", "weather", "bao", "mua lu", "lu lut", "trieu cuong", "met"),
    "Geo": ("dong dat", "sat lo", "earthquake", "landslide", "geo"),
    "Health": ("y te", "dich benh", "health", "tiem chung"),
    "Fire": ("chay", "phong chay", "fire"),
    "Transport": ("giao thong", "transport", "traffic"),
    "Infra": ("dien", "nuoc", "cat dien", "cup nuoc", "infra", "utilities"),
    "Env": ("moi truong", "env", "environment", "o nhiem"),
    "Security": ("an ninh", "security"),
    "Safety": ("an toan", "safety"),
    "Rescue": ("cuu ho", "cuu nan", "rescue"),
}


def cap_time(value: datetime) -> str:
    """``2026-01-01T07:00:00+07:00``."""
    return value.astimezone(_VN).replace(microsecond=0).isoformat()


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def categories(tags: list[str]) -> list[str]:
    """CAP categories named by ``tags`` (tone marks optional), else ``["Other"]``."""
    plain = {_plain(tag) for tag in tags}
    found = [name for name, words in _CATEGORIES.items() if plain & set(words)]
    return found or ["Other"]


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP}}}{tag}")
    if text is not None:
        element.text = text
    return element


def reference(sender: str, announcement: Announcement) -> str:
    """``sender,identifier,sent`` of an announcement's alert."""
    sent = announcement.released_at or announcement.created_at
    return f"{sender},{announcement.id},{cap_time(sent)}"


def alert(
    announcement: Announcement,
    *,
    sender: str,
    public_url: str,
    related: dict[str, Announcement],
) -> ET.Element:
    """The CAP ``<alert>`` of a released announcement (see the module docstring)."""
    root = ET.Element(f"{{{CAP}}}alert")
    cancelled_at = announcement.finished_at if is_withdrawn(announcement) else None
    cancelled = cancelled_at is not None
    sent = cancelled_at or announcement.released_at or announcement.created_at
    updated = related.get(announcement.updates) if announcement.updates else None
    _sub(root, "identifier", f"{announcement.id}.cancel" if cancelled else announcement.id)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(sent))
    _sub(root, "status", "Test" if announcement.test else "Actual")
    _sub(root, "msgType", "Cancel" if cancelled else "Update" if announcement.updates else "Alert")
    _sub(root, "scope", "Public")
    if cancelled:
        _sub(root, "references", reference(sender, announcement))
    elif updated is not None:
        _sub(root, "references", reference(sender, updated))
    _info(root, announcement, public_url)
    return root


def _info(root: ET.Element, announcement: Announcement, public_url: str) -> None:
    info = _sub(root, "info")
    _sub(info, "language", announcement.language)
    for category in categories(announcement.tags):
        _sub(info, "category", category)
    _sub(info, "event", announcement.tags[0] if announcement.tags else "Thông báo")
    urgency, severity, certainty = _GRADES[announcement.priority]
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", certainty)
    if announcement.expires_at:
        _sub(info, "expires", cap_time(announcement.expires_at))
    if announcement.issuer:
        _sub(info, "senderName", announcement.issuer)
    _sub(info, "headline", announcement.title)
    _sub(info, "description", announcement.body)
    _sub(info, "web", page_url(public_url, announcement.id))
    for attachment in announcement.attachments:
        resource = _sub(info, "resource")
        _sub(resource, "resourceDesc", attachment.name)
        _sub(resource, "mimeType", attachment.content_type)
        _sub(resource, "uri", str(attachment.url))
    for code in announcement.audience.areas:
        area = _sub(info, "area")
        _sub(area, "areaDesc", area_name(code) or code)
        geocode = _sub(area, "geocode")
        _sub(geocode, "valueName", GEOCODE)
        _sub(geocode, "value", code)
