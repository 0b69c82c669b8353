"""Settings: a TOML file, then ``THONGBAO_*`` environment variables, then command-line flags.

Secrets are never written in the file itself: a value may be ``{"$env": "NAME"}`` or
``{"$file": "path"}`` and is resolved when the settings load.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import time
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from dispatcher.errors import ConfigError

DEFAULT_CONFIG_FILE = "thongbao.toml"


class ApiSettings(BaseModel):
    """The HTTP server."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="URL providers call back on; default http://host:port"
    )
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)


class WorkerSettings(BaseModel):
    """The send workers and the scheduler."""

    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(default=60.0, gt=0)
    poll_interval: float = Field(default=0.5, gt=0)
    send_timeout: float = Field(default=30.0, gt=0)
    shutdown_timeout: float = Field(default=10.0, ge=0)
    retry_initial: float = Field(default=5.0, gt=0, description="first retry wait, seconds")
    retry_max: float = Field(default=3600.0, gt=0, description="longest retry wait, seconds")
    fanout_batch: int = Field(default=1000, ge=1)
    claim_batches: int = Field(default=4, ge=1, description="batches claimed per channel at once")


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a time zone: write e.g. Asia/Ho_Chi_Minh") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name, checked when settings load (``"Asia/Ho_Chi_Minh"``)."""


class AudienceSettings(BaseModel):
    """Quiet hours and daily caps, in the spirit of Decree 91/2020 on unsolicited messages.

    Emergency announcements pass both; the delivery's reason says so.
    """

    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName = Field(
        default="Asia/Ho_Chi_Minh", description="local time for both rules"
    )
    quiet_start: time | None = Field(
        default=time(22, 0), description="start of quiet hours, local (None: no quiet hours)"
    )
    quiet_end: time = Field(default=time(7, 0), description="end of quiet hours, local")
    quiet_channels: list[str] = Field(
        default_factory=lambda: ["sms", "zalo"],
        description="channels that wait for the morning during quiet hours",
    )
    daily_caps: dict[str, int] = Field(
        default_factory=lambda: {"sms": 3, "zalo": 3},
        description="most non-emergency messages per person per local day, per channel",
    )
    sandbox_exempt: bool = Field(
        default=True,
        description="a channel on its sandbox transport reaches nobody, so neither rule applies",
    )


class OutboundSettings(BaseModel):
    """URLs given in requests: status callbacks, webhook subscriptions, attachments
    (``dispatcher/outbound.py``)."""

    model_config = ConfigDict(extra="forbid")

    allowed_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="networks those URLs may reach besides public addresses, "
        'e.g. ["10.20.0.0/16"] (loopback: for tests and demos only)',
    )


class Settings(BaseModel):
    """Everything thongbao is configured with."""

    model_config = ConfigDict(extra="forbid")

    db: str = Field(default="thongbao.db", description="SQLite file (or :memory:)")
    data_dir: Path = Field(default=Path("thongbao-data"), description="outboxes and files")
    log_level: str = "info"
    log_json: bool | None = Field(default=None, description="None: JSON unless on a terminal")
    api: ApiSettings = Field(default_factory=ApiSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    audience: AudienceSettings = Field(default_factory=AudienceSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-channel settings, checked by each channel"
    )
    enabled_channels: list[str] | None = Field(
        default=None, description="run only these channels (None: all registered)"
    )

    @property
    def public_url(self) -> str:
        """Where providers reach us."""
        return self.api.public_url or f"http://{self.api.host}:{self.api.port}"


def resolve_secrets(value: Any, *, where: str = "") -> Any:
    """Replace ``{"$env": NAME}`` and ``{"$file": PATH}`` anywhere inside ``value``."""
    if isinstance(value, Mapping):
        if set(value) == {"$env"}:
            name = value["$env"]
            if name not in os.environ:
                raise ConfigError(f"{where or 'a setting'} refers to ${name}: set that variable")
            return os.environ[name]
        if set(value) == {"$file"}:
            path = Path(value["$file"]).expanduser()
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{where or 'a setting'} refers to file {path}: {exc}") from exc
        return {
            k: resolve_secrets(v, where=f"{where}.{k}" if where else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve_secrets(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


_ENV_FIELDS = {
    "THONGBAO_DB": ("db",),
    "THONGBAO_DATA_DIR": ("data_dir",),
    "THONGBAO_LOG_LEVEL": ("log_level",),
    "THONGBAO_LOG_JSON": ("log_json",),
    "THONGBAO_HOST": ("api", "host"),
    "THONGBAO_PORT": ("api", "port"),
    "THONGBAO_PUBLIC_URL": ("api", "public_url"),
}


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read settings from ``path`` (default ``thongbao.toml`` if it exists, or
    ``$THONGBAO_CONFIG``), then the environment, then ``overrides`` (dotted keys allowed).

    Raises:
        ConfigError: naming the file and the field that is wrong.
    """
    env = os.environ if env is None else env
    source = path or env.get("THONGBAO_CONFIG")
    raw: dict[str, Any] = {}
    if source is not None or Path(DEFAULT_CONFIG_FILE).exists():
        file = Path(source or DEFAULT_CONFIG_FILE)
        try:
            raw = tomllib.loads(file.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file} is not valid TOML: {exc}") from exc
    for name, field_path in _ENV_FIELDS.items():
        if name in env:
            _set(raw, field_path, env[name])
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(raw, tuple(dotted.split(".")), value)
    raw = resolve_secrets(raw)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
