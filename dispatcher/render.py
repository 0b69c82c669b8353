"""Rendering an announcement for one recipient: a pure function shared by send and preview.

Title and body are Jinja templates run in Jinja's sandbox, so a template cannot reach
Python objects. Known names: the announcement's ``variables``, and ``contact`` (``name``,
``area_code``, ``id``) for recipients who are contacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from dispatcher.channel import OutboundMessage
from dispatcher.links import page_url
from schemas import AnnouncementIn, Contact

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
BUILTIN_NAMES = frozenset({"contact", "link"})
SAMPLE_CONTACT = {"id": "c1", "name": "Nguyễn Văn A", "area_code": "00004"}
RenderError = jinja2.TemplateError


@dataclass(frozen=True, slots=True)
class Rendered:
    """The text one recipient gets on one channel."""

    title: str
    body: str


def template_problems(data: AnnouncementIn) -> list[dict[str, object]]:
    """Syntax errors and unknown names in the announcement's templates, as problem entries."""
    known = BUILTIN_NAMES | set(data.variables)
    sources: list[tuple[list[object], str]] = [(["title"], data.title), (["body"], data.body)]
    for channel, content in data.content.items():
        for field in ("title", "body"):
            text = getattr(content, field)
            if text is not None:
                sources.append((["content", channel, field], text))
    problems: list[dict[str, object]] = []
    for loc, text in sources:
        try:
            names = meta.find_undeclared_variables(_env.parse(text))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                {"loc": loc, "msg": f"template error on line {exc.lineno}: {exc.message}"}
            )
            continue
        unknown = sorted(names - known)
        if unknown:
            problems.append(
                {
                    "loc": loc,
                    "msg": f"unknown template variable(s) {', '.join(unknown)}: "
                    "add them to variables or remove them",
                }
            )
            continue
        trial = {**data.variables, "contact": SAMPLE_CONTACT, "link": "https://example.vn/a/x"}
        try:
            _env.from_string(text).render(trial)
        except jinja2.TemplateError as exc:
            problems.append({"loc": loc, "msg": f"template cannot be rendered: {exc}"})
    return problems


@lru_cache(maxsize=256)
def _compile(text: str) -> jinja2.Template | None:
    if "{" not in text:
        return None
    return _env.from_string(text)


@lru_cache(maxsize=256)
def _names(text: str) -> frozenset[str]:
    if "{" not in text:
        return frozenset()
    return frozenset(meta.find_undeclared_variables(_env.parse(text)))


def uses_contact(data: AnnouncementIn, channel: str) -> bool:
    """Whether the text ``channel`` sends names ``contact``: when it does not, the sender
    need not load the recipients' contacts to render it."""
    title, body = _texts(data, channel)
    return "contact" in _names(title) or "contact" in _names(body)


def _texts(data: AnnouncementIn, channel: str) -> tuple[str, str]:
    override = data.content.get(channel)
    title = override.title if override and override.title is not None else data.title
    body = override.body if override and override.body is not None else data.body
    return title, body


def _render_one(text: str, context: Mapping[str, Any]) -> str:
    template = _compile(text)
    return text if template is None else template.render(context)


def render(
    data: AnnouncementIn,
    channel: str,
    contact: Mapping[str, Any] | None = None,
    link: str = "",
) -> Rendered:
    """The title and body ``channel`` sends, with per-channel content and variables applied;
    ``link`` is the announcement's public page (``{{ link }}``)."""
    title, body = _texts(data, channel)
    context: dict[str, Any] = dict(data.variables)
    context["contact"] = contact or {"name": "", "area_code": "", "id": ""}
    context["link"] = link
    return Rendered(title=_render_one(title, context), body=_render_one(body, context))


def render_for(
    data: AnnouncementIn,
    channel: str,
    recipient: Mapping[str, Any] | None,
    announcement_id: str,
    public_url: str,
) -> Rendered:
    """:func:`render` with ``{{ link }}`` the announcement's short link under
    ``public_url`` (empty without one)."""
    link = page_url(public_url, announcement_id) if public_url else ""
    return render(data, channel, recipient, link)


def person(contact: Contact | None) -> dict[str, Any] | None:
    """What a template sees of a contact as ``contact`` (None for an explicit address)."""
    if contact is None:
        return None
    return {"id": contact.id, "name": contact.name, "area_code": contact.area_code or ""}


def outbound_message(
    data: AnnouncementIn,
    channel: str,
    recipient: Mapping[str, Any] | None,
    *,
    delivery_id: str,
    announcement_id: str,
    address: str,
    attempt: int = 1,
    contact_id: str | None = None,
    public_url: str = "",
    text: Rendered | None = None,
) -> OutboundMessage:
    """The message ``channel`` sends for ``data`` to one recipient: rendered text (with
    ``{{ link }}`` the short link under ``public_url``), the channel's options and the
    attachments. Sends and previews build it here alike. ``text`` is the rendered text
    when the caller has it already (the same for every recipient of a text that does not
    name ``contact``)."""
    if text is None:
        text = render_for(data, channel, recipient, announcement_id, public_url)
    content = data.content.get(channel)
    return OutboundMessage(
        delivery_id=delivery_id,
        announcement_id=announcement_id,
        channel=channel,
        address=address,
        title=text.title,
        body=text.body,
        language=data.language,
        priority=data.priority,
        test=data.test,
        attempt=attempt,
        contact_id=contact_id,
        options=MappingProxyType(dict(content.options) if content else {}),
        attachments=tuple(data.attachments),
    )
