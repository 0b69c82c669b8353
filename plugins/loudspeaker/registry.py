"""The cluster registry: loudspeaker clusters, where they are and how to reach them.

Each cluster is a document ``cluster:<id>`` in the channel's plugin state; what its
controller last said (heartbeats) is apart, in ``seen:<id>``, so that importing the registry
again keeps the online status. A cluster's token is kept only as its SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dispatcher import InvalidAddressError, PluginState
from plugins.loudspeaker.settings import Transport
from plugins.loudspeaker.slots import DailySlot

_CLUSTER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
CSV_COLUMNS = ("id", "name", "area_code", "transport", "endpoint", "slots", "token")


def normalize_cluster_id(address: str) -> str:
    """``HN-HoanKiem.HangBac-1`` → ``hn-hoankiem.hangbac-1``.

    Raises:
        InvalidAddressError: not made of letters, digits, '-', '_' and '.'.
    """
    cluster = address.strip().lower()
    if not _CLUSTER_ID.match(cluster):
        raise InvalidAddressError(
            f"{address!r} is not a loudspeaker cluster id: use 1 to 64 lower-case letters, "
            "digits, '-', '_' or '.', starting with a letter or digit, e.g. hn-hoankiem.hangbac-1"
        )
    return cluster


def hash_token(token: str) -> str:
    """What the registry keeps of a cluster's token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Cluster(BaseModel):
    """One loudspeaker cluster as the registry keeps it.

    Attributes:
        id: the cluster id, also the delivery address.
        name: for people ("Cụm loa tổ dân phố 3, phường Hàng Bạc").
        area_code: the area it covers; announcements to that area (or above) reach it.
        transport: how its schedule is pushed (None: the channel's ``transport``).
        endpoint: http: the controller's URL; mqtt: the topic (None: the default topic).
        slots: its daily slots, ``HH:MM-HH:MM`` (None: the channel's ``slots``).
        token_sha256: SHA-256 of the token its controller presents (None: the shared one).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    area_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    transport: Transport | None = None
    endpoint: str | None = Field(default=None, max_length=500)
    slots: list[str] | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        try:
            return normalize_cluster_id(value)
        except InvalidAddressError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: list[str] | None) -> list[str] | None:
        return None if not value else [str(DailySlot.parse(text)) for text in value]

    @model_validator(mode="after")
    def _endpoint(self) -> Cluster:
        if self.transport == "http":
            url = urlsplit(self.endpoint or "")
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError("an http cluster needs endpoint, the controller's http(s) URL")
        if self.transport == "mqtt" and self.endpoint and any(c in self.endpoint for c in "#+"):
            raise ValueError("an mqtt endpoint is a topic without wildcards (# or +)")
        return self

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is this cluster's own token."""
        return self.token_sha256 is not None and hmac.compare_digest(
            self.token_sha256, hash_token(token)
        )


def cluster_from_row(row: Mapping[str, Any]) -> Cluster:
    """A registry row (CSV or JSON) → a cluster; empty cells mean "not given".

    ``slots`` may be a list or one text with ``;`` between slots; ``token`` is hashed.

    Raises:
        ValueError: the row is not a valid cluster (the message says which field).
    """
    data = {k: v for k, v in row.items() if v not in (None, "")}
    unknown = sorted(set(data) - set(CSV_COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}")
    if isinstance(data.get("slots"), str):
        data["slots"] = [part for part in data["slots"].split(";") if part.strip()]
    token = data.pop("token", None)
    if token is not None:
        data["token_sha256"] = hash_token(str(token))
    try:
        return Cluster.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from exc


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(x) for x in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


@dataclass
class RegistryReport:
    """What an import did: clusters written, or the rows that stopped it (nothing written)."""

    accepted: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every row was good and all were written."""
        return not self.errors


def parse_rows(text: str, fmt: str) -> list[dict[str, Any]]:
    """Rows of a registry file, ``fmt`` ``"csv"`` (header row) or ``"json"`` (a list).

    Raises:
        ValueError: not a CSV with a header, or not a JSON list of objects.
    """
    if fmt == "json":
        rows = json.loads(text)
        if isinstance(rows, dict) and isinstance(rows.get("clusters"), list):
            rows = rows["clusters"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("a JSON registry is a list of cluster objects")
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise ValueError(f"the CSV needs a header row with {', '.join(CSV_COLUMNS)}")
    return [dict(row) for row in reader]


def validate_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Cluster], RegistryReport]:
    """Every row checked; the report lists each bad row (numbered from 1) and why."""
    clusters: list[Cluster] = []
    report = RegistryReport()
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        try:
            cluster = cluster_from_row(row)
        except ValueError as exc:
            report.errors.append((number, str(exc)))
            continue
        if cluster.id in seen:
            report.errors.append((number, f"cluster {cluster.id!r} is listed twice"))
            continue
        seen.add(cluster.id)
        clusters.append(cluster)
    return clusters, report


class ClusterBook:
    """The registry and heartbeats in the plugin state.

    Args:
        state: the loudspeaker channel's plugin state.
    """

    def __init__(self, state: PluginState) -> None:
        self.state = state

    async def get(self, cluster_id: str) -> Cluster | None:
        """The cluster ``cluster_id``, or None."""
        found = await self.state.get(f"cluster:{cluster_id}")
        return None if found is None else Cluster.model_validate(found)

    async def all(self) -> list[Cluster]:
        """Every cluster, by id."""
        return [Cluster.model_validate(e.value) async for e in self.state.items("cluster:")]

    async def in_areas(self, areas: Iterable[str]) -> list[str]:
        """Ids of the clusters whose area is one of ``areas``."""
        wanted = set(areas)
        return [cluster.id for cluster in await self.all() if cluster.area_code in wanted]

    async def import_rows(self, rows: Sequence[Mapping[str, Any]]) -> RegistryReport:
        """Validate every row; write them all only when none is bad."""
        clusters, report = validate_rows(rows)
        if report.ok:
            for cluster in clusters:
                await self.state.put(f"cluster:{cluster.id}", cluster.model_dump(mode="json"))
            report.accepted = len(clusters)
        return report

    async def seen(self, cluster_id: str, at: datetime) -> datetime | None:
        """Record a heartbeat; returns the one before (None: never heard of)."""
        before = await self.last_seen(cluster_id)
        await self.state.put(f"seen:{cluster_id}", {"at": at.isoformat()})
        return before

    async def last_seen(self, cluster_id: str) -> datetime | None:
        """When the cluster's controller last sent a heartbeat."""
        found = await self.state.get(f"seen:{cluster_id}")
        return None if found is None else datetime.fromisoformat(found["at"])

    async def online(self, cluster_id: str, now: datetime, timeout: float) -> bool | None:
        """True or False by the last heartbeat; None when the controller was never heard."""
        last = await self.last_seen(cluster_id)
        if last is None:
            return None
        return now - last <= timedelta(seconds=timeout)
