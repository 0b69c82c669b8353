"""HTTP routes of the loudspeaker channel.

Controllers (public routes, bearer token = the cluster's own token or ``report_token``):

- ``POST /v1/callbacks/loudspeaker/played``: play reports (:class:`~.wire.PlayReports`);
- ``POST /v1/callbacks/loudspeaker/heartbeat``: heartbeats (:class:`~.wire.Heartbeat`);
- ``GET /v1/loudspeaker/audio/{name}``: the WAV files schedules point at.

People (API keys):

- ``GET /v1/loudspeaker/programme?commune=CODE&date=YYYY-MM-DD[&format=json|text|html]``:
  any valid key;
- ``POST /v1/loudspeaker/clusters``: import the registry (JSON list, or CSV), role admin;
- ``POST /v1/loudspeaker/recordings``: upload a WAV recording, role staff.
"""

from __future__ import annotations

import hmac
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dispatcher import NotFoundError, RouteSpec, services
from plugins.loudspeaker import programme
from plugins.loudspeaker.broadcast import Broadcaster
from plugins.loudspeaker.channel import LoudspeakerChannel
from plugins.loudspeaker.registry import Cluster, parse_rows
from plugins.loudspeaker.speech import AUDIO_NAME, BadRecordingError
from plugins.loudspeaker.wire import AUDIO_PATH, HEARTBEAT_PATH, PLAYED_PATH, Heartbeat, PlayReports

PROGRAMME_PATH = "/v1/loudspeaker/programme"
CLUSTERS_PATH = "/v1/loudspeaker/clusters"
RECORDINGS_PATH = "/v1/loudspeaker/recordings"
CANCEL_PATH = "/v1/loudspeaker/announcements/{announcement_id}/cancel"
MAX_RECORDING = 50 * 1024 * 1024


def problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


class _Refused(Exception):
    def __init__(self, answer: web.Response) -> None:
        self.answer = answer


def _channel(request: web.Request) -> LoudspeakerChannel:
    channel = services(request).channels.get("loudspeaker")
    if not isinstance(channel, LoudspeakerChannel) or channel.broadcaster is None:
        raise _Refused(problem(503, "Loudspeaker channel not running", "try again later"))
    return channel


def _broadcaster(request: web.Request) -> Broadcaster:
    broadcaster = _channel(request).broadcaster
    assert broadcaster is not None
    return broadcaster


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        raise _Refused(problem(400, "Bad message", str(exc)[:500])) from exc


async def _controller(request: web.Request, broadcaster: Broadcaster, cluster_id: str) -> Cluster:
    """The cluster, when the request carries its token or the shared one."""
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    cluster = await broadcaster.book.get(cluster_id.strip().lower())
    if cluster is None:
        raise _Refused(problem(404, "Unknown cluster", f"no cluster {cluster_id!r}"))
    shared = broadcaster.settings.report_token
    good = bool(token) and (
        cluster.accepts(token)
        or (shared is not None and hmac.compare_digest(shared.get_secret_value(), token))
    )
    if not good:
        raise _Refused(
            problem(401, "Token needed", "send Authorization: Bearer <the cluster's token>")
        )
    return cluster


def _refusals(handler: Any) -> Any:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            answer: web.StreamResponse = await handler(request)
            return answer
        except _Refused as refused:
            return refused.answer

    guarded.__doc__ = handler.__doc__
    guarded.__name__ = handler.__name__
    return guarded


@_refusals
async def played(request: web.Request) -> web.StreamResponse:
    """Play reports from a controller."""
    broadcaster = _broadcaster(request)
    reports: PlayReports = await _body(request, PlayReports)
    cluster = await _controller(request, broadcaster, reports.cluster)
    reports = reports.model_copy(update={"cluster": cluster.id})
    return web.json_response({"applied": await broadcaster.apply_reports(reports)})


@_refusals
async def heartbeat(request: web.Request) -> web.StreamResponse:
    """A controller says it lives (and which schedule it holds)."""
    broadcaster = _broadcaster(request)
    beat: Heartbeat = await _body(request, Heartbeat)
    cluster = await _controller(request, broadcaster, beat.cluster)
    return web.json_response(
        await broadcaster.heartbeat(beat.model_copy(update={"cluster": cluster.id}))
    )


@_refusals
async def audio(request: web.Request) -> web.StreamResponse:
    """A WAV file by its SHA-256 name (unguessable, so public like the announcement)."""
    name = request.match_info["name"]
    path = _channel(request).speech.path(name)
    if not AUDIO_NAME.match(name) or not path.exists():
        return problem(404, "No such audio", f"no audio file {name!r}")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


@_refusals
async def show_programme(request: web.Request) -> web.StreamResponse:
    """The day's programme of a commune, as JSON, text or printable HTML."""
    broadcaster = _broadcaster(request)
    commune = request.query.get("commune", "")
    try:
        day = date.fromisoformat(request.query.get("date", ""))
    except ValueError:
        return problem(400, "Bad date", "give date=YYYY-MM-DD")
    if not commune:
        return problem(400, "Commune needed", "give commune=<area code>")
    subtree = await services(request).store.area_subtree([commune])
    found = await programme.build(broadcaster, subtree, commune, day)
    shape = request.query.get("format", "json")
    if shape == "html":
        return web.Response(text=programme.as_html(found), content_type="text/html")
    if shape == "text":
        return web.Response(text=programme.as_text(found), content_type="text/plain")
    return web.json_response(found)


@_refusals
async def import_clusters(request: web.Request) -> web.StreamResponse:
    """Import the registry: all rows or none; the answer lists every bad row."""
    broadcaster = _broadcaster(request)
    fmt = "csv" if request.content_type == "text/csv" else "json"
    try:
        rows = parse_rows(await request.text(), fmt)
    except ValueError as exc:
        return problem(400, "Bad registry", str(exc))
    report = await broadcaster.book.import_rows(rows)
    errors = [{"row": row, "msg": msg} for row, msg in report.errors]
    return web.json_response(
        {"accepted": report.accepted, "errors": errors}, status=200 if report.ok else 422
    )


@_refusals
async def upload_recording(request: web.Request) -> web.StreamResponse:
    """A human recording (WAV body) that options.recording can name."""
    channel = _channel(request)
    data = await request.content.read(MAX_RECORDING + 1)
    if len(data) > MAX_RECORDING:
        return problem(413, "Recording too large", f"at most {MAX_RECORDING // 2**20} MiB")
    try:
        kept = channel.speech.keep_recording(data)
    except BadRecordingError as exc:
        return problem(400, "Not a WAV file", str(exc))
    body = {"recording": kept.name.removesuffix(".wav"), "duration": round(kept.duration, 2)}
    return web.json_response(body, status=201)


@_refusals
async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel an announcement and take its unplayed repeats off every controller, even
    when its deliveries were all sent (the core then leaves it completed)."""
    broadcaster = _broadcaster(request)
    announcement_id = request.match_info["announcement_id"]
    try:
        announcement = await services(request).cancel_announcement(announcement_id)
    except NotFoundError as exc:
        return problem(404, "No such announcement", str(exc))
    clusters = await broadcaster.cancel_announcement(announcement_id)
    return web.json_response({"status": announcement.status.value, "clusters": clusters})


ROUTES = (
    RouteSpec("POST", PLAYED_PATH, played),
    RouteSpec("POST", HEARTBEAT_PATH, heartbeat),
    RouteSpec("GET", AUDIO_PATH, audio),
    RouteSpec("GET", PROGRAMME_PATH, show_programme, role=("staff", "operator", "system")),
    RouteSpec("POST", CLUSTERS_PATH, import_clusters, role="admin"),
    RouteSpec("POST", RECORDINGS_PATH, upload_recording, role="staff"),
    RouteSpec("POST", CANCEL_PATH, cancel, role="staff"),
)
