"""The exception tree of thongbao.

::

    DispatcherError
    ├── ConfigError
    ├── PluginError
    ├── ChannelNotFoundError
    ├── NotFoundError
    ├── InvalidAddressError
    ├── InvalidRequestError
    └── DeliveryError
        ├── TransientDeliveryError
        │   ├── RateLimitedError
        │   └── ChannelTimeoutError (also a TimeoutError)
        └── PermanentDeliveryError

A channel raises a ``DeliveryError`` when a whole batch fails; a single message that fails
gets a ``Failed`` or ``RetryLater`` result instead.
"""

from __future__ import annotations


class DispatcherError(Exception):
    """Something went wrong in thongbao."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(DispatcherError):
    """The configuration is invalid."""


class PluginError(DispatcherError):
    """A plugin could not be loaded or declared something invalid."""


class ChannelNotFoundError(DispatcherError):
    """No channel of that name is registered."""


class NotFoundError(DispatcherError):
    """No such object in the store."""


class InvalidAddressError(DispatcherError):
    """The address cannot be used on this channel."""


class DeliveryError(DispatcherError):
    """A send failed.

    Args:
        message: what happened, for people.
        channel: the channel's name.
        code: the provider's error code, when it gave one.
    """

    def __init__(
        self, message: str | None = None, *, channel: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.code = code


class TransientDeliveryError(DeliveryError):
    """The provider failed in a way that may pass: try again later."""


class RateLimitedError(TransientDeliveryError):
    """The provider asked us to slow down."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        channel: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, channel=channel, code=code)
        self.retry_after = retry_after


class ChannelTimeoutError(TransientDeliveryError, TimeoutError):
    """The provider did not answer in time."""


class PermanentDeliveryError(DeliveryError):
    """The provider refused for good: trying again will not help."""


class InvalidRequestError(DispatcherError):
    """The request is not valid.

    Attributes:
        errors: one ``{"loc": [...], "msg": "..."}`` per problem found.
    """

    def __init__(self, message: str | None = None, errors: list[dict[str, object]] | None = None):
        super().__init__(message)
        self.errors = errors or []
