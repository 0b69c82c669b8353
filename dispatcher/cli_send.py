"""``thongbao send``: write an announcement from flags or a JSON file and queue it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import IO, Any

import click

from dispatcher.cli_support import (
    CliState,
    InputError,
    open_services,
    pass_state,
    run,
)
from schemas import AnnouncementIn, ChannelMode, Priority


def _pairs(values: Sequence[str], sep: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        left, found, right = value.partition(sep)
        if not found or not left.strip() or not right.strip():
            raise InputError(f"{what} {value!r} must look like {what.upper()}")
        pairs.append((left.strip(), right.strip()))
    return pairs


def _load_json(file: IO[str] | None) -> dict[str, Any]:
    if file is None:
        return {}
    try:
        data = json.load(file)
    except json.JSONDecodeError as exc:
        raise InputError(f"{file.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{file.name} must hold one announcement object")
    return data


def _audience(base: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    audience = dict(base.get("audience") or {})
    for option, field in (("area", "areas"), ("tag", "tags"), ("contact", "contact_ids")):
        if opts[option]:
            audience[field] = list(opts[option])
    if opts["to"]:
        addresses: dict[str, list[str]] = {
            k: list(v) for k, v in (audience.get("addresses") or {}).items()
        }
        for channel, address in _pairs(opts["to"], ":", "channel:address"):
            addresses.setdefault(channel, []).append(address)
        audience["addresses"] = addresses
    return audience


def build_announcement(base: dict[str, Any], opts: dict[str, Any]) -> AnnouncementIn:
    """Merge flags over a JSON announcement; a flag given replaces the file's field.

    Without ``--channel``, the channels named by ``--to`` are used, in order.

    Raises:
        pydantic.ValidationError: when the result is not a valid announcement.
    """
    data = dict(base)
    scalars = ("title", "body", "mode", "priority", "language", "send_at", "expires_at")
    data.update({k: opts[k] for k in scalars if opts.get(k) is not None})
    if opts["test"]:
        data["test"] = True
    if opts["channel"]:
        data["channels"] = list(opts["channel"])
    if opts["var"]:
        variables = dict(_pairs(opts["var"], "=", "name=value"))
        data["variables"] = {**data.get("variables", {}), **variables}
    data["audience"] = _audience(base, opts)
    if "channels" not in data and data["audience"].get("addresses"):
        data["channels"] = list(data["audience"]["addresses"])
    return AnnouncementIn.model_validate(data)


_DRAFT_OPTIONS = [
    click.option("--title", help="Title (a Jinja template)."),
    click.option("--body", help="Body text (a Jinja template)."),
    click.option(
        "--body-file",
        type=click.File("r", encoding="utf-8"),
        help="Read the body from a file ('-': stdin).",
    ),
    click.option(
        "--channel", multiple=True, help="A channel to send on; repeat, in fallback order."
    ),
    click.option(
        "--mode",
        type=click.Choice([m.value for m in ChannelMode]),
        help="all (default): every channel; fallback: the next one only if one fails.",
    ),
    click.option(
        "--priority",
        type=click.Choice([p.value for p in Priority]),
        help="emergency, high, normal (default) or bulk.",
    ),
    click.option("--language", help="Language of the text (default vi)."),
    click.option("--area", multiple=True, help="Area code; a province reaches its communes."),
    click.option("--tag", multiple=True, help="Contact tag to reach; repeatable."),
    click.option("--contact", multiple=True, help="Contact id to reach; repeatable."),
    click.option(
        "--to",
        multiple=True,
        metavar="CHANNEL:ADDRESS",
        help="An explicit address, e.g. sms:0912345678; repeatable.",
    ),
    click.option(
        "--var", multiple=True, metavar="NAME=VALUE", help="Template variable; repeatable."
    ),
    click.option("--send-at", help="When to send, ISO 8601 with a time zone (default: now)."),
    click.option("--expires-at", help="Stop sending after this time, ISO 8601 with a time zone."),
    click.option("--test", is_flag=True, help="Mark it as a test announcement."),
    click.option(
        "--json",
        "json_file",
        type=click.File("r", encoding="utf-8"),
        help="A whole announcement as JSON ('-': stdin); flags override its fields.",
    ),
]


def draft_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that describe a draft announcement (send and preview share them)."""
    for option in reversed(_DRAFT_OPTIONS):
        command = option(command)
    return command


def read_draft(
    body_file: IO[str] | None, json_file: IO[str] | None, opts: dict[str, Any]
) -> AnnouncementIn:
    """The announcement the draft options describe."""
    if body_file is not None:
        if opts["body"] is not None:
            raise InputError("give --body or --body-file, not both")
        opts["body"] = body_file.read()
    return build_announcement(_load_json(json_file), opts)


@click.command(short_help="Queue an announcement; prints its id.")
@draft_options
@click.option("--idempotency-key", help="A repeat with the same key returns the first one.")
@pass_state
def send(
    state: CliState,
    /,
    body_file: IO[str] | None,
    json_file: IO[str] | None,
    idempotency_key: str | None,
    **opts: Any,
) -> None:
    """Queue an announcement and print its id alone on stdout.

    \b
    Examples:
      thongbao send --title "Cúp nước" --body "…" --channel sms --channel zalo --area 79
      thongbao send --json examples/announcement.json --test
    """
    data = read_draft(body_file, json_file, opts)

    async def create() -> tuple[str, bool]:
        async with open_services(state.settings) as services:
            announcement, created = await services.create_announcement(
                data, idempotency_key=idempotency_key
            )
            return announcement.id, created

    announcement_id, created = run(create())
    if not created:
        click.echo("(already created with this idempotency key)", err=True)
    click.echo(announcement_id)
