"""Meta-tests: every hookspec has a ``test_hook_<name>`` under ``tests/`` and a docs entry."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest

from dispatcher import hookspecs

TESTS = Path(__file__).resolve().parents[1]
DOCS = TESTS.parent / "docs" / "plugins.md"


def _hookspecs() -> dict[str, Callable[..., Any]]:
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    return {
        name: caller.spec.function
        for name, caller in sorted(vars(pm.hook).items())
        if caller.spec is not None
    }


SPECS = _hookspecs()
HOOKS = [pytest.param(name, id=name) for name in SPECS]


def _test_sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(TESTS.rglob("*.py")))


def _doc_sections() -> dict[str, str]:
    """Each ``### `name``` section of the plugin docs, by name."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^(?=#{2,3} )", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE):
        heading = re.match(r"### `(\w+)`\n", chunk)
        if heading:
            sections[heading.group(1)] = chunk
    return sections


def _signature(name: str) -> str:
    """``def name(arg: Type) -> Return`` as the hookspec declares it."""
    signature = inspect.signature(SPECS[name])
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"def {name}({params}) -> {signature.return_annotation}"


def test_hookspecs_are_found() -> None:
    """Guards the parametrised tests below against an empty (skipped) parameter list."""
    assert "register_channels" in SPECS


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_a_test(name: str) -> None:
    pattern = rf"\bdef test_hook_{name}\b"
    assert re.search(pattern, _test_sources()), f"no test_hook_{name} under {TESTS}"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_is_documented(name: str) -> None:
    assert name in _doc_sections(), f"docs/plugins.md has no '### `{name}`' section"


@pytest.mark.parametrize("name", HOOKS)
def test_documented_signature_is_the_hookspecs(name: str) -> None:
    section = _doc_sections().get(name, "")
    assert _signature(name) in section, section


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_section_has_an_example(name: str) -> None:
    section = _doc_sections().get(name, "")
    assert "@hookimpl" in section, section


def test_docs_document_no_hook_that_does_not_exist() -> None:
    assert [] == sorted(set(_doc_sections()) - set(SPECS))
