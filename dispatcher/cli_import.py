"""``thongbao contacts import`` and ``thongbao areas import``: the directory from files."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from dispatcher.cli_support import (
    CliState,
    CommandError,
    InputError,
    open_services,
    pass_state,
    run,
)
from dispatcher.contacts import parse_areas, parse_contacts
from dispatcher.service import Services
from dispatcher.store.base import ImportReport
from schemas import Area, ConsentIn

_FORMATS = ("csv", "json")

Parser = Callable[[str, str], list[dict[str, Any]]]
Importer = Callable[[Services, list[dict[str, Any]]], Awaitable[ImportReport]]


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower().lstrip(".")
    if suffix in _FORMATS:
        return suffix
    raise InputError(
        f"cannot tell the format of {path.name} from its extension: add --format csv or json"
    )


def _read_rows(path: Path, fmt: str, parse: Parser) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: save it as UTF-8") from exc
    try:
        return parse(text, fmt)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc


def _report(report: ImportReport, what: str) -> None:
    mapped = f" ({report.mapped} pre-2025 area codes mapped)" if report.mapped else ""
    if report.ok:
        click.echo(f"imported {report.accepted} {what}{mapped}")
        return
    for row, problem in report.errors:
        click.echo(f"row {row}: {problem}")
    if report.accepted:
        click.echo(
            f"imported {report.accepted} {what}{mapped}; {len(report.errors)} row(s) left out"
        )
        return
    raise CommandError(
        f"nothing imported: {len(report.errors)} bad row(s); fix them and import again"
    )


def _import(
    state: CliState, path: Path, fmt: str | None, parse: Parser, importer: Importer, what: str
) -> None:
    rows = _read_rows(path, _format_of(path, fmt), parse)

    async def write() -> ImportReport:
        async with open_services(state.settings) as services:
            return await importer(services, rows)

    _report(run(write()), what)


_file_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_format_option = click.option(
    "--format", "fmt", type=click.Choice(_FORMATS), help="File format (default: by extension)."
)


@click.group()
def contacts() -> None:
    """Manage the contacts directory."""


@contacts.command("import")
@_file_argument
@_format_option
@click.option("--old-codes", is_flag=True, help="area_code holds pre-2025 codes: map them.")
@click.option("--partial", is_flag=True, help="Write the good rows; list the bad ones.")
@pass_state
def contacts_import(
    state: CliState, file: Path, fmt: str | None, old_codes: bool, partial: bool
) -> None:
    """Import contacts from CSV or JSON; nothing is written if any row is bad (unless
    --partial). A contact's id is your own: importing it again updates the person.

    CSV columns: id, name, area_code (or old_area_code, a pre-2025 code), tags, language,
    opt_outs, preferred_channels (lists split by ';'), and one column per channel holding
    that channel's address (sms, email, zalo…). A row whose address another person holds
    is refused: one person, one contact.
    """

    async def importer(services: Services, rows: list[dict[str, Any]]) -> ImportReport:
        return await services.import_contacts(rows, old_codes=old_codes, partial=partial)

    _import(state, file, fmt, parse_contacts, importer, "contacts")


@contacts.command("erase")
@click.argument("contact_id")
@pass_state
def contacts_erase(state: CliState, contact_id: str) -> None:
    """Erase a person on request: their data goes, delivery statistics stay."""

    async def erase() -> None:
        async with open_services(state.settings) as services:
            await services.erase_contact(contact_id)

    run(erase())
    click.echo(f"erased contact {contact_id}")


@contacts.command("export")
@pass_state
def contacts_export(state: CliState) -> None:
    """Print every contact as JSON lines, in id order."""

    async def export() -> None:
        async with open_services(state.settings) as services:
            async for contact in services.export_contacts():
                click.echo(contact.model_dump_json())

    run(export())


@contacts.command("consent")
@click.argument("contact_id")
@click.argument("channel")
@click.argument("choice", type=click.Choice(["in", "out"]))
@click.option("--source", required=True, help="How it was given, e.g. 'phone call 2026-11-26'.")
@pass_state
def contacts_consent(
    state: CliState, contact_id: str, channel: str, choice: str, source: str
) -> None:
    """Record that a person opted in to or out of CHANNEL, with its source."""

    async def record() -> None:
        async with open_services(state.settings) as services:
            await services.set_consent(
                contact_id, channel, ConsentIn(opted_in=choice == "in", source=source)
            )

    run(record())
    click.echo(f"contact {contact_id}: opted {choice} of {channel} ({source})")


@click.group()
def areas() -> None:
    """Manage administrative areas (provinces, communes)."""


@areas.command("import")
@_file_argument
@_format_option
@pass_state
def areas_import(state: CliState, file: Path, fmt: str | None) -> None:
    """Import areas (code, name, parent_code) from CSV or JSON; all or nothing. A commune
    adds villages or residential groups under its own code as parent_code."""
    _import(state, file, fmt, parse_areas, Services.import_areas, "areas")


@areas.command("load-official")
@pass_state
def areas_load_official(state: CliState) -> None:
    """Load Vietnam's 34 provinces and 3,321 communes (the 2025 reorganisation)."""

    async def load() -> int:
        async with open_services(state.settings) as services:
            return await services.load_official_areas()

    click.echo(f"loaded {run(load())} official areas")


@areas.command("search")
@click.argument("name")
@pass_state
def areas_search(state: CliState, name: str) -> None:
    """Find areas by NAME, with or without tone marks ("ba dinh")."""

    async def search() -> list[Area]:
        async with open_services(state.settings) as services:
            return await services.search_areas(name)

    for area in run(search()):
        click.echo(f"{area.code}\t{area.name}\t{area.parent_code or ''}")
