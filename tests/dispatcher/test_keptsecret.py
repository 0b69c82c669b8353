"""kept_secret: a plugin's secret made once, kept owner-only in its data folder."""

from __future__ import annotations

import stat
from pathlib import Path

from dispatcher import kept_secret


def test_a_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "channels" / "web" / "signing.key"
    made = iter(["first", "second"])
    assert "first" == kept_secret(path, lambda: next(made))
    assert "first" == kept_secret(path, lambda: next(made))  # not made again
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)


def test_a_secret_already_on_disk_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "unsubscribe.key"
    path.write_text("kept-by-another-process\n")
    assert "kept-by-another-process" == kept_secret(path, lambda: "never used")
