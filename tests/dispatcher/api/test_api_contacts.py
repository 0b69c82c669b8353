"""Importing contacts and areas over HTTP: JSON or CSV, all rows or none."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.keys import Role
from schemas import Contact

CONTACTS = [
    {"id": "c1", "name": "Nguyễn Văn An", "area_code": "P01", "addresses": {"sms": "+84901000001"}},
    {"id": "c2", "name": "Trần Thị Bình", "tags": ["tổ-5"], "addresses": {"email": "b@x.vn"}},
]
CSV = (
    "id,name,area_code,tags,sms,email\n"
    "c1,Nguyễn Văn An,P01,,+84901000001,\n"
    "c2,Trần Thị Bình,,tổ-5,,b@x.vn\n"
)


async def _stored(api: Any, ids: list[str]) -> list[Contact]:
    found: dict[str, Contact] = await api.store.get_contacts(ids)
    return [found[i] for i in ids if i in found]


async def _post(api: Any, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return await api.client.post(
        path, headers={**api.auth(Role.STAFF), **(headers or {})}, **kwargs
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"json": CONTACTS}, id="json-list"),
        pytest.param({"json": {"contacts": CONTACTS}}, id="json-object"),
        pytest.param({"data": CSV, "headers": {"Content-Type": "text/csv"}}, id="csv"),
        pytest.param(
            {"data": "\ufeff" + CSV, "headers": {"Content-Type": "text/csv; charset=utf-8"}},
            id="csv-with-bom",
        ),
    ],
)
async def test_contacts_import_writes_every_row(api_client: Any, kwargs: dict[str, Any]) -> None:
    headers = {**api_client.auth(Role.STAFF), **kwargs.pop("headers", {})}

    response = await api_client.client.post("/v1/contacts/import", headers=headers, **kwargs)

    assert (200, {"accepted": 2, "mapped": 0, "rejected": []}) == (
        response.status,
        await response.json(),
    )
    assert [Contact.model_validate(c) for c in CONTACTS] == await _stored(api_client, ["c1", "c2"])


async def test_contacts_import_with_a_bad_row_writes_nothing(api_client: Any) -> None:
    rows = [*CONTACTS, {"id": "c3", "addresses": {"SMS!": "x"}}, {"id": "c1"}, "not a row"]

    response = await _post(api_client, "/v1/contacts/import", json=rows)

    body = await api_client.problem(response, 422)
    assert ("urn:thongbao:problem:invalid-rows", [3, 4, 5]) == (
        body["type"],
        [error["row"] for error in body["errors"]],
    )
    assert "3 of 5 rows are not valid; nothing was imported" == body["detail"]
    assert [] == await _stored(api_client, ["c1", "c2", "c3"])


async def test_contacts_csv_with_a_bad_row_names_it(api_client: Any) -> None:
    csv = CSV + "c3,Lê Văn C,bad code!,,,\n"

    response = await _post(
        api_client, "/v1/contacts/import", data=csv, headers={"Content-Type": "text/csv"}
    )

    body = await api_client.problem(response, 422)
    assert [3] == [error["row"] for error in body["errors"]]
    assert "area_code" in body["errors"][0]["msg"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"people": []}, id="object-without-contacts"),
        pytest.param({"contacts": "c1"}, id="contacts-not-a-list"),
    ],
)
async def test_contacts_json_of_the_wrong_shape_is_422(api_client: Any, payload: Any) -> None:
    response = await _post(api_client, "/v1/contacts/import", json=payload)

    body = await api_client.problem(response, 422)
    assert [[]] == [error["loc"] for error in body["errors"]]


async def test_empty_import_accepts_nothing(api_client: Any) -> None:
    response = await _post(api_client, "/v1/contacts/import", json=[])

    assert {"accepted": 0, "mapped": 0, "rejected": []} == await response.json()


async def test_areas_import_json_and_csv(api_client: Any) -> None:
    provinces = [{"code": "HCM", "name": "TP. Hồ Chí Minh"}]
    csv = "code,name,parent_code\nQ1,Quận 1,HCM\nP01,Phường Bến Nghé,Q1\n"

    first = await _post(api_client, "/v1/areas/import", json={"areas": provinces})
    second = await _post(
        api_client, "/v1/areas/import", data=csv, headers={"Content-Type": "text/csv"}
    )

    assert [
        (200, {"accepted": 1, "mapped": 0, "rejected": []}),
        (200, {"accepted": 2, "mapped": 0, "rejected": []}),
    ] == [
        (first.status, await first.json()),
        (second.status, await second.json()),
    ]


async def test_areas_import_with_a_bad_row_is_422(api_client: Any) -> None:
    rows = [{"code": "HCM", "name": "TP. Hồ Chí Minh"}, {"code": "Q1"}]

    response = await _post(api_client, "/v1/areas/import", json=rows)

    body = await api_client.problem(response, 422)
    assert [2] == [error["row"] for error in body["errors"]]


async def test_a_partial_import_with_old_codes_writes_the_good_rows(api_client: Any) -> None:
    client = api_client.client
    loaded = await client.post("/v1/areas/official", headers=api_client.auth(Role.ADMIN))
    assert {"loaded": 3355} == await loaded.json()
    body = "id,name,area_code,sms\nh1,A,00001,+84912345678\nh2,B,99999,+84912345679\n"
    response = await client.post(
        "/v1/contacts/import?old_codes=true&partial=true",
        data=body,
        headers={**api_client.auth(Role.STAFF), "Content-Type": "text/csv"},
    )
    answer = await response.json()
    assert (200, 1, 1) == (response.status, answer["accepted"], answer["mapped"])
    assert [2] == [r["row"] for r in answer["rejected"]]
    found = await client.get("/v1/contacts/h1", headers=api_client.auth(Role.OPERATOR))
    assert "00097" == (await found.json())["contact"]["area_code"]
