"""The channel interface: what every channel plugin implements.

A channel is built once, when the dispatcher starts, from its validated settings. The
engine calls :meth:`Channel.send` directly with a batch of messages (never through pluggy)
and expects one :data:`SendResult` per message, in order.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from dispatcher.clock import Clock
from dispatcher.outbound import OutboundGuard
from schemas import Announcement, Attachment, FailureKind, Priority, ReceiptIn

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client.registry import Collector

    from dispatcher.state import PluginState
    from dispatcher.store.base import Store


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One rendered message for one recipient, ready for a provider."""

    delivery_id: str
    announcement_id: str
    channel: str
    address: str
    title: str
    body: str
    language: str = "vi"
    priority: Priority = Priority.NORMAL
    test: bool = False
    attempt: int = 1
    contact_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Inspection:
    """What a channel would send for one message, without sending it.

    Attributes:
        text: the exact text after the channel's own preparation.
        details: channel facts for people (SMS: encoding, segments, stripped diacritics).
        problems: why it cannot be sent as written (too long, a bad option); empty if fine.
    """

    text: str
    details: Mapping[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message; ``provider_id`` matches its receipts later.

    ``latency_ms``, on every result: how long the provider took to answer the request that
    carried this message, when the channel timed it. Without it the attempt gets the whole
    send's duration, which for a send of many requests in lanes is several requests long.
    Results compare equal whatever their latencies.
    """

    provider_id: str | None = None
    provider_code: str | None = None
    latency_ms: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RetryLater:
    """The provider failed for now; try again, not before ``after`` seconds if given.

    ``unknown`` says the provider may have the message anyway (a timeout after the request
    went out): the attempt is recorded as ``unknown``, and a channel that may not send twice
    fails the delivery instead of repeating it.

    ``untried`` says nothing was sent and nothing can be until something outside the
    message changes (a spent daily quota, a token an operator must renew): the delivery
    waits ``after`` seconds without using one of its attempts, and so never gives up for
    it (``expires_at`` still ends the wait).
    """

    reason: str
    after: float | None = None
    code: str | None = None
    unknown: bool = False
    untried: bool = False
    latency_ms: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Failed:
    """The provider refused this message; ``code`` is the provider's own."""

    reason: str
    code: str | None = None
    kind: FailureKind = FailureKind.PERMANENT
    latency_ms: float | None = field(default=None, compare=False)


SendResult = Accepted | RetryLater | Failed


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started``, a ``time.perf_counter()`` reading: the latency of a
    request begun then."""
    return (time.perf_counter() - started) * 1000


def timed(result: SendResult, started: float) -> SendResult:
    """``result`` with the latency of a request begun at ``started`` (see
    :func:`elapsed_ms`): for channels that time their requests one by one."""
    return replace(result, latency_ms=elapsed_ms(started))


class ReceiptSink(Protocol):
    """Where a channel hands the delivery reports it parsed or simulated."""

    async def submit(self, receipts: Sequence[ReceiptIn]) -> list[bool]:
        """Store receipts; returns, per receipt, whether it changed a delivery."""
        ...


@dataclass(frozen=True)
class ChannelContext:
    """What a channel is built with.

    Attributes:
        name: the channel's registered name.
        settings: the channel's validated settings model.
        data_dir: a folder of its own (the sandbox outbox lives here).
        receipts: where to hand receipts.
        clock: the dispatcher's clock.
        public_url: the base URL providers reach thongbao at (for callback URLs).
        store: the open store while the dispatcher runs (None when channels are built only
            to inspect text, as the CLI's preview does).
        state: the channel's own documents and leases in the store (None with no store).
        outbound: where URLs that came in requests (webhooks, callbacks, attachments) may
            be called: open their HTTP sessions on ``outbound.connector()``.
    """

    name: str
    settings: BaseModel
    data_dir: Path
    receipts: ReceiptSink
    clock: Clock = field(default_factory=Clock)
    public_url: str = "http://127.0.0.1:8080"
    store: Store | None = None
    state: PluginState | None = None
    outbound: OutboundGuard = field(default_factory=OutboundGuard)


class Channel(ABC):
    """A way to reach people: SMS, Zalo, e-mail, … .

    Limits are declared as class attributes and enforced by the engine:

    Attributes:
        max_batch: most messages handed to one :meth:`send` call.
        rate_per_sec: most messages per second across the process (None: unlimited).
        max_length: longest body, in characters, the channel accepts (None: any).
        repeatable: whether a message whose outcome was lost in a crash may be sent again
            (True when the provider de-duplicates, or a duplicate is harmless).
        concurrency: how many ``send`` calls may run at once.
        reaches_contacts: False for a channel whose recipients are only its own (webhook
            subscriptions, loudspeaker clusters, see :meth:`recipients`): fan-out then
            writes no delivery, not even a suppressed one, for contacts on it.
    """

    max_batch: int = 100
    rate_per_sec: float | None = None
    max_length: int | None = None
    repeatable: bool = True
    concurrency: int = 4
    reaches_contacts: bool = True

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.name = ctx.name

    async def start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Open connections; called once before the first send."""

    @property
    def simulated(self) -> bool:
        """True when the channel reaches nobody (its sandbox transport): quiet hours and caps
        then do not apply. By default, a ``transport`` setting of ``"sandbox"``."""
        return getattr(self.ctx.settings, "transport", None) == "sandbox"

    def normalize_address(self, address: str) -> str:
        """Return the canonical form of ``address`` or raise ``InvalidAddressError``."""
        return address.strip()

    def inspect(self, message: OutboundMessage) -> Inspection:
        """What would be sent for ``message`` and why it could not be; pure, no I/O.

        Used at intake (a problem refuses the announcement), by the preview, and before
        each send (a problem fails the delivery permanently). The answer must follow from
        what is said (title, body, options, priority, language), not from who it goes to:
        a bulk send inspects a text shared by all its recipients once. The default checks
        ``max_length`` and refuses any option, since it knows none.
        """
        problems = [
            f"unknown option {name!r} for channel {self.name!r}" for name in message.options
        ]
        if self.max_length is not None and len(message.body) > self.max_length:
            problems.append(
                f"the text is {len(message.body)} characters; {self.name} takes at most "
                f"{self.max_length}: shorten it or set a content override"
            )
        return Inspection(
            text=message.body, details={"characters": len(message.body)}, problems=problems
        )

    async def recipients(self, announcement: Announcement, areas: frozenset[str]) -> list[str]:
        """Addresses the channel itself knows for ``announcement``, beyond contacts.

        Webhook subscriptions and loudspeaker clusters are recipients the channel keeps,
        not contacts. Fan-out calls this once per announcement that lists the channel and
        writes a delivery for each address (normalised, de-duplicated, exclusions applied).

        Args:
            announcement: the announcement being fanned out.
            areas: the audience's area codes with every area under them, excluded areas
                (and theirs) taken out.
        """
        return []

    @abstractmethod
    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch``; return one result per message, in order.

        Raise a :class:`~dispatcher.errors.DeliveryError` when the whole batch failed.
        """

    def collectors(self) -> Sequence[Collector]:
        """Prometheus collectors of the channel's own figures (a provider's quota), shown
        in ``/metrics``; registered once when the dispatcher starts."""
        return ()

    async def flush(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Hand over every receipt the channel holds back (the sandbox's simulated ones).

        The engine calls it when draining, so a test sees the whole life of a message.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release connections. Must be safe to call twice."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


ChannelFactory = Callable[[ChannelContext], Channel]


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as a plugin declares it.

    Attributes:
        name: unique channel name (lower case), e.g. ``"sms"``.
        factory: builds the channel from its context, usually the ``Channel`` subclass.
        settings: the pydantic model of the channel's settings (``extra="forbid"``).
        description: one line for ``thongbao plugins``.
    """

    name: str
    factory: ChannelFactory
    settings: type[BaseModel]
    description: str = ""


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


@dataclass(frozen=True)
class RouteSpec:
    """An extra HTTP route a plugin serves (receipt callbacks, inbound messages).

    ``role`` None makes the route public (providers cannot hold our API keys; verify their
    signature inside the handler); a role name, or a tuple of them, lets keys of those roles
    (and admin) call it. Handlers reach the engine with ``dispatcher.services(request)``.
    """

    method: str
    path: str
    handler: Handler
    role: str | tuple[str, ...] | None = None
    name: str | None = None
