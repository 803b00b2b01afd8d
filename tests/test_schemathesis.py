"""Schemathesis fuzzing of every operation in the app's own OpenAPI document.

Schemathesis generates the cases (positive and negative data) and runs its checks; the
requests go through the test `client` (httpx over ASGI) on the session event loop, where the
app's database engine lives. Hypothesis runs in a worker thread and hands each request to that
loop, so the app is exercised in-process with no server and no second event loop.

Every request carries a valid token: the shop owner's for `/v1/admin/*`, a member's for the
rest. About half of the cases get their ids swapped for real ones (product, orders, payment,
member, merchant, category) so that they reach business logic instead of stopping at 404.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from growthloop.core.runtime import Runtime
from tests.conftest import Stack
from tests.helpers import bearer, make_shop

MAX_EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 40, schemathesis.GenerationMode.NEGATIVE: 20}
REQUEST_TIMEOUT = 30.0  # seconds for one request; a hang fails the test instead of blocking it
CHECKS = [not_a_server_error, response_schema_conformance]


class ServerCrash(AssertionError):
    """The app raised an unhandled exception (a 500) while serving a generated request."""


def _describe(request: dict[str, Any], exc: BaseException) -> str:
    body = request.get("content")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return (
        f"{request['method']} {request['url']} params={request.get('params')!r}\n"
        f"body: {body}\n"
        + "".join(traceback.format_exception(exc))
    )


@dataclass
class Ids:
    """Real ids from the seeded shop, by the parameter / field name that carries them."""

    by_name: dict[str, list[str]]

    def swap(self, data: st.DataObject, container: Any) -> None:
        if isinstance(container, dict):
            for key, value in container.items():
                if key in self.by_name and isinstance(value, str):
                    container[key] = data.draw(st.sampled_from(self.by_name[key]))
                else:
                    self.swap(data, value)
        elif isinstance(container, list):
            for item in container:
                self.swap(data, item)


async def _seed(client: httpx.AsyncClient, rt: Runtime) -> tuple[dict[str, str], Ids]:
    shop = await make_shop(client, rt)
    r = await client.post("/v1/admin/categories", json={"name": "果茶"}, headers=shop.admin)
    assert r.status_code == 201, r.text
    category_id = r.json()["id"]
    product = await shop.product(category="果茶")
    other = await shop.product(stock=1, options=None)
    member = await shop.member()
    paid = await shop.paid_order(member, product["id"])
    r = await shop.order(member, product["id"], 2)
    assert r.status_code == 201, r.text
    awaiting = r.json()
    r = await client.post(
        f"/v1/orders/{awaiting['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    assert r.status_code == 200, r.text
    payment_id = r.json()["payment_id"]
    r = await shop.order(member, other["id"])
    assert r.status_code == 201, r.text
    pending = r.json()
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    tokens = {"admin": shop.admin_token, "member": member["Authorization"].split(" ", 1)[1]}
    ids = Ids(
        {
            "product_id": [product["id"], other["id"]],
            "order_id": [paid["id"], awaiting["id"], pending["id"]],
            "payment_id": [payment_id],
            "member_id": [r.json()["id"]],
            "merchant_id": [shop.merchant_id],
            "category_id": [category_id],
            "provider": ["sandbox"],
            "platform": ["dev"],
            "code": [paid["verify_code"]] if paid.get("verify_code") else [],
        }
    )
    ids.by_name = {k: v for k, v in ids.by_name.items() if v}
    return tokens, ids


def _fuzz_operation(
    operation: Any,
    mode: schemathesis.GenerationMode,
    tokens: dict[str, str],
    ids: Ids,
    send: Callable[[dict[str, Any]], httpx.Response],
) -> None:
    token = tokens["admin"] if operation.path.startswith("/v1/admin/") else tokens["member"]

    @settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        if data.draw(st.booleans(), label="real ids"):
            for container in (case.path_parameters, case.query, case.body):
                ids.swap(data, container)
        headers = {**(case.headers or {}), **bearer(token)}
        kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
        response = send(kwargs)
        statuses[operation.label][response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


async def test_schemathesis_fuzz(
    stack: Stack, rt: Runtime, client: httpx.AsyncClient
) -> None:
    if stack.name != "sqlite":
        pytest.skip("fuzzing runs once, on the embedded stack")
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    schema = schemathesis.openapi.from_dict(r.json())
    tokens, ids = await _seed(client, rt)
    loop = asyncio.get_running_loop()

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        headers = dict(kwargs.get("headers") or {})
        request: dict[str, Any] = {
            "method": kwargs["method"],
            "url": kwargs["url"],
            "params": kwargs.get("params"),
        }
        if kwargs.get("cookies"):
            request["cookies"] = kwargs["cookies"]
        if "json" in kwargs:
            request["content"] = json.dumps(kwargs["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif kwargs.get("data") is not None:
            request["content"] = kwargs["data"]
        request["headers"] = headers
        future = asyncio.run_coroutine_threadsafe(client.request(**request), loop)
        try:
            return future.result(timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            # The app raised instead of answering; ASGITransport re-raises what became a 500.
            raise ServerCrash(_describe(request, exc)) from exc

    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the OpenAPI document lost its operations"

    def fuzz_all() -> None:
        for operation in operations:
            for mode in MAX_EXAMPLES:
                try:
                    _fuzz_operation(operation, mode, tokens, ids, send)
                except Exception as exc:
                    failures.append(
                        f"--- {operation.label} ({mode.value}) ---\n"
                        + "".join(traceback.format_exception_only(exc))
                        + "".join(f"{note}\n" for note in getattr(exc, "__notes__", []))
                    )

    await asyncio.to_thread(fuzz_all)
    assert not failures, "\n".join(failures)
