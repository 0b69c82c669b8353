"""People and areas: a contact with its consents, consent changes, erasure, export, area
search and the official list of areas."""

from __future__ import annotations

from aiohttp import web

from dispatcher.api.endpoint import Endpoint, Param, Reply, json_model
from dispatcher.api.models import AreaMatches, OfficialAreas
from dispatcher.api.params import Query, read_model
from dispatcher.keys import Role
from dispatcher.webkeys import services
from schemas import ConsentIn, ContactDetails

_STAFF = (Role.STAFF,)
_READERS = (Role.STAFF, Role.OPERATOR)


async def get_contact(request: web.Request) -> web.Response:
    """A contact with every consent recorded for it (an erased one shows no personal data)."""
    return json_model(await services(request).contact_details(request.match_info["id"]))


async def set_consent(request: web.Request) -> web.Response:
    """Record a person's choice about one channel, with its source; the next fan-out obeys it."""
    consent = await read_model(request, ConsentIn)
    contact_id, channel = request.match_info["id"], request.match_info["channel"]
    await services(request).set_consent(contact_id, channel, consent)
    return json_model(await services(request).contact_details(contact_id))


async def erase_contact(request: web.Request) -> web.Response:
    """Erase a person on request: name, area, tags and addresses go (also from their
    deliveries and replies); delivery statistics stay."""
    await services(request).erase_contact(request.match_info["id"])
    return web.Response(status=204)


async def export_contacts(request: web.Request) -> web.StreamResponse:
    """Every live contact as NDJSON (one JSON object per line), streamed in id order."""
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    async for contact in services(request).export_contacts():
        await response.write(contact.model_dump_json().encode() + b"\n")
    await response.write_eof()
    return response


async def search_areas(request: web.Request) -> web.Response:
    """Areas whose name contains ``q``, with or without tone marks ("ba dinh")."""
    query = Query(request, ("q", "limit"))
    text = query.text("q", max_length=100)
    limit = query.limit(default=20, maximum=100)
    if text is None:
        query.errors.append({"loc": ["query", "q"], "msg": "give q, the name to look for"})
    query.check()
    found = await services(request).search_areas(text or "", limit=limit)
    return json_model(AreaMatches(items=found))


async def load_official_areas(request: web.Request) -> web.Response:
    """Load (or refresh) Vietnam's 34 provinces and 3,321 communes (2025 reorganisation)."""
    return json_model(OfficialAreas(loaded=await services(request).load_official_areas()))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/v1/contacts/export",
        export_contacts,
        name="export_contacts",
        summary="Export every contact (NDJSON)",
        tag="directory",
        roles=(),
        replies=(Reply(200, "One contact per line.", None, media_type="application/x-ndjson"),),
    ),
    Endpoint(
        "GET",
        "/v1/contacts/{id}",
        get_contact,
        name="get_contact",
        summary="Read a contact with its consents",
        tag="directory",
        roles=_READERS,
        replies=(Reply(200, "The contact.", ContactDetails),),
    ),
    Endpoint(
        "PUT",
        "/v1/contacts/{id}/consents/{channel}",
        set_consent,
        name="set_consent",
        summary="Record a consent",
        tag="directory",
        roles=_STAFF,
        body={"application/json": ConsentIn},
        replies=(Reply(200, "The contact with its consents.", ContactDetails),),
    ),
    Endpoint(
        "DELETE",
        "/v1/contacts/{id}",
        erase_contact,
        name="erase_contact",
        summary="Erase a contact's personal data",
        tag="directory",
        roles=(),
        replies=(Reply(204, "Erased.", None),),
    ),
    Endpoint(
        "GET",
        "/v1/areas",
        search_areas,
        name="search_areas",
        summary="Find areas by name",
        tag="directory",
        roles=_READERS,
        params=(
            Param("q", "query", {"type": "string", "maxLength": 100}, "Part of the name."),
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}, "At most."),
        ),
        replies=(Reply(200, "Matching areas, shortest names first.", AreaMatches),),
    ),
    Endpoint(
        "POST",
        "/v1/areas/official",
        load_official_areas,
        name="load_official_areas",
        summary="Load the official list of areas",
        tag="directory",
        roles=(),
        replies=(Reply(200, "How many areas were loaded.", OfficialAreas),),
    ),
)
