"""The arithmetic behind the benchmark's published figures (bench/sms_fanout.py): no timing
is measured here, only what the table makes of the times it is given."""

from __future__ import annotations

import os

import pytest
from bench_scripts import load

fanout = load("sms_fanout")
N = 20_000


def run(ceilings: list[float], to_sent: float, cpu: float, gateway_cpu: float) -> object:
    result = fanout.RunResult(to_sent_s=to_sent, cpu_s=cpu, gateway_cpu_s=gateway_cpu)
    result.add_ceilings([fanout.Ceiling(s, s * 0.9, s * 0.5) for s in ceilings])
    return result


def test_each_run_is_compared_with_the_mean_of_the_plain_loop_around_it() -> None:
    result = run([1.4, 1.6], to_sent=3.0, cpu=3.0, gateway_cpu=1.0)
    assert result.ceiling_s == pytest.approx(1.5)
    assert result.ceilings_s == [1.4, 1.6]
    assert result.ceiling_cpu_s == pytest.approx(1.35)
    assert result.ratio == pytest.approx(0.5)


def test_the_ratio_is_the_median_of_the_runs_own_ratios() -> None:
    # The machine slowed between runs (plain loop 1.43 s, then 2.41 and 2.55 s): pairing
    # the medians would say 0.80; the runs themselves say 0.49, 0.69 and 0.84.
    runs = [
        run([1.43, 1.43], 2.92, 3.8, 1.2),
        run([2.41, 2.41], 3.51, 4.6, 1.5),
        run([2.55, 2.55], 3.03, 3.9, 1.3),
    ]
    single = fanout.Variant("single", False, 0, N, 100, 500)
    row = fanout.summarise(single, runs, cores=2)
    assert row["ratio"] == pytest.approx(2.41 / 3.51)
    assert row["sent_per_s"] / row["ceiling_per_s"] == pytest.approx(0.795, abs=0.001)


def test_the_cpu_table_says_what_each_target_leaves_the_service() -> None:
    single = fanout.Variant("single", False, 0, N, 100, 500)
    # 164.5 µs of service CPU and 54 µs of gateway CPU a delivery; plain loop 12,876 msg/s.
    runs = [run([N / 12_876] * 2, 3.44, 164.5e-6 * N, 54e-6 * N)]
    row = fanout.summarise(single, runs, cores=2)
    assert row["service_us"] == pytest.approx(164.5)
    assert row["gateway_us"] == pytest.approx(54.0)
    assert row["cores_allow_per_s"] == pytest.approx(2e6 / 218.5)
    assert row["budget_us"] == pytest.approx(2e6 / (0.8 * 12_876) - 54.0)

    batch = fanout.Variant("batch:w1", True, 0, N, 100, 500)
    row = fanout.summarise(batch, [run([0.04] * 2, 1.2, 57.5e-6 * N, 3e-6 * N)], cores=2)
    assert row["budget_us"] == pytest.approx(2e6 / 50_000 - 3.0)


def test_a_variant_without_a_rate_target_has_no_budget() -> None:
    million = fanout.Variant("million", True, 0, N, 100, 500)
    row = fanout.summarise(million, [run([0.05] * 2, 2.0, 80e-6 * N, 3e-6 * N)], cores=2)
    assert "budget_us" not in row
    assert row["cores_allow_per_s"] == pytest.approx(2e6 / 83.0)
    assert "| million | " in fanout.cpu_table([row])


def test_the_event_loop_thread_has_its_own_column() -> None:
    # The event loop's thread is the one a single interpreter cannot spread over two cores.
    single = fanout.Variant("single", False, 0, N, 100, 500)
    result = run([1.5, 1.5], 3.0, 150e-6 * N, 40e-6 * N)
    result.loop_cpu_s = 110e-6 * N
    row = fanout.summarise(single, [result], cores=2)
    assert row["loop_us"] == pytest.approx(110.0)
    header, _, line = fanout.cpu_table([row]).splitlines()
    assert header.split(" | ")[4] == "of which event loop"
    assert line.split(" | ")[3:6] == ["150.0", "110.0", "40.0"]


def test_a_main_thread_is_read_from_its_own_task_entry() -> None:
    # All threads of this process, and its main thread alone: never more than all of them.
    pid = os.getpid()
    everything = fanout.cpu_seconds(pid)
    main = fanout.cpu_seconds(pid, main_thread=True)
    assert 0 <= main <= everything + 0.02


def test_post_to_sent_is_split_at_the_gateways_first_and_last_request() -> None:
    single = fanout.Variant("single", False, 0, N, 100, 500)
    runs = []
    for first, calls, to_sent in [(0.1, 2.5, 2.7), (0.3, 2.6, 3.0), (0.2, 4.0, 4.5)]:
        result = run([1.5, 1.5], to_sent, 1.0, 0.5)
        result.to_first_call_s, result.calls_s = first, calls
        runs.append(result)
    row = fanout.summarise(single, runs, cores=2)
    assert row["to_first_call_s"] == pytest.approx(0.2)
    assert row["calls_s"] == pytest.approx(2.6)
    # Each run's own remainder (0.1, 0.1, 0.3), not the medians' (3.0 - 0.2 - 2.6).
    assert row["after_last_call_s"] == pytest.approx(0.1)
    header, _, line = fanout.phase_table([row]).splitlines()
    assert header.split(" | ")[3] == "calls msg/s"
    assert line.strip(" |").split(" | ")[1:] == ["0.200", "2.600", "7,692", "0.100", "3.00"]


def test_a_run_the_gateway_never_saw_has_no_split() -> None:
    single = fanout.Variant("single", False, 0, N, 100, 500)
    row = fanout.summarise(single, [run([1.5, 1.5], 3.0, 1.0, 0.5)], cores=2)
    assert row["after_last_call_s"] is None
    assert fanout.phase_table([row]).count("\n") == 1  # the header alone


async def test_the_gateway_times_its_first_and_last_request_since_a_reset() -> None:
    gateway = load("gateway").FakeGateway(latency_ms=0, fail_share=0, max_pending=10)
    assert gateway.stats()["first_at"] is None
    await gateway._arrive([{"to": "+84900000001", "text": "a", "ref": "r1"}])
    first = gateway.stats()["first_at"]
    await gateway._arrive([{"to": "+84900000002", "text": "b", "ref": "r2"}])
    stats = gateway.stats()
    assert stats["first_at"] == first <= stats["last_at"]
    gateway.reset()
    assert gateway.stats()["first_at"] is None and gateway.stats()["last_at"] is None
