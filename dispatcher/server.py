"""Running thongbao as a service: the HTTP API and the workers in one process, or either.

``thongbao serve`` and ``thongbao worker`` both end up in :func:`serve`. Shutdown follows
one fixed order: intake stops first (the listening socket closes and requests in flight
finish), then the dispatcher stops claiming, lets in-flight sends finish or releases them,
closes the channels and finally the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import structlog
from aiohttp import web

from dispatcher.api import make_app
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher

log = structlog.get_logger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event, enabled: bool) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into ``stop.set()`` for the duration of the block.

    After the first signal the handlers are removed, so a second Ctrl-C falls back to the
    default behaviour and interrupts a shutdown that hangs.
    """
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)


async def _start_api(dispatcher: Dispatcher, settings: Settings) -> tuple[web.AppRunner, str]:
    """Serve the API on ``settings.api.host:port``; returns the runner and the URL."""
    app = make_app(
        dispatcher.services,
        routes=dispatcher.routes,
        metrics=dispatcher.metrics,
        settings=settings.api,
        ready=dispatcher.ready,
    )
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=settings.worker.shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, settings.api.port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    if ":" in host:
        host = f"[{host}]"
    return runner, f"http://{host}:{port}"


async def _wait_for_stop(stop: asyncio.Event, run_task: asyncio.Task[None] | None) -> None:
    """Return when ``stop`` is set or the dispatcher's run loop ends on its own."""
    stop_task = asyncio.create_task(stop.wait(), name="thongbao-stop-signal")
    waiting: set[asyncio.Task[object]] = {stop_task}
    if run_task is not None:
        waiting.add(run_task)
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stop_task


def _failure(task: asyncio.Task[None] | None) -> BaseException | None:
    """What ended ``task``, if it ended with an error."""
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()


async def _shutdown(
    dispatcher: Dispatcher, runner: web.AppRunner | None, run_task: asyncio.Task[None] | None
) -> None:
    """Stop intake, then the dispatcher; re-raise what killed the run loop, if anything."""
    if runner is not None:
        # Closing the sites first refuses new connections while requests in flight finish,
        # so nothing is accepted that the stopping workers would not pick up.
        await runner.cleanup()
    await dispatcher.stop()
    if run_task is not None:
        # Awaiting re-raises whatever ended the run loop, so serve() fails loudly after a
        # clean shutdown instead of exiting 0.
        await run_task


async def serve(
    settings: Settings,
    *,
    api: bool = True,
    workers: bool = True,
    install_signal_handlers: bool = True,
    ready_event: asyncio.Event | None = None,
    on_started: Callable[[str | None], object] | None = None,
) -> None:
    """Run thongbao until SIGTERM/SIGINT (or until its run loop fails).

    Args:
        settings: the loaded settings.
        api: serve the HTTP API on ``settings.api.host:port``.
        workers: run the scheduler and the send workers (``thongbao worker`` is workers
            without the API).
        install_signal_handlers: stop gracefully on SIGTERM/SIGINT; False when embedded
            or under test, where the caller cancels the task instead.
        ready_event: set once the API listens and the workers run.
        on_started: called then with the URL the API listens on (None without the API).

    Raises:
        Exception: whatever ended the dispatcher's run loop, after a clean shutdown.
    """
    stop = asyncio.Event()
    dispatcher = Dispatcher(settings)
    runner: web.AppRunner | None = None
    run_task: asyncio.Task[None] | None = None
    with _signals_set(stop, install_signal_handlers):
        try:
            await dispatcher.start()
            url = None
            if api:
                runner, url = await _start_api(dispatcher, settings)
            if workers:
                run_task = asyncio.create_task(dispatcher.run(), name="thongbao-dispatcher-run")
            log.info(
                "service_started",
                url=url,
                api=api,
                workers=workers,
                db=settings.db,
                channels=list(dispatcher.channels),
                event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
            )
            if on_started is not None:
                on_started(url)
            if ready_event is not None:
                ready_event.set()
            await _wait_for_stop(stop, run_task)
            failure = _failure(run_task)
            if failure is not None:
                log.error("service_failed", error=repr(failure))
        finally:
            log.info("service_stopping")
            # A named task under shield: a second cancellation cannot cut the shutdown
            # short and leave claimed deliveries unreleased.
            shutdown = asyncio.create_task(
                _shutdown(dispatcher, runner, run_task), name="thongbao-shutdown"
            )
            await asyncio.shield(shutdown)
            log.info("service_stopped")
