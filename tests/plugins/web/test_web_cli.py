"""``thongbao web …``: subscriptions from the command line, on the same store as the API."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dispatcher.cli import main


def run(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["--db", str(tmp_path / "tb.db"), "--data-dir", str(tmp_path / "data"), *args]
    )
    assert 0 == result.exit_code, result.output
    return result.stdout


def test_subscribe_list_rotate_and_unsubscribe(tmp_path: Path) -> None:
    created = run(
        tmp_path, "web", "subscribe", "https://cong.hcm.gov.vn/hook", "--priority", "emergency"
    )
    sub_id = created.split()[0]
    secret = created.split("secret: ")[1].split()[0]
    listed = run(tmp_path, "web", "subscriptions")
    rotated = run(tmp_path, "web", "rotate", sub_id, "--overlap", "60")
    new_secret = rotated.split("secret: ")[1].split()[0]
    removed = run(tmp_path, "web", "unsubscribe", sub_id)

    assert sub_id.startswith("sub_") and secret.startswith("whsec_")
    assert f"{sub_id}  https://cong.hcm.gov.vn/hook  active  priorities=emergency" in listed
    assert secret not in listed
    assert new_secret.startswith("whsec_") and new_secret != secret
    assert "" == run(tmp_path, "web", "subscriptions")
    assert f"removed {sub_id}" in removed


def test_the_signing_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    first = run(tmp_path, "web", "signing-secret")
    again = run(tmp_path, "web", "signing-secret")
    assert first == again and first.startswith("whsec_")
