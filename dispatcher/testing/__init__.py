"""Test support shipped for plugin authors: fakes, a fake provider and the channel contract.

Importing this package needs pytest (``pip install thongbao[test]``). Everything is
importable from here; the submodules are an implementation detail:

- :mod:`~dispatcher.testing.fakes`: ``FakeChannel``, ``FakeReceiptSink``, ``make_context``…
- :mod:`~dispatcher.testing.provider`: ``FakeProvider``, an in-process HTTP provider;
- :mod:`~dispatcher.testing.contract`: ``ChannelContract``, ``HttpChannelContract`` and
  helpers that read a channel's results and errors alike (``outcomes``, ``is_transient``…).
"""

from __future__ import annotations

from dispatcher.testing.contract import (
    ChannelContract,
    HttpChannelContract,
    Outcome,
    is_permanent,
    is_transient,
    outcomes,
    retry_after,
)
from dispatcher.testing.fakes import (
    FakeChannel,
    FakeReceiptSink,
    FakeSettings,
    ResultRule,
    loopback_guard,
    make_context,
    make_message,
)
from dispatcher.testing.provider import (
    Answerer,
    FakeProvider,
    ProviderAnswer,
    ProviderRequest,
)

__all__ = [
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
    "loopback_guard",
    "make_context",
    "make_message",
    "outcomes",
    "retry_after",
]
