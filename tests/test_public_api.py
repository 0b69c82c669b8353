"""The public API: ``dispatcher.__all__`` and ``dispatcher.testing.__all__``, and the import
rules between the layers (DESIGN.md, "Layers and rooms"), checked on the source with ast."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import dispatcher
import dispatcher.testing
import schemas

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
SCHEMAS = ROOT / "schemas"
FAKE_PLUGIN = ROOT / "tests" / "data" / "fake-plugin" / "fake_plugin"
OURS = ("dispatcher", "plugins", "schemas")
# What ``from dispatcher.testing import X`` gave before the module became a package.
TESTING_NAMES = (
    "Answerer",
    "ChannelContract",
    "FakeChannel",
    "FakeProvider",
    "FakeReceiptSink",
    "FakeSettings",
    "HttpChannelContract",
    "Outcome",
    "ProviderAnswer",
    "ProviderRequest",
    "ResultRule",
    "is_permanent",
    "is_transient",
    "make_context",
    "make_message",
    "outcomes",
    "retry_after",
)


def sources(folder: Path) -> list[Path]:
    """Every Python file under ``folder``."""
    return sorted(folder.rglob("*.py"))


def file_params(*folders: Path) -> list[object]:
    """One pytest param per Python file under ``folders``, its id the path from the root."""
    return [
        pytest.param(path, id=str(path.relative_to(ROOT)))
        for folder in folders
        for path in sources(folder)
    ]


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """``(module, names)`` of every absolute import in ``path``; ``import a.b`` gives
    ``("a.b", [])``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [alias.name for alias in node.names]


def names_imported_from(module: str, *folders: Path) -> set[str]:
    """Every name some file under ``folders`` imports with ``from <module> import ...``."""
    return {
        name
        for folder in folders
        for path in sources(folder)
        for found, names in imports(path)
        if found == module
        for name in names
    }


def top(module: str) -> str:
    """The top-level package of ``module``."""
    return module.split(".", 1)[0]


# -- __all__ -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "package",
    [
        pytest.param(dispatcher, id="dispatcher"),
        pytest.param(dispatcher.testing, id="dispatcher.testing"),
        pytest.param(schemas, id="schemas"),
    ],
)
def test_all_is_sorted(package: ModuleType) -> None:
    assert sorted(package.__all__) == list(package.__all__)


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(dispatcher, id="dispatcher"),
        pytest.param(dispatcher.testing, id="dispatcher.testing"),
        pytest.param(schemas, id="schemas"),
    ],
)
def test_every_name_in_all_resolves(package: ModuleType) -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert [] == missing


def test_every_name_plugins_import_from_dispatcher_is_public() -> None:
    used = names_imported_from("dispatcher", PLUGINS, FAKE_PLUGIN)
    assert [] == sorted(used - set(dispatcher.__all__))


def test_every_name_plugins_import_from_schemas_is_public() -> None:
    used = names_imported_from("schemas", PLUGINS, FAKE_PLUGIN)
    assert [] == sorted(used - set(schemas.__all__))


def test_testing_keeps_every_name_it_exported_as_a_module() -> None:
    assert [] == sorted(set(TESTING_NAMES) - set(dispatcher.testing.__all__))


def test_every_name_tests_import_from_testing_is_public() -> None:
    used = names_imported_from("dispatcher.testing", ROOT / "tests")
    assert [] == sorted(used - set(dispatcher.testing.__all__))


def test_testing_can_be_imported_first() -> None:
    """A plugin's test suite may import ``dispatcher.testing`` before anything else of ours."""
    done = subprocess.run(
        [sys.executable, "-c", "from dispatcher.testing import ChannelContract"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (done.returncode, done.stderr)


# -- import rules --------------------------------------------------------------------------
@pytest.mark.parametrize("path", file_params(PLUGINS, FAKE_PLUGIN))
def test_plugins_import_only_the_packages_of_dispatcher_and_schemas(path: Path) -> None:
    """``dispatcher.engine`` or ``schemas.delivery`` may change; ``dispatcher`` may not."""
    deep = [module for module, _ in imports(path) if module.startswith(("dispatcher.", "schemas."))]
    assert [] == deep


@pytest.mark.parametrize("path", file_params(PLUGINS))
def test_builtin_plugins_never_import_another_plugin(path: Path) -> None:
    own = ".".join(path.relative_to(ROOT).parts[:2])  # plugins.<name>
    others = [
        module
        for module, _ in imports(path)
        if top(module) == "plugins" and module != own and not module.startswith(own + ".")
    ]
    assert [] == others


@pytest.mark.parametrize("path", file_params(SCHEMAS))
def test_schemas_import_nothing_of_ours(path: Path) -> None:
    ours = [
        module for module, _ in imports(path) if top(module) in OURS and top(module) != "schemas"
    ]
    assert [] == ours
