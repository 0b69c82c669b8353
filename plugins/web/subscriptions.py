"""Webhook subscriptions: documents ``sub:<id>`` in the web channel's plugin state.

A subscription is a URL with filters and one or two secrets. Its filters match an
announcement when every non-empty one does:

- ``areas``: one of them is an area the announcement reaches (its audience areas and
  every area under them) or lies above one of its audience areas (a province portal
  subscribed to ``79`` gets what goes to a commune of Hồ Chí Minh City);
- ``priorities``: the announcement's priority is listed;
- ``tags``: the announcement carries one of them.

Only public announcements go to subscriptions; test announcements only to those that set
``accept_test``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from dispatcher import InvalidAddressError, PluginState, Priority
from plugins.web.signing import new_secret
from plugins.web.urls import normalize_webhook_url
from schemas import Announcement

PREFIX = "sub:"
_ID = re.compile(r"^sub_[0-9a-f]{16}$")


def is_subscription_id(text: str) -> bool:
    """True for ``sub_`` and 16 hex digits."""
    return bool(_ID.match(text))


class Filters(BaseModel):
    """What a subscription wants; an empty list matches everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: list[str] = Field(default_factory=list, max_length=1000)
    priorities: list[Priority] = Field(default_factory=list, max_length=4)
    tags: list[str] = Field(default_factory=list, max_length=100)


class SubscriptionIn(BaseModel):
    """A subscription as an admin asks for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2000)
    description: str = Field(default="", max_length=500)
    filters: Filters = Field(default_factory=Filters)
    accept_test: bool = Field(default=False, description="also receive test announcements")

    @field_validator("url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        try:
            return normalize_webhook_url(value)
        except InvalidAddressError as exc:
            raise ValueError(str(exc)) from None


class Secret(BaseModel):
    """A signing secret; ``expires_at`` is set on the previous one after a rotation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None

    def valid(self, now: datetime) -> bool:
        """Still signing at ``now``."""
        return self.expires_at is None or now < self.expires_at


class Subscription(SubscriptionIn):
    """A subscription as stored."""

    id: str
    secrets: list[Secret]
    active: bool = True
    disabled_reason: str | None = None
    disabled_at: AwareDatetime | None = None
    created_at: AwareDatetime

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a request at ``now``, newest first."""
        return [s.secret for s in self.secrets if s.valid(now)]

    def public(self) -> dict[str, object]:
        """What the API and the CLI show: everything but the secrets themselves."""
        shown = self.model_dump(mode="json", exclude={"secrets"})
        shown["secrets"] = [s.model_dump(mode="json", exclude={"secret"}) for s in self.secrets]
        return shown

    def matches(self, announcement: Announcement, reach: Collection[str]) -> bool:
        """Whether this subscription wants ``announcement``; ``reach`` holds the areas it
        reaches and the areas above its audience areas."""
        if not self.active or not announcement.public:
            return False
        if announcement.test and not self.accept_test:
            return False
        wanted = self.filters
        if wanted.priorities and announcement.priority not in wanted.priorities:
            return False
        if wanted.tags and not set(wanted.tags) & set(announcement.tags):
            return False
        return not wanted.areas or bool(set(wanted.areas) & set(reach))


class Subscriptions:
    """Subscriptions kept in a plugin state (the web channel's, or one a route builds)."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    async def create(self, data: SubscriptionIn) -> tuple[Subscription, str]:
        """Store a new subscription; returns it and its secret (shown this once)."""
        now = self.state.clock.now()
        secret = new_secret()
        sub = Subscription(
            **data.model_dump(),
            id=f"sub_{secrets.token_hex(8)}",
            secrets=[Secret(secret=secret, created_at=now)],
            created_at=now,
        )
        await self.state.put(PREFIX + sub.id, sub.model_dump(mode="json"), expect_version=0)
        return sub, secret

    async def get(self, sub_id: str) -> Subscription | None:
        """The subscription ``sub_id``, or None."""
        found = await self.state.get(PREFIX + sub_id) if is_subscription_id(sub_id) else None
        return None if found is None else Subscription.model_validate(found)

    async def all(self) -> list[Subscription]:
        """Every subscription, in id order."""
        return [Subscription.model_validate(e.value) async for e in self.state.items(PREFIX)]

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription; False if there was none."""
        return is_subscription_id(sub_id) and await self.state.delete(PREFIX + sub_id)

    async def rotate(self, sub_id: str, overlap: float) -> tuple[Subscription, str] | None:
        """A new secret for ``sub_id``; the current one keeps signing for ``overlap``
        seconds, older ones stop. None if there is no such subscription."""
        now = self.state.clock.now()
        secret = new_secret()

        def change(sub: Subscription) -> Subscription:
            current = sub.signing_secrets(now)[:1]
            until = now + timedelta(seconds=overlap)
            kept = [Secret(secret=s, created_at=now, expires_at=until) for s in current]
            if overlap <= 0:
                kept = []
            return sub.model_copy(
                update={"secrets": [Secret(secret=secret, created_at=now), *kept]}
            )

        changed = await self._update(sub_id, change)
        return None if changed is None else (changed, secret)

    async def set_active(
        self, sub_id: str, active: bool, reason: str | None = None
    ) -> Subscription | None:
        """Enable a subscription, or disable it saying why. None if there is none."""
        now = self.state.clock.now()
        return await self._update(
            sub_id,
            lambda sub: sub.model_copy(
                update={
                    "active": active,
                    "disabled_reason": None if active else reason,
                    "disabled_at": None if active else now,
                }
            ),
        )

    async def _update(
        self, sub_id: str, change: Callable[[Subscription], Subscription]
    ) -> Subscription | None:
        # Compare-and-set: a send disabling it (410) and an admin rotating may race.
        while True:
            entry = await self.state.entry(PREFIX + sub_id) if is_subscription_id(sub_id) else None
            if entry is None:
                return None
            changed = change(Subscription.model_validate(entry.value))
            written = await self.state.put(
                PREFIX + sub_id, changed.model_dump(mode="json"), expect_version=entry.version
            )
            if written is not None:
                return changed
