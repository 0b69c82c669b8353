"""The generic SMS transport alone against the plain loop: what the transport adds per message.

    python bench/transport_cost.py [--n 40000] [--runs 3]

One fake gateway (``gateway.py``, single-message endpoint, no latency, no reports), and in
this process, in alternate runs, the N messages sent by:

- **plain**: ``sms_fanout.py``'s ceiling itself, the plain loop of its single variant (one
  session, 400 requests in flight, ``session.post(json=...)``, the answer read and not
  parsed);
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatcher.channel import ChannelContext, OutboundMessage
from dispatcher.cli_support import event_loop_factory
from plugins.sms.generic import GenericHttpTransport
from plugins.sms.generic_config import GenericHttpSettings
from plugins.sms.transport import SmsOut

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import GatewayProcess
from sms_fanout import (
    BODY,
    TITLE,
    Ceiling,
    Variant,
    ceiling,
    cpu_seconds,
    free_port,
    markdown,
    mobile,
)

PARALLEL = 100
SEND = 400  # messages a send (the worker's batch with parallel 100)
INFLIGHT = 4 * PARALLEL  # 4 send slots: as sms_fanout's single variant and its ceiling
TEXT = f"{TITLE}\n{BODY}"


async def plain(gateway: GatewayProcess, n: int) -> Ceiling:
    """The plain loop of sms_fanout's single variant posting N messages, timed by it."""
    return await ceiling(gateway, Variant("single", False, 0, n, PARALLEL, SEND))


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


async def transport(gateway: GatewayProcess, outs: list[SmsOut]) -> Ceiling:
    """The worker's sends: INFLIGHT // PARALLEL at a time, SEND messages each; timed as
    the plain loop is."""
    await gateway.control(reset=True, callback=None)
    url = gateway.url
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
        gateway_at_start, cpu_at_start = cpu_seconds(gateway.pid), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(slot() for _ in range(INFLIGHT // PARALLEL)))
        return Ceiling(
            time.perf_counter() - started,
            time.process_time() - cpu_at_start,
            cpu_seconds(gateway.pid) - gateway_at_start,
        )
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
                run = await (plain(gateway, args.n) if arm == "plain" else transport(gateway, outs))
                figures[arm].append(
                    (
                        args.n / run.seconds,
                        run.cpu_s / args.n * 1e6,
                        run.gateway_cpu_s / args.n * 1e6,
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
