"""Control characters are refused in names and texts everywhere: one rule for every request
body (`core.schemas.Strict`) and for paths and query strings (`core.url_guard`), with a 422
`control_character` and nothing written. NUL cannot be stored by PostgreSQL at all, so on
that backend these requests used to fail after partial work."""

from __future__ import annotations

import types
import typing
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from growthloop.core.runtime import Runtime
from growthloop.core.schemas import Strict
from tests.conftest import Stack
from tests.helpers import assert_error, make_shop

# Bodies that are not a model: the consent map is {purpose: bool}, and a purpose that is
# not in the policy (a NUL in it included) is refused by name (test below).
NOT_A_MODEL = {("PUT", "/v1/me/consents")}


def _models(annotation: Any) -> list[Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def test_every_json_body_is_a_strict_model(stack: Stack) -> None:
    checked = 0
    for context in iter_route_contexts(stack.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        for method in context.methods or ():
            if (method, context.path) in NOT_A_MODEL:
                continue
            for model in _models(route.body_field.field_info.annotation):
                assert isinstance(model, type) and issubclass(model, Strict), (
                    method,
                    context.path,
                    model,
                )
                checked += 1
    assert checked > 40  # the walk found the app's bodies


async def _product_names(client: httpx.AsyncClient, admin: dict[str, str]) -> list[str]:
    r = await client.get("/v1/admin/products?limit=100", headers=admin)
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["items"]]


@pytest.mark.parametrize(
    "name",
    ["珍珠\x00奶茶", "珍珠\x07奶茶", "珍珠\x7f奶茶", "珍珠\x85奶茶", "珍珠\n奶茶", "珍珠\t奶茶"],
    ids=["nul", "bell", "del", "c1", "newline", "tab"],
)
async def test_a_name_with_a_control_character_writes_nothing(
    client: httpx.AsyncClient, rt: Runtime, name: str
) -> None:
    shop = await make_shop(client, rt)
    before = await _product_names(client, shop.admin)
    r = await client.post(
        "/v1/admin/products", json={"name": name, "price": 1500, "stock": 10}, headers=shop.admin
    )
    error = assert_error(r, 422, "control_character")
    assert error["details"]["fields"][0]["loc"] == ["body", "name"]
    assert await _product_names(client, shop.admin) == before


async def test_a_lone_surrogate_is_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    """JSON may spell a half of a surrogate pair (`\\ud800`); no driver can store it."""
    shop = await make_shop(client, rt)
    r = await client.post(
        "/v1/admin/products",
        content=b'{"name": "\\ud800tea", "price": 1500, "stock": 10}',
        headers={**shop.admin, "content-type": "application/json"},
    )
    assert_error(r, 422)  # pydantic refuses it as `string_unicode` before our rule runs
    assert await _product_names(client, shop.admin) == []


async def test_nested_texts_and_keys_are_checked(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product()
    member = await shop.member()
    for options in ({"糖度\x00": "无糖"}, {"糖度": "无\x00糖"}):
        r = await client.post(
            "/v1/orders",
            json={"items": [{"product_id": product["id"], "quantity": 1, "options": options}]},
            headers=member,
        )
        assert_error(r, 422, "control_character")
    r = await client.get("/v1/orders", headers=member)
    assert r.json()["items"] == []
    r = await client.post(
        "/v1/admin/products",
        json={
            "name": "乌龙",
            "price": 1500,
            "stock": 1,
            "options": [{"name": "糖度", "values": ["无\x00"]}],
        },
        headers=shop.admin,
    )
    assert_error(r, 422, "control_character")


async def test_multi_line_texts_keep_their_line_breaks(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """A message body is text: line breaks and tabs are fine there, NUL is not."""
    shop = await make_shop(client, rt)
    ok = await client.post(
        "/v1/admin/broadcasts",
        json={"title": "周末特惠", "body": "全场八折\n\t第二杯半价"},
        headers=shop.admin,
    )
    assert ok.status_code == 201, ok.text
    r = await client.post(
        "/v1/admin/broadcasts", json={"title": "周末", "body": "全场\x00八折"}, headers=shop.admin
    )
    assert_error(r, 422, "control_character")
    r = await client.post(
        "/v1/admin/broadcasts", json={"title": "周\n末", "body": "八折"}, headers=shop.admin
    )
    assert r.status_code == 422, r.text


async def test_consent_purposes_with_a_nul_are_refused(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member(join=False)
    r = await client.put("/v1/me/consents", json={"market\x00ing": True}, headers=member)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/products/%00",
        "/v1/products?merchant_id=%00",
        "/v1/shares/ab%00cd/open?merchant_id=x",
        "/v1/admin/orders?status=paid%0d%0a",
    ],
)
async def test_urls_with_control_characters_are_refused(
    client: httpx.AsyncClient, rt: Runtime, path: str
) -> None:
    shop = await make_shop(client, rt)
    method = "POST" if path.startswith("/v1/shares") else "GET"
    r = await client.request(method, path, headers=shop.admin)
    error = assert_error(r, 422, "control_character")
    assert error["details"]["in"] in ("path", "query")
