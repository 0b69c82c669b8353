"""The ``sms-fanout`` benchmark: one SMS to each of N contacts, against the machine's ceiling.

Usage::

    .venv/bin/python bench/sms_fanout.py [--n 20000] [--runs 3]
        [--variants single,batch,latency50,million,emergency] [--bulk-n 1000000]

For every variant and run: the same fake gateway (:mod:`gateway`, its own process) first
takes the N messages from a plain asyncio+aiohttp loop with no store (the ceiling), then
from ``thongbao serve`` (a subprocess on a fresh copy of a SQLite database holding N
imported contacts; SMS over the generic HTTP gateway, sandbox off), then from the plain
loop again: the run is compared with the mean of the two. The clock runs from the POST of
the announcement to all deliveries ``sent`` and to all ``delivered`` (the gateway posts
``DELIVRD`` reports back in batches). Each figure printed is the median over runs; a second
table gives the CPU each process spent per delivery. See ``bench/README.md`` for what each
column means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from dispatcher.cli_support import event_loop_factory

sys.path.insert(0, str(Path(__file__).resolve().parent))
import store_trace
from gateway import GatewayProcess

PROVINCE = "79"
COMMUNES = ("26740", "26743", "26758")
AREAS = [
    {"code": PROVINCE, "name": "Thanh pho Ho Chi Minh"},
    *({"code": c, "name": f"Phuong {c}", "parent_code": PROVINCE} for c in COMMUNES),
]
TITLE = "Canh bao trieu cuong"
BODY = "Trieu cuong dat dinh luc 18:00; nguoi dan vung trung chu dong phong tranh."
IMPORT_ROWS = 50_000  # contacts per import request (the API takes 5 MB bodies)
OPEN = ("queued", "sending", "retry_wait")
SETTLED = ("delivered", "failed", "suppressed", "cancelled", "expired")
# The deliveries a second each target asks for (single: a share of its run's ceiling).
TARGET_RATES = {"batch": 50_000, "latency50": 3_000, "latency50-batch": 3_000}
TARGET_SHARE = {"single": 0.8}
TARGETS = {
    "single": "ratio >= 0.8",
    "batch": ">= 50,000 sent/s",
    "latency50": ">= 3,000 sent/s",
    "latency50-batch": ">= 3,000 sent/s",
    "million": "peak RSS <= 300 MB",
    "emergency": "p99 <= 250 ms",
}


@dataclass(frozen=True)
class Variant:
    """One workload: gateway shape, latency and size."""

    name: str
    batch: bool
    latency_ms: float
    n: int
    parallel: int
    batch_size: int
    workers: int = 0  # extra `thongbao worker` processes beside `thongbao serve`

    @property
    def inflight(self) -> int:
        """Requests one thongbao process may have in flight (4 send slots of the SMS
        channel, each ``parallel`` requests, or one batch request): the ceiling loop gets as
        many. With ``:wK`` thongbao may have more, but the ceiling stays the same: more
        connections only slow the plain loop down (6,300 msg/s at 800 in flight against
        8,500 at 400, on 2 cores), and the ratio must not gain from that."""
        return 4 if self.batch else 4 * self.parallel


@dataclass
class RunResult:
    """One run of one variant."""

    ceiling_s: float | None = None  # the mean of the plain loop's runs around this one
    ceilings_s: list[float] = field(default_factory=list)  # before and after this run
    to_sent_s: float | None = None
    to_delivered_s: float | None = None
    peak_rss_mb: float | None = None
    cpu_s: float | None = None  # the service's CPU seconds (all threads) from POST to sent
    loop_cpu_s: float | None = None  # of those, its event loop threads' (main threads)
    gateway_cpu_s: float | None = None  # the gateway's CPU seconds over the same time
    ceiling_cpu_s: float | None = None  # the plain loop's CPU seconds (mean)
    ceiling_gateway_cpu_s: float | None = None  # the gateway's, while the plain loop ran
    emergency_ms: list[float] = field(default_factory=list)
    to_first_call_s: float | None = None  # from the POST to the gateway's first request
    calls_s: float | None = None  # from the gateway's first request to its last
    notes: list[str] = field(default_factory=list)

    def add_ceilings(self, taken: list[Ceiling]) -> None:
        """The plain loop's runs before and after this one: the machine's speed drifts
        within minutes, so the run is compared with the mean of the two."""
        self.ceilings_s = [c.seconds for c in taken]
        self.ceiling_s = statistics.fmean(self.ceilings_s)
        self.ceiling_cpu_s = statistics.fmean(c.cpu_s for c in taken)
        self.ceiling_gateway_cpu_s = statistics.fmean(c.gateway_cpu_s for c in taken)

    @property
    def ratio(self) -> float | None:
        """This run's sent/s over its ceiling's msg/s."""
        if self.ceiling_s is None or not self.to_sent_s:
            return None
        return self.ceiling_s / self.to_sent_s


@dataclass(frozen=True)
class Ceiling:
    """One run of the plain loop."""

    seconds: float
    cpu_s: float  # the loop's own CPU seconds
    gateway_cpu_s: float  # the gateway's over the same time


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mobile(n: int) -> str:
    """The ``n``-th valid Vietnamese mobile number."""
    return f"091{n:07d}"


def contact_csv(start: int, stop: int) -> bytes:
    """Contacts ``start`` to ``stop`` as CSV, spread over the communes."""
    lines = ["id,name,area_code,sms"]
    lines += [f"c{n:07d},Nguoi dan {n},{COMMUNES[n % 3]},{mobile(n)}" for n in range(start, stop)]
    return ("\n".join(lines) + "\n").encode()


def cpu_seconds(*pids: int, main_thread: bool = False) -> float:
    """User and system CPU time of processes ``pids`` so far, all threads together (with
    ``main_thread``, only each one's main thread: the one that runs its event loop)."""
    total = 0
    for pid in pids:
        stat = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
        fields = Path(stat).read_text().rpartition(")")[2].split()
        # utime and stime are fields 14 and 15 of proc(5); ``fields`` starts at field 3.
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def thongbao_command() -> list[str]:
    """The ``thongbao`` script beside this Python."""
    script = Path(sys.executable).parent / "thongbao"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dispatcher.cli"]


# -- the thongbao service ------------------------------------------------------------------
class Service:
    """``thongbao serve`` on one directory, its config written for one gateway shape."""

    def __init__(
        self,
        workdir: Path,
        variant: Variant | None,
        gateway_url: str,
        workers: int = 0,
        trace: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.workers = workers
        self.trace = trace  # --trace-store: where serve and workers write their traces
        self.helpers: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "thongbao.toml"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = (workdir / "token").read_text().strip() if (workdir / "token").exists() else ""
        batch = variant is not None and variant.batch
        lines = [
            f'db = "{workdir / "thongbao.db"}"',
            f'data_dir = "{workdir / "data"}"',
            'enabled_channels = ["sms"]',
            "[api]",
            f"port = {self.port}",
            "[channels.sms]",
            'transport = "http"',
            "[channels.sms.http]",
            f'url = "{gateway_url}/{"batch" if batch else "send"}"',
            f"parallel = {variant.parallel if variant else 20}",
            "rate_per_sec = 10000000",
            "timeout = 30",
            *([f"batch = {{ max_size = {variant.batch_size} }}"] if batch and variant else []),
            # A benchmark runs at any hour: quiet hours (22:00-07:00 in Viet Nam) would hold
            # the bulk send until morning. Daily caps stay on, as by default: each contact
            # gets one message a run, and fan-out counts what each got today all the same.
            "[audience]",
            "quiet_channels = []",
        ]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self) -> dict[str, str]:
        """The environment of a thongbao command on this directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("THONGBAO_")}
        if "THONGBAO_EVENT_LOOP" in os.environ:  # the plain loop runs on the same
            env["THONGBAO_EVENT_LOOP"] = os.environ["THONGBAO_EVENT_LOOP"]
        env["THONGBAO_CONFIG"] = str(self.config)
        return env

    def create_key(self) -> None:
        """A staff key, written to ``token``."""
        out = subprocess.run(
            [*thongbao_command(), "keys", "create", "--role", "staff", "--name", "bench"],
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            check=True,
        )
        self.token = out.stdout.decode().strip().splitlines()[-1]
        (self.workdir / "token").write_text(self.token)

    @property
    def headers(self) -> dict[str, str]:
        """The staff key's header."""
        return {"Authorization": f"Bearer {self.token}"}

    def run_env(self) -> dict[str, str]:
        """The environment of ``serve`` and its workers: with ``trace``, each times its
        store's write transactions (``bench/store_trace.py``)."""
        env = self.env()
        if self.trace is not None:
            paths = [str(store_trace.SITE), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            env[store_trace.ENV] = str(self.trace)
        return env

    async def start(self) -> None:
        """Start ``thongbao serve``; return once ``/healthz`` answers."""
        with (self.workdir / "serve.err").open("ab") as err:
            self.process = subprocess.Popen(
                [*thongbao_command(), "serve"],
                env=self.run_env(),
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            # The variant's `thongbao worker` processes (``:wK``) on the same database.
            self.helpers = [
                subprocess.Popen(
                    [*thongbao_command(), "worker"],
                    env=self.run_env(),
                    cwd=self.workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
                for _ in range(self.workers)
            ]
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"thongbao serve exited: see {self.workdir}/serve.err")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError("thongbao serve did not answer /healthz")
                await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        """The service's process id."""
        assert self.process is not None
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """VmHWM of the service: the most resident memory it ever had (with ``:wK``, the
        largest of its processes')."""
        peaks = []
        for pid in [self.pid, *(helper.pid for helper in self.helpers)]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        if not peaks:
            raise RuntimeError("no VmHWM in /proc/<pid>/status")
        return max(peaks)

    def cpu_seconds(self) -> float:
        """User and system CPU time of the service so far (with its ``:wK`` processes),
        all threads together."""
        return cpu_seconds(self.pid, *(helper.pid for helper in self.helpers))

    def loop_cpu_seconds(self) -> float:
        """The same, of the threads that run the event loops: each process's main thread,
        without the SQLite connections' threads (whose SQL runs without the GIL)."""
        pids = (self.pid, *(helper.pid for helper in self.helpers))
        return cpu_seconds(*pids, main_thread=True)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        for process in [*self.helpers, self.process]:
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def api(
    session: aiohttp.ClientSession, service: Service, method: str, path: str, **kw: Any
) -> Any:
    """One API call; raises unless 2xx."""
    headers = {**service.headers, **kw.pop("headers", {})}
    async with session.request(method, service.url + path, headers=headers, **kw) as answer:
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {await answer.text()}")
        return await answer.json()


async def prepare_directory(root: Path, n: int, gateway_url: str) -> Path:
    """A database with a staff key, the areas and ``n`` contacts (imported over the API as
    CSV, ``IMPORT_ROWS`` a request); made once per N and copied for every run."""
    template = root / f"contacts-{n}"
    if (template / "token").exists():
        return template
    template.mkdir(parents=True)
    service = Service(template, None, gateway_url)
    service.create_key()
    await service.start()
    started = time.perf_counter()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            await api(session, service, "POST", "/v1/areas/import", json=AREAS)
            for start in range(0, n, IMPORT_ROWS):
                body = contact_csv(start, min(n, start + IMPORT_ROWS))
                await api(
                    session,
                    service,
                    "POST",
                    "/v1/contacts/import",
                    data=body,
                    headers={"Content-Type": "text/csv"},
                )
    finally:
        service.stop()
    print(f"  imported {n:,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
    return template


def copy_directory(template: Path, workdir: Path) -> None:
    """A fresh copy of the prepared database and key."""
    workdir.mkdir(parents=True)
    for item in template.iterdir():
        if item.is_file() and (item.name.startswith("thongbao.db") or item.name == "token"):
            shutil.copy2(item, workdir / item.name)


def sent_and_settled(counts: dict[str, dict[str, int]]) -> tuple[int, int]:
    """Deliveries past sending (sent or later), and deliveries settled by a receipt."""
    sms = counts.get("sms", {})
    past = sum(v for k, v in sms.items() if k not in OPEN)
    return past, sum(sms.get(k, 0) for k in SETTLED)


# -- the ceiling ---------------------------------------------------------------------------
async def ceiling(gateway: GatewayProcess, variant: Variant) -> Ceiling:
    """Time a plain aiohttp loop (one session, no store) posting the N messages."""
    await gateway.control(reset=True, callback=None)
    text = f"{TITLE}\n{BODY}"
    url = f"{gateway.url}/{'batch' if variant.batch else 'send'}"
    step = variant.batch_size if variant.batch else 1
    starts = iter(range(0, variant.n, step))
    connector = aiohttp.TCPConnector(limit=variant.inflight)

    async def worker(session: aiohttp.ClientSession) -> None:
        for start in starts:
            messages = [
                {"to": f"+84{mobile(i)[1:]}", "text": text, "ref": f"r{i}"}
                for i in range(start, min(variant.n, start + step))
            ]
            body = {"messages": messages} if variant.batch else messages[0]
            while True:
                async with session.post(url, json=body) as answer:
                    await answer.read()
                    if answer.status == 200:
                        break

    async with aiohttp.ClientSession(connector=connector) as session:
        gateway_at_start = cpu_seconds(gateway.pid)
        cpu_at_start = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(variant.inflight)))
        return Ceiling(
            time.perf_counter() - started,
            time.process_time() - cpu_at_start,
            cpu_seconds(gateway.pid) - gateway_at_start,
        )


# -- one thongbao run ----------------------------------------------------------------------
class Profiler:
    """``py-spy record`` attached to the service for the timed part of a run."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "-p",
                str(pid),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(out),
                "--nonblocking",
                "--gil",  # only the thread holding the interpreter: where Python time goes
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stop sampling and write the collapsed stacks."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def poll(
    session: aiohttp.ClientSession,
    service: Service,
    announcement_id: str,
    n: int,
    started: float,
    timeout: float,
    result: RunResult,
    gateway: GatewayProcess,
    cpu_at_start: tuple[float, float, float],
) -> None:
    """Seconds from ``started`` to all sent and to all settled (None: not within timeout),
    and the CPU seconds the service, its event loop threads and the gateway spent from
    ``cpu_at_start`` (theirs) until all were sent, into ``result``."""
    interval = 0.1 if n <= 100_000 else 0.5
    to_sent = to_settled = None
    while to_settled is None:
        if time.perf_counter() - started > timeout:
            break
        await asyncio.sleep(interval)
        found = await api(session, service, "GET", f"/v1/announcements/{announcement_id}")
        past, settled = sent_and_settled(found["counts"])
        now = time.perf_counter() - started
        if to_sent is None and past >= n:
            to_sent = now
            result.cpu_s = service.cpu_seconds() - cpu_at_start[0]
            result.loop_cpu_s = service.loop_cpu_seconds() - cpu_at_start[1]
            result.gateway_cpu_s = cpu_seconds(gateway.pid) - cpu_at_start[2]
        if settled >= n:
            to_settled = now
    result.to_sent_s, result.to_delivered_s = to_sent, to_settled


async def fanout_run(
    root: Path,
    run_dir: Path,
    gateway: GatewayProcess,
    variant: Variant,
    profile: Path | None,
    trace: Path | None = None,
) -> RunResult:
    """POST one announcement to the N contacts and time it."""
    template = await prepare_directory(root, variant.n, gateway.url)
    copy_directory(template, run_dir)
    service = Service(run_dir, variant, gateway.url, variant.workers, trace)
    result = RunResult()
    await service.start()
    try:
        await gateway.control(reset=True, callback=f"{service.url}/v1/callbacks/sms/http")
        profiler = Profiler(service.pid, profile) if profile else None
        timeout = max(180.0, variant.n / 500)
        async with aiohttp.ClientSession() as session:
            cpu_at_start = (
                service.cpu_seconds(),
                service.loop_cpu_seconds(),
                cpu_seconds(gateway.pid),
            )
            started, posted_at = time.perf_counter(), time.time()
            body = {
                "title": TITLE,
                "body": BODY,
                "channels": ["sms"],
                "audience": {"areas": [PROVINCE]},
            }
            created = await api(session, service, "POST", "/v1/announcements", json=body)
            await poll(
                session,
                service,
                created["id"],
                variant.n,
                started,
                timeout,
                result,
                gateway,
                cpu_at_start,
            )
        if profiler is not None:
            profiler.stop()
        result.peak_rss_mb = service.peak_rss_mb()
        stats = await gateway.stats()
        if stats["first_at"] is not None:
            result.to_first_call_s = stats["first_at"] - posted_at
            result.calls_s = stats["last_at"] - stats["first_at"]
        if stats["messages"] != variant.n:
            result.notes.append(f"gateway took {stats['messages']} messages for {variant.n}")
    finally:
        service.stop()
    return result


async def emergency_run(
    root: Path, run_dir: Path, gateway: GatewayProcess, variant: Variant, tries: int
) -> RunResult:
    """While a bulk send of N is in flight, POST ``tries`` emergencies one after another;
    each is timed from its POST to the gateway's first request carrying its marker."""
    template = await prepare_directory(root, variant.n, gateway.url)
    copy_directory(template, run_dir)
    service = Service(run_dir, variant, gateway.url, variant.workers)
    result = RunResult()
    await service.start()
    try:
        await gateway.control(reset=True, callback=f"{service.url}/v1/callbacks/sms/http")
        async with aiohttp.ClientSession() as session:
            bulk = {
                "title": TITLE,
                "body": BODY,
                "channels": ["sms"],
                "audience": {"areas": [PROVINCE]},
            }
            await api(session, service, "POST", "/v1/announcements", json=bulk)
            while (await gateway.stats())["messages"] < min(5_000, variant.n // 20):
                await asyncio.sleep(0.05)
            for k in range(tries):
                mark = f"e{k}"
                body = {
                    "title": "KHAN CAP",
                    "body": f"So tan ngay [mark:{mark}]",
                    "channels": ["sms"],
                    "priority": "emergency",
                    "audience": {"addresses": {"sms": [mobile(9_000_000 + k)]}},
                }
                posted = time.time()
                await api(session, service, "POST", "/v1/announcements", json=body)
                deadline = time.monotonic() + 60
                while mark not in (stats := await gateway.stats())["marks"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"emergency {mark} never reached the gateway")
                    await asyncio.sleep(0.005)
                result.emergency_ms.append((stats["marks"][mark] - posted) * 1000)
                if stats["messages"] >= variant.n:
                    result.notes.append(f"bulk finished before try {k + 1}")
                    break
                await asyncio.sleep(0.25)
            stats = await gateway.stats()
            result.notes.append(f"bulk at {stats['messages']:,}/{variant.n:,} after the tries")
        result.peak_rss_mb = service.peak_rss_mb()
    finally:
        service.stop()
    return result


# -- the table -----------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def median(values: Iterator[float | None] | list[float | None]) -> float | None:
    """Median of the known values."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def per_delivery_us(runs: list[RunResult], n: int, attribute: str) -> float | None:
    """The median over ``runs`` of CPU ``attribute`` (seconds) per delivery, in µs."""
    return median(
        None if (value := getattr(r, attribute)) is None else value / n * 1e6 for r in runs
    )


def cpu_budget(row: dict[str, Any], cores: int) -> None:
    """Add to ``row`` what its CPU figures allow: the most sent/s the machine's cores could
    carry at the service's and the gateway's CPU per delivery (every core busy, nothing
    else running), and the service's CPU per delivery that the target leaves (the cores'
    time per target delivery, less the gateway's share)."""
    base = row["variant"].partition(":")[0]
    service, gateway = row.get("service_us"), row.get("gateway_us")
    if service is None or gateway is None:
        return
    row["cores_allow_per_s"] = cores * 1e6 / (service + gateway)
    rate = TARGET_RATES.get(base)
    if base in TARGET_SHARE and row.get("ceiling_per_s"):
        rate = TARGET_SHARE[base] * row["ceiling_per_s"]
    if rate:
        row["budget_us"] = cores * 1e6 / rate - gateway


def summarise(variant: Variant, runs: list[RunResult], cores: int) -> dict[str, Any]:
    """The medians of one variant's runs."""
    n = variant.n
    ceiling_s = median(r.ceiling_s for r in runs)
    sent_s = median(r.to_sent_s for r in runs)
    delivered_s = median(r.to_delivered_s for r in runs)
    row: dict[str, Any] = {
        "variant": variant.name,
        "n": n,
        "shape": f"batch {variant.batch_size}" if variant.batch else "single",
        "latency_ms": variant.latency_ms,
        "inflight": variant.inflight,
        "workers": variant.workers,
        "runs": len(runs),
        "ceiling_per_s": n / ceiling_s if ceiling_s else None,
        "to_sent_s": sent_s,
        "sent_per_s": n / sent_s if sent_s else None,
        "to_delivered_s": delivered_s,
        "delivered_per_s": n / delivered_s if delivered_s else None,
        "peak_rss_mb": median(r.peak_rss_mb for r in runs),
        "cpu_per_s": median(
            r.cpu_s / r.to_sent_s if r.cpu_s is not None and r.to_sent_s else None for r in runs
        ),
        "target": TARGETS.get(variant.name.partition(":")[0], ""),
        "notes": sorted({note for r in runs for note in r.notes}),
        "service_us": per_delivery_us(runs, n, "cpu_s"),
        "loop_us": per_delivery_us(runs, n, "loop_cpu_s"),
        "gateway_us": per_delivery_us(runs, n, "gateway_cpu_s"),
        "ceiling_us": per_delivery_us(runs, n, "ceiling_cpu_s"),
        "ceiling_gateway_us": per_delivery_us(runs, n, "ceiling_gateway_cpu_s"),
    }
    row["to_first_call_s"] = median(r.to_first_call_s for r in runs)
    row["calls_s"] = median(r.calls_s for r in runs)
    row["after_last_call_s"] = median(
        r.to_sent_s - r.to_first_call_s - r.calls_s
        if r.to_sent_s is not None and r.to_first_call_s is not None and r.calls_s is not None
        else None
        for r in runs
    )
    # Each run against its own ceiling: the machine's speed drifts between runs.
    row["ratio"] = median(r.ratio for r in runs)
    if any(r.emergency_ms for r in runs):
        row["emergency_p50_ms"] = median(statistics.median(r.emergency_ms) for r in runs)
        row["emergency_p99_ms"] = median(percentile(r.emergency_ms, 0.99) for r in runs)
        row["emergency_tries"] = [len(r.emergency_ms) for r in runs]
    cpu_budget(row, cores)
    return row


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or ``-``."""
    return "-" if value is None else format(value, spec)


def markdown(columns: list[str], body: Iterable[list[str]]) -> str:
    """A Markdown table of ``columns`` and the rows of cells in ``body``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend("| " + " | ".join(cells) + " |" for cells in body)
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    columns = [
        "variant", "N", "gateway", "ceiling msg/s", "POST→sent s", "sent/s", "ratio",
        "POST→delivered s", "delivered/s", "service CPU", "peak RSS MB",
        "emergency p50 / p99 ms", "target",
    ]  # fmt: skip
    body = []
    for r in rows:
        gateway = f"{r['shape']}, {r['latency_ms']:g} ms, {r['inflight']} in flight"
        if r.get("workers"):
            gateway += f"; serve + {r['workers']} worker{'s' if r['workers'] > 1 else ''}"
        emergency = (
            f"{r['emergency_p50_ms']:.0f} / {r['emergency_p99_ms']:.0f}"
            if "emergency_p50_ms" in r
            else "-"
        )
        cells = [
            r["variant"], f"{r['n']:,}", gateway, fmt(r["ceiling_per_s"], ",.0f"),
            fmt(r["to_sent_s"], ".2f"), fmt(r["sent_per_s"], ",.0f"),
            fmt(r.get("ratio"), ".2f"), fmt(r["to_delivered_s"], ".2f"),
            fmt(r["delivered_per_s"], ",.0f"), fmt(r.get("cpu_per_s"), ".2f"),
            fmt(r["peak_rss_mb"], ".0f"), emergency, r["target"],
        ]  # fmt: skip
        body.append(cells)
    return markdown(columns, body)


def phase_table(rows: list[dict[str, Any]]) -> str:
    """Where POST→sent goes: before the gateway's first request, between its first and last
    (with the rate of that stretch), and after the last until the poll sees all sent."""
    columns = [
        "variant", "POST→first call s", "first→last call s", "calls msg/s",
        "last call→all sent s", "POST→sent s",
    ]  # fmt: skip
    return markdown(columns, (_phase_cells(r) for r in rows if r.get("calls_s") is not None))


def _phase_cells(r: dict[str, Any]) -> list[str]:
    rate = r["n"] / r["calls_s"] if r["calls_s"] else None
    return [
        r["variant"], fmt(r["to_first_call_s"], ".3f"), fmt(r["calls_s"], ".3f"),
        fmt(rate, ",.0f"), fmt(r["after_last_call_s"], ".3f"), fmt(r["to_sent_s"], ".2f"),
    ]  # fmt: skip


def cpu_table(rows: list[dict[str, Any]]) -> str:
    """Where the CPU goes, per delivery, and what the targets leave the service (Markdown)."""
    columns = [
        "variant", "plain loop µs/msg", "its gateway µs/msg", "service µs/delivery",
        "of which event loop", "gateway µs/delivery", "sent/s the cores allow",
        "target leaves the service µs",
    ]  # fmt: skip
    return markdown(columns, (_cpu_cells(r) for r in rows if r.get("service_us") is not None))


def _cpu_cells(r: dict[str, Any]) -> list[str]:
    return [
        r["variant"], fmt(r["ceiling_us"], ".1f"), fmt(r["ceiling_gateway_us"], ".1f"),
        fmt(r["service_us"], ".1f"), fmt(r.get("loop_us"), ".1f"), fmt(r["gateway_us"], ".1f"),
        fmt(r.get("cores_allow_per_s"), ",.0f"), fmt(r.get("budget_us"), ".1f"),
    ]  # fmt: skip


# -- driver --------------------------------------------------------------------------------
def variants(args: argparse.Namespace) -> list[Variant]:
    """The chosen variants."""
    known = {
        "single": Variant("single", False, 0, args.n, args.parallel, args.batch_size),
        "batch": Variant("batch", True, 0, args.n, args.parallel, args.batch_size),
        "latency50": Variant("latency50", False, 50, args.n, args.parallel, args.batch_size),
        "latency50-batch": Variant(
            "latency50-batch", True, 50, args.n, args.parallel, args.batch_size
        ),
        "million": Variant("million", True, 0, args.million_n, args.parallel, args.batch_size),
        "emergency": Variant("emergency", True, 0, args.bulk_n, args.parallel, args.batch_size),
    }
    chosen = [name.strip() for name in args.variants.split(",") if name.strip()]
    found = []
    for name in chosen:
        # "single:w1": the variant with one `thongbao worker` process beside serve.
        base, _, extra = name.partition(":")
        workers = int(extra[1:]) if extra[:1] == "w" and extra[1:].isdigit() else None
        if base not in known or (extra and workers is None):
            raise SystemExit(
                f"unknown variant {name!r}; use {', '.join(known)}, each optionally with "
                ":wK for K worker processes beside serve (single:w1)"
            )
        found.append(replace(known[base], name=name, workers=workers or 0))
    return found


def print_traces(trace: Path) -> None:
    """The table of each process's store trace (serve, then any workers, by pid)."""
    for path in sorted(trace.parent.glob(f"{trace.name}-*.tsv")):
        rows, busy = store_trace.summarise(store_trace.read(path))
        print(f"  store writes of process {path.stem.rsplit('-', 1)[1]} ({path}):\n")
        print("\n".join(f"    {line}" for line in store_trace.table(rows, busy).splitlines()))
        print(flush=True)


async def run_variant(
    root: Path, variant: Variant, args: argparse.Namespace, counter: Iterator[int]
) -> list[RunResult]:
    """Every run of one variant on one gateway process."""
    results = []
    async with GatewayProcess(free_port(), latency_ms=variant.latency_ms) as gateway:
        for run in range(args.runs):
            run_dir = root / f"run-{next(counter)}-{variant.name}"
            if variant.name.partition(":")[0] == "emergency":
                result = await emergency_run(root, run_dir, gateway, variant, args.tries)
            else:
                profile = trace = None
                if args.profile and variant.name in args.profile.split(",") and run == 0:
                    profile = Path(args.out) / f"profile-{variant.name}.txt"
                if variant.name in args.trace_store.split(",") and run == 0:
                    trace = Path(args.out) / f"store-trace-{variant.name}"
                    for old in trace.parent.glob(f"{trace.name}-*.tsv"):
                        old.unlink()
                before = await ceiling(gateway, variant)
                result = await fanout_run(root, run_dir, gateway, variant, profile, trace)
                result.add_ceilings([before, await ceiling(gateway, variant)])
                if trace is not None:
                    print_traces(trace)
            print(f"  {variant.name} run {run + 1}: {json.dumps(asdict(result))}", flush=True)
            results.append(result)
            if not args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
    return results


async def main_async(args: argparse.Namespace) -> None:
    """Run the chosen variants and print the table."""
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    cores = os.cpu_count() or 1
    counter = itertools.count(1)
    tmp = Path(tempfile.mkdtemp(prefix="thongbao-bench-"))
    try:
        for variant in variants(args):
            print(f"{variant.name}: N={variant.n:,}", flush=True)
            runs = await run_variant(tmp, variant, args, counter)
            rows.append(summarise(variant, runs, cores))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nsms-fanout, {cores} cores (os.cpu_count()), median of {args.runs} run(s)\n")
    print(table(rows))
    print(f"\nCPU per delivery (all threads; the {cores} cores run service, gateway and driver)\n")
    print(cpu_table(rows))
    print("\nWhere POST→sent goes (each column the median over runs)\n")
    print(phase_table(rows))
    for r in rows:
        for note in r["notes"]:
            print(f"- {r['variant']}: {note}")
    report = {"cores": cores, "args": vars(args), "rows": rows, "at": time.time()}
    (Path(args.out) / "latest.json").write_text(json.dumps(report, indent=2))


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="recipients (default 20,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (median)")
    parser.add_argument(
        "--variants",
        default="single,batch,latency50",
        help="comma-separated variants, each may end in :wK for K worker processes (README)",
    )
    parser.add_argument("--bulk-n", type=int, default=1_000_000, help="emergency: bulk size")
    parser.add_argument("--million-n", type=int, default=1_000_000, help="million: recipients")
    parser.add_argument("--tries", type=int, default=20, help="emergency: tries per run")
    parser.add_argument(
        "--parallel",
        type=int,
        default=100,
        help="[channels.sms.http] parallel (requests per batch at once)",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="batch endpoint max_size")
    parser.add_argument(
        "--profile", default="", help="variants to profile with py-spy on their first run"
    )
    parser.add_argument(
        "--trace-store",
        default="",
        help="variants whose first run times each store write transaction (store_trace.py)",
    )
    parser.add_argument(
        "--out",
        default=str(Path(__file__).parent / "out"),
        help="where latest.json and profiles go",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's directory")
    # The service's event loop (uvloop unless $THONGBAO_EVENT_LOOP=asyncio) runs the plain
    # loop too: the ceiling must not be lower only because it runs on a slower loop.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
