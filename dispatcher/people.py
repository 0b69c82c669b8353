"""Contacts coming in: pre-2025 area codes mapped, addresses normalised, one person one
contact. Every row is checked before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatcher.areas import map_old_code
from dispatcher.channel import Channel
from dispatcher.contacts import numbered_rows
from dispatcher.errors import InvalidAddressError
from dispatcher.store.base import Store
from schemas import Contact


@dataclass
class PreparedContacts:
    """Rows ready to write, bad rows with their problem, and how many codes were mapped."""

    contacts: list[Contact] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    mapped: int = 0


def _map_area(row: Mapping[str, Any], old_codes: bool) -> tuple[dict[str, Any], str | None, bool]:
    """The row with its area code made current; a problem, or whether a code was mapped."""
    out = dict(row)
    old = out.pop("old_area_code", None)
    if old is None and old_codes and isinstance(out.get("area_code"), str):
        old = out.pop("area_code")
    if old is None:
        return out, None, False
    if not isinstance(old, str):
        return out, 'old_area_code: give the pre-2025 code as text, e.g. "00001"', False
    new = map_old_code(old)
    if new is None:
        return (
            out,
            (
                f"{old!r} is not a pre-2025 commune or province code (district codes have no "
                "successor since 2025: give the commune's code)"
            ),
            False,
        )
    if out.get("area_code") not in (None, new):
        return out, f"area_code {out['area_code']!r} disagrees with old_area_code {old!r}", False
    out["area_code"] = new
    return out, None, True


def _normalised(contact: Contact, channels: Mapping[str, Channel]) -> tuple[Contact, str | None]:
    addresses: dict[str, str] = {}
    for name, raw in contact.addresses.items():
        channel = channels.get(name)
        if channel is None:
            addresses[name] = raw.strip()
            continue
        try:
            addresses[name] = channel.normalize_address(raw)
        except InvalidAddressError as exc:
            return contact, f"{name}: {exc}"
    return contact.model_copy(update={"addresses": addresses}), None


async def prepare_contacts(
    rows: Iterable[Mapping[str, Any]],
    *,
    store: Store,
    channels: Mapping[str, Channel],
    old_codes: bool = False,
) -> PreparedContacts:
    """Check every row: valid, area code current (``old_codes``: ``area_code`` holds pre-2025
    codes; an ``old_area_code`` column always does), addresses valid and normalised, and no
    address shared with another person, in the file or already in the directory."""
    out = PreparedContacts()
    mapped_rows: list[Mapping[str, Any]] = []
    mapped_numbers: set[int] = set()
    early: dict[int, str] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            mapped_rows.append(row)
            continue
        fixed, problem, mapped = _map_area(row, old_codes)
        if problem is not None:
            early[number] = problem
        if mapped:
            mapped_numbers.add(number)
        mapped_rows.append(fixed)
    good, errors = numbered_rows(Contact, mapped_rows)
    bad = {number: problem for number, problem in errors} | early
    held: dict[tuple[str, str], tuple[int, str]] = {}
    candidates: list[tuple[int, Contact]] = []
    for number, contact in good:
        if number in bad:
            continue
        contact, problem = _normalised(contact, channels)
        if problem is None:
            for pair in contact.addresses.items():
                if pair in held and held[pair][1] != contact.id:
                    first, other = held[pair]
                    problem = (
                        f"{pair[0]} address is also row {first}'s (id {other!r}): one person, "
                        "one contact; merge the rows"
                    )
                    break
                held[pair] = (number, contact.id)
        if problem is not None:
            bad[number] = problem
            continue
        candidates.append((number, contact))
    owners = await store.contacts_by_address(list(held))
    for number, contact in candidates:
        for pair in contact.addresses.items():
            owner = owners.get(pair)
            if owner is not None and owner != contact.id:
                bad[number] = (
                    f"{pair[0]} address belongs to contact {owner!r} already: import the row "
                    f"with id {owner!r} to update that person"
                )
                break
        else:
            out.contacts.append(contact)
            out.mapped += number in mapped_numbers
    out.errors = sorted(bad.items())
    return out
