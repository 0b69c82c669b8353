"""bench/transport_cost.py: both arms send every message to the gateway, once each (no speed
is asserted)."""

from __future__ import annotations

from bench_scripts import load

cost = load("transport_cost")


async def test_each_arm_sends_every_message_once() -> None:
    n = 2 * cost.SEND + 7  # more than one send, the last one short
    outs = cost.messages(n)
    assert len({o.message.address for o in outs}) == n
    async with cost.GatewayProcess(cost.free_port()) as gateway:
        for arm in ("plain", "transport"):
            # Each arm resets the gateway's counters before its clock starts.
            if arm == "plain":
                run = await cost.plain(gateway, n)
            else:
                run = await cost.transport(gateway, outs)
            stats = await gateway.stats()
            assert (arm, stats["messages"], stats["requests"]) == (arm, n, n)
            assert run.seconds > 0 and run.cpu_s > 0
