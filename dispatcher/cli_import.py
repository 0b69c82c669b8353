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
    if report.ok:
        click.echo(f"imported {report.accepted} {what}")
        return
    for row, problem in report.errors:
        click.echo(f"row {row}: {problem}")
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
@pass_state
def contacts_import(state: CliState, file: Path, fmt: str | None) -> None:
    """Import contacts from CSV or JSON; nothing is written if any row is bad.

    CSV columns: id, name, area_code, tags, language, opt_outs (lists split by ';'), and one
    column per channel holding that channel's address (sms, email, zalo…).
    """
    _import(state, file, fmt, parse_contacts, Services.import_contacts, "contacts")


@click.group()
def areas() -> None:
    """Manage administrative areas (provinces, communes)."""


@areas.command("import")
@_file_argument
@_format_option
@pass_state
def areas_import(state: CliState, file: Path, fmt: str | None) -> None:
    """Import areas (code, name, parent_code) from CSV or JSON; all or nothing."""
    _import(state, file, fmt, parse_areas, Services.import_areas, "areas")
