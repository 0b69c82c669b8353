"""The generic SMS transport alone against the plain loop: what the transport adds per message.

    python bench/transport_cost.py [--n 40000] [--runs 3]

One fake gateway (``gateway.py``, single-message endpoint, no latency, no reports), and in
this process, in alternate runs, the N messages sent by:

- **plain**: the plain loop of ``sms_fanout.py``'s ceiling (one session, 400 requests in
  flight, ``session.post(json=...)``, the answer read and not parsed);
- **transport**: ``GenericHttpTransport.send`` as thongbao's worker calls it (4 sends at a
  time of 400 messages each, ``parallel`` 100: 400 requests in flight), every answer parsed
  for its id. No store, no rendering of the announcement, no worker.

Prints each arm's messages a second and CPU microseconds a message of this process and of
the gateway (median of the runs), and the transport's rate over the plain loop's. The
messages of the transport arm are built before the clock starts and then frozen out of the
garbage collector's reach (``gc.freeze``), as the service's settled heap is: left young,
40,000 of them made every collection walk them, and the transport arm 12 % slower.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatcher.channel import ChannelContext, OutboundMessage
from dispatcher.cli_support import event_loop_factory
from plugins.sms.generic import GenericHttpTransport
from plugins.sms.generic_config import GenericHttpSettings
from plugins.sms.transport import SmsOut

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import GatewayProcess
from sms_fanout import BODY, TITLE, cpu_seconds, free_port, markdown, mobile

INFLIGHT = 400  # as sms_fanout's single variant: 4 send slots x parallel 100
PARALLEL = 100
SEND = 400  # messages a send (the worker's batch with parallel 100)
TEXT = f"{TITLE}\n{BODY}"


async def plain(url: str, n: int) -> None:
    """The ceiling's loop: each of INFLIGHT workers posts the next message until none is left."""
    numbers = iter(range(n))
    connector = aiohttp.TCPConnector(limit=INFLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in numbers:
                body = {"to": f"+84{mobile(i)[1:]}", "text": TEXT, "ref": f"r{i}"}
                async with session.post(f"{url}/send", json=body) as answer:
                    await answer.read()

        await asyncio.gather(*(worker() for _ in range(INFLIGHT)))


def messages(n: int) -> list[SmsOut]:
    """The transport's view of N messages, as the SMS channel prepares them."""
    return [
        SmsOut(
            message=OutboundMessage(
                delivery_id=str(i),
                announcement_id="a1",
                channel="sms",
                address=f"+84{mobile(i)[1:]}",
                title=TITLE,
                body=BODY,
            ),
            text=TEXT,
            unicode=False,
            segments=1,
        )
        for i in range(n)
    ]


async def transport(url: str, outs: list[SmsOut]) -> None:
    """The worker's sends: INFLIGHT // PARALLEL at a time, SEND messages each."""
    settings = GenericHttpSettings.model_validate({"url": f"{url}/send", "parallel": PARALLEL})
    ctx = ChannelContext(name="sms", settings=settings, data_dir=Path("."), receipts=None)  # type: ignore[arg-type]
    sender = GenericHttpTransport(settings, ctx)
    await sender.start()
    starts = iter(range(0, len(outs), SEND))

    async def slot() -> None:
        for start in starts:
            results = await sender.send(outs[start : start + SEND])
            if any(getattr(r, "provider_id", None) is None for r in results):
                raise RuntimeError(f"a message was not accepted: {results[0]!r}")

    try:
        await asyncio.gather(*(slot() for _ in range(INFLIGHT // PARALLEL)))
    finally:
        await sender.aclose()


async def main_async(args: argparse.Namespace) -> None:
    outs = messages(args.n)
    gc.collect()
    gc.freeze()
    figures: dict[str, list[tuple[float, float, float]]] = {"plain": [], "transport": []}
    async with GatewayProcess(free_port()) as gateway:
        for _ in range(args.runs):
            for arm in figures:
                await gateway.control(reset=True, callback=None)
                gateway_cpu, cpu, started = (
                    cpu_seconds(gateway.pid),
                    time.process_time(),
                    time.perf_counter(),
                )
                await (
                    plain(gateway.url, args.n) if arm == "plain" else transport(gateway.url, outs)
                )
                took = time.perf_counter() - started
                figures[arm].append(
                    (
                        args.n / took,
                        (time.process_time() - cpu) / args.n * 1e6,
                        (cpu_seconds(gateway.pid) - gateway_cpu) / args.n * 1e6,
                    )
                )
    rate = {arm: statistics.median(f[0] for f in runs) for arm, runs in figures.items()}
    print(f"N={args.n:,}, {args.runs} runs, {INFLIGHT} requests in flight\n")
    print(
        markdown(
            ["arm", "msg/s", "its CPU µs/msg", "gateway CPU µs/msg", "rate / plain"],
            [
                [
                    arm,
                    f"{rate[arm]:,.0f}",
                    f"{statistics.median(f[1] for f in runs):.1f}",
                    f"{statistics.median(f[2] for f in runs):.1f}",
                    f"{rate[arm] / rate['plain']:.2f}",
                ]
                for arm, runs in figures.items()
            ],
        )
    )
    print(
        "\nper run, msg/s: "
        + "; ".join(
            f"{arm} " + ", ".join(f"{f[0]:,.0f}" for f in runs) for arm, runs in figures.items()
        )
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40_000, help="messages a run (default 40,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each arm (median)")
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
