"""The channel's own signing secrets: configured, or made once and kept in its data folder.

They sign status callbacks and webhooks to URLs named in an announcement (subscriptions
have secrets of their own). ``thongbao web signing-secret`` prints the one in use so it can
be handed to the systems that verify them.
"""

from __future__ import annotations

from pathlib import Path

from dispatcher import kept_secret
from plugins.web.settings import WebSettings
from plugins.web.signing import check_secret, new_secret

SECRET_FILE = "signing.key"


def signing_secrets(settings: WebSettings, data_dir: Path) -> list[str]:
    """The configured secrets, or the one kept in ``data_dir/signing.key``."""
    if settings.signing_secrets:
        return [s.get_secret_value() for s in settings.signing_secrets]
    return [check_secret(kept_secret(data_dir / SECRET_FILE, new_secret))]
