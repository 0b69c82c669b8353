"""The README's first announcement, done as a new user would, against a real process.

``thongbao serve`` runs as a subprocess on a free port and a temporary database; the test
talks to it only through the CLI and HTTP, as a person with curl would. Polling is how a
client follows another process, so this test polls, with a bounded wait.

Zalo and e-mail run on their sandboxes. SMS goes through a stand-in gateway on 127.0.0.1
(:class:`FakeGateway`), because the sandbox sends at full speed while a real gateway is
paced (the SMS channel's 50 messages a second): that pace is what makes "cancel while it
sends" something a test can rely on, and the gateway sees exactly what went out and when.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WAIT = 60.0
OPEN = ("queued", "sending", "retry_wait")


def thongbao_command() -> list[str]:
    """The installed ``thongbao`` script beside this Python, or the module as a fallback."""
    script = shutil.which("thongbao", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from dispatcher.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


class FakeGateway:
    """An SMS gateway as a provider runs one: it accepts each message (``POST {"to", "text",
    "ref"}`` answered ``{"id": "gw-<ref>"}``) and, a moment later, reports it delivered on
    thongbao's callback route. It notes when each message (by ``ref``) arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.callback_url = ""
        self._reports: queue.Queue[str] = queue.Queue()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/send"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="gateway-http"),
            threading.Thread(target=self._report_loop, name="gateway-reports"),
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.arrivals[message["ref"]] = time.monotonic()
                provider_id = f"gw-{message['ref']}"
                gateway._reports.put(provider_id)
                answer = json.dumps({"id": provider_id}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _report_loop(self) -> None:
        while not self._closing.wait(0.2):
            ids: list[str] = []
            while len(ids) < 1000 and not self._reports.empty():
                ids.append(self._reports.get())
            if not ids:
                continue
            reports = json.dumps([{"id": i, "status": "DELIVRD"} for i in ids]).encode()
            request = urllib.request.Request(
                self.callback_url, data=reports, headers={"Content-Type": "application/json"}
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError:
                for i in ids:  # thongbao is not up (yet or any more): report again later
                    self._reports.put(i)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=WAIT)


@dataclass
class Service:
    """A running ``thongbao serve`` and how to reach it."""

    url: str
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    gateway: FakeGateway
    token: str = ""

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*thongbao_command(), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert 0 == done.returncode, done.stderr
        return done.stdout

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Any:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"{method} {path} answered {exc.code}: {exc.read().decode()}")

    def post_json(self, path: str, data: Any) -> Any:
        return self.request("POST", path, json.dumps(data).encode(), "application/json")

    def deliveries(self, announcement_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query = "limit=500"
        while True:
            page = self.request("GET", f"/v1/announcements/{announcement_id}/deliveries?{query}")
            found.extend(page["items"])
            if not page["next_cursor"]:
                return found
            query = f"limit=500&cursor={page['next_cursor']}"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    fake.start()
    yield fake
    fake.close()


@pytest.fixture
def service(tmp_path: Path, gateway: FakeGateway) -> Iterator[Service]:
    port = free_port()
    gateway.callback_url = f"http://127.0.0.1:{port}/v1/callbacks/sms/http"
    config = tmp_path / "thongbao.toml"
    config.write_text(
        f"""
db = "{tmp_path / "demo.db"}"
data_dir = "{tmp_path / "data"}"

[api]
port = {port}

[channels.sms]
transport = "http"

[channels.sms.http]
url = "{gateway.url}"

[channels.zalo.sandbox]
receipt_delay = 0.2

[channels.email.sandbox]
receipt_delay = 0.2

# SMS goes to a gateway here, not to its sandbox: without this, quiet hours (22:00-07:00 in
# Viet Nam) would hold it back until morning when the suite runs at night.
[audience]
quiet_channels = []
""",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("THONGBAO_")}
    env["THONGBAO_CONFIG"] = str(config)
    stdout = (tmp_path / "serve.out").open("wb")
    stderr = (tmp_path / "serve.err").open("wb")
    process = subprocess.Popen(
        [*thongbao_command(), "serve"], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr
    )
    running = Service(f"http://127.0.0.1:{port}", tmp_path, env, process, gateway)
    try:
        wait_until(
            "the service to answer /healthz",
            lambda: process.poll() is not None or healthy(running.url),
        )
        assert process.poll() is None, (tmp_path / "serve.err").read_text()
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stdout.close()
        stderr.close()


def province_contacts(province: str) -> set[str]:
    """Ids of the example contacts living in a commune of ``province``."""
    with (EXAMPLES / "areas.csv").open(encoding="utf-8") as handle:
        communes = {row["code"] for row in csv.DictReader(handle) if row["parent_code"] == province}
    with (EXAMPLES / "contacts.csv").open(encoding="utf-8") as handle:
        return {row["id"] for row in csv.DictReader(handle) if row["area_code"] in communes}


def counts(announcement: dict[str, Any], *statuses: str, channel: str | None = None) -> int:
    """Deliveries in one of ``statuses`` (on ``channel`` only, if given)."""
    return sum(
        n
        for name, by_status in announcement["counts"].items()
        if channel in (None, name)
        for status, n in by_status.items()
        if status in statuses
    )


def test_first_announcement_then_a_cancelled_one(service: Service) -> None:
    # A key, as the README creates it: the token alone on stdout.
    service.token = service.cli("keys", "create", "--role", "staff").strip()
    assert service.token.startswith("tb_")

    # The directory, over HTTP: two provinces, 1,000 contacts across their communes.
    areas = service.request(
        "POST", "/v1/areas/import", (EXAMPLES / "areas.csv").read_bytes(), "text/csv"
    )
    contacts = service.request(
        "POST", "/v1/contacts/import", (EXAMPLES / "contacts.csv").read_bytes(), "text/csv"
    )
    assert (22, 1000) == (areas["accepted"], contacts["accepted"])

    # One province, two channels.
    announcement = service.post_json(
        "/v1/announcements",
        {
            "title": "Thông báo tạm ngừng cấp nước",
            "body": "Kính gửi {{ contact.name }}: khu vực của bạn tạm ngừng cấp nước tối nay.",
            "channels": ["sms", "zalo"],
            "audience": {"areas": ["79"]},
        },
    )
    announcement_id = announcement["id"]
    watcher = subprocess.Popen(
        [*thongbao_command(), "status", announcement_id, "--watch", "--interval", "0.5"],
        cwd=service.workdir,
        env=service.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    done = wait_until(
        "every delivery to be delivered",
        lambda: (
            a
            if (a := service.request("GET", f"/v1/announcements/{announcement_id}"))["status"]
            == "completed"
            and counts(a, "delivered") == 1000
            else None
        ),
    )
    expected = province_contacts("79")
    assert 500 == len(expected)
    assert {"sms": {"delivered": 500}, "zalo": {"delivered": 500}} == done["counts"]
    deliveries = service.deliveries(announcement_id)
    for channel in ("sms", "zalo"):
        assert expected == {d["contact_id"] for d in deliveries if d["channel"] == channel}
    watched, errors = watcher.communicate(timeout=WAIT)
    assert 0 == watcher.returncode, errors
    assert "status: completed" in watched.decode()

    # A bigger, slower one to everybody, cancelled while it sends.
    big = service.post_json(
        "/v1/announcements",
        {
            "title": "Diễn tập phòng cháy",
            "body": "Thông báo diễn tập phòng cháy chữa cháy toàn thành phố.",
            "priority": "bulk",
            "channels": ["sms", "zalo", "email"],
            "audience": {"areas": ["01", "79"]},
        },
    )
    big_id = big["id"]
    wait_until(
        "the first text messages to go out",
        lambda: counts(
            service.request("GET", f"/v1/announcements/{big_id}"),
            "sent",
            "delivered",
            channel="sms",
        ),
    )
    cancelled_at = time.monotonic()
    cancelled = service.post_json(f"/v1/announcements/{big_id}/cancel", {})
    assert "cancelled" == cancelled["status"]
    at_cancel = {d["id"]: d["status"] for d in service.deliveries(big_id)}
    gone_out = {i for i, s in at_cancel.items() if s not in ("cancelled", "suppressed")}

    settled = wait_until(
        "in-flight sends to settle",
        lambda: (
            a
            if counts(a := service.request("GET", f"/v1/announcements/{big_id}"), *OPEN) == 0
            else None
        ),
    )
    assert "cancelled" == settled["status"]
    assert counts(settled, "cancelled") > 0
    final = {d["id"]: d["status"] for d in service.deliveries(big_id)}
    assert set(at_cancel) == set(final), "fan-out went on after the cancel"
    sent_in_the_end = {i for i, s in final.items() if s not in ("cancelled", "suppressed")}
    assert sent_in_the_end <= gone_out, "a delivery went out after the cancel"
    late = {ref for ref, at in service.gateway.arrivals.items() if at > cancelled_at}
    assert late <= gone_out, "the gateway got a message that was queued at the cancel"

    # SIGTERM: a clean stop.
    service.process.send_signal(signal.SIGTERM)
    assert 0 == service.process.wait(timeout=WAIT)
    out = (service.workdir / "serve.out").read_text()
    assert f"thongbao listening on {service.url}" in out
    events = [
        json.loads(line)["event"]
        for line in (service.workdir / "serve.err").read_text().splitlines()
        if line.startswith("{")
    ]
    assert {"service_started", "service_stopped"} <= set(events)
    logs = (service.workdir / "serve.err").read_text()
    with (EXAMPLES / "contacts.csv").open(encoding="utf-8") as handle:
        # The national significant number is in every written form of a phone number.
        numbers = {row["sms"][1:] for row in csv.DictReader(handle)}
    assert not [n for n in numbers if n in logs], "a phone number reached the logs"
