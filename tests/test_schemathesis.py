"""Schemathesis fuzzing of every operation in the app's own OpenAPI document.

Schemathesis generates the cases (positive and negative data) and checks the responses: no
5xx, and bodies that match the documented response schemas. The requests go through the test
`client` (httpx over ASGI) on the session event loop, where the app's database engine lives;
Hypothesis runs in a worker thread and hands each request over to that loop.

Every request carries a valid token: the shop owner's for `/v1/admin/*`, a member's for the
rest. Before each operation is fuzzed, a fresh product and fresh orders (paid, awaiting
payment, pending) are created, and most cases get their ids swapped for these real ones, so
that they reach business logic instead of stopping at 404.
"""

from __future__ import annotations

import asyncio
import base64
import json
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from growthloop.core.runtime import Runtime
from tests.conftest import Stack
from tests.helpers import Shop, bearer, make_shop

POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE
MAX_EXAMPLES = {POSITIVE: 30, NEGATIVE: 15}  # per operation, for ~170 operations
REQUEST_TIMEOUT = 30.0  # seconds; a hanging request fails the test instead of blocking it
CHECKS = [not_a_server_error, response_schema_conformance]

# Not in the OpenAPI document, but every POST honours it: absent, reused (replays and
# mismatches), or any value a client can put in a header (latin-1, no control characters).
IDEMPOTENCY_KEYS = st.one_of(
    st.none(),
    st.sampled_from(["retry-1", "retry-2"]),
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=["Cc"]),
        max_size=210,
    ).map(str.strip),
)

IdPool = dict[str, list[str]]  # parameter / body field name -> real values for it


class ServerCrash(AssertionError):
    """The app raised an unhandled exception (answered 500) on a generated request."""


class AppHung(BaseException):
    """A request got no answer in time. A BaseException, so Hypothesis doesn't retry and
    shrink it (every try would wait out the timeout again) and the whole run stops."""


def _describe(request: httpx.Request, exc: BaseException) -> str:
    headers = {
        name: value[:24] + "..." if name == "authorization" else value
        for name, value in request.headers.items()
        if name in {"authorization", "idempotency-key", "content-type"}
    }
    body = request.content.decode("utf-8", "replace")
    trace = "".join(traceback.format_exception(exc))
    return f"{request.method} {request.url}\nheaders: {headers}\nbody: {body}\n{trace}"


def _header_bytes(value: Any) -> bytes:
    """httpx encodes str header values as ASCII; send what the generator meant."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _format(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_format(inner) for inner in exc.exceptions)
    notes = "".join(f"{note}\n" for note in getattr(exc, "__notes__", []))
    return "".join(traceback.format_exception_only(type(exc), exc)) + notes


def _integral_floats_as_ints(value: Any) -> Any:
    """8115.0 -> 8115. JSON Schema counts 8115.0 as an integer (Hypothesis generates such
    values because the bounds are floats like 1e10), but the app's request models take strict
    ints by design; sent as is, most bodies would stop at 422 before any business logic."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def _swap_ids(data: st.DataObject, pool: IdPool, container: Any) -> None:
    """Replace, in place, string values whose key names a kind of id with a real id."""
    if isinstance(container, dict):
        for key, value in container.items():
            if key in pool and isinstance(value, str):
                container[key] = data.draw(st.sampled_from(pool[key]), label=key)
            else:
                _swap_ids(data, pool, value)
    elif isinstance(container, list):
        for item in container:
            _swap_ids(data, pool, item)


async def _base_pool(shop: Shop, member: dict[str, str]) -> IdPool:
    r = await shop.client.post("/v1/admin/categories", json={"name": "果茶"}, headers=shop.admin)
    assert r.status_code == 201, r.text
    category_id = r.json()["id"]
    r = await shop.client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    return {
        "merchant_id": [shop.merchant_id],
        "member_id": [r.json()["id"]],
        "category_id": [category_id],
        "provider": ["sandbox"],
        "platform": ["dev"],
    }


async def _fresh_pool(shop: Shop, member: dict[str, str], base: IdPool) -> IdPool:
    """A new product, orders in every state and a coupon template, so earlier cases can't have
    used them up."""
    product = await shop.product(stock=1000, category="果茶")
    plain = await shop.product(options=None)
    paid = await shop.paid_order(member, product["id"])
    r = await shop.order(member, product["id"], 2)
    assert r.status_code == 201, r.text
    awaiting = r.json()
    r = await shop.client.post(
        f"/v1/orders/{awaiting['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    assert r.status_code == 200, r.text
    payment_id = r.json()["payment_id"]
    r = await shop.order(member, plain["id"])
    assert r.status_code == 201, r.text
    pending = r.json()
    coupon = {"name": "八折券", "kind": "percent_off", "value": 20, "per_member_limit": 100}
    r = await shop.client.post("/v1/admin/coupons", json=coupon, headers=shop.admin)
    assert r.status_code == 201, r.text
    template_id = r.json()["id"]
    pool = {
        **base,
        "product_id": [product["id"], plain["id"]],
        "order_id": [paid["id"], awaiting["id"], pending["id"]],
        "payment_id": [payment_id],
        "template_id": [template_id],
        **await _campaign_pool(shop, member, product["id"]),
    }
    if paid.get("verify_code"):
        pool["code"] = [*pool.get("code", []), paid["verify_code"]]
    return pool


async def _campaign_pool(shop: Shop, member: dict[str, str], product_id: str) -> IdPool:
    """A running flash sale, group buy (with a group), bargain (with an instance a friend
    may cut), invite rule and share, so campaign operations reach their rules."""
    now = shop.rt.clock.now()
    window = {
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    }

    async def post(path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        r = await shop.client.post(path, json=body, headers=headers)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()  # type: ignore[no-any-return]

    sale = await post(
        "/v1/admin/flash-sales",
        {"product_id": product_id, "price": 500, "stock": 50, "per_member_limit": 5, **window},
        shop.admin,
    )
    group_buy = await post(
        "/v1/admin/group-buys",
        {"product_id": product_id, "group_price": 900, "group_size": 3, "duration_minutes": 60},
        shop.admin,
    )
    friend = await shop.member()
    opened = await post(f"/v1/group-buys/{group_buy['id']}/groups", {}, friend)
    bargain = await post(
        "/v1/admin/bargains",
        {
            "product_id": product_id,
            "original_price": 1500,
            "floor_price": 100,
            "helpers_needed": 5,
            "duration_minutes": 60,
        },
        shop.admin,
    )
    instance = await post(f"/v1/bargains/{bargain['id']}/start", {}, friend)
    # A reward is a granted-only coupon; the pool's `template_id` stays claimable.
    gift = {"name": "邀请礼", "kind": "amount_off", "value": 300, "obtain": "grant"}
    rule = await post(
        "/v1/admin/invite-rules",
        {
            "name": "邀请",
            "trigger": "registration",
            "invitee_reward": {
                "coupon_template_id": (await post("/v1/admin/coupons", gift, shop.admin))["id"]
            },
        },
        shop.admin,
    )
    share = await post("/v1/shares", {"target_type": "page", "target_id": "home"}, friend)
    lottery = await post(
        "/v1/admin/lotteries",
        {
            "name": "转盘",
            "free_draws_per_day": 3,
            "prizes": [
                {"name": "积分", "kind": "points", "weight": 1, "stock": 100, "points": 10},
                {"name": "谢谢参与", "kind": "none", "weight": 1},
            ],
        },
        shop.admin,
    )
    return {
        "lottery_id": [lottery["id"]],
        "sale_id": [sale["id"]],
        "group_buy_id": [group_buy["id"]],
        "group_id": [opened["group_id"]],
        "bargain_id": [bargain["id"]],
        "instance_id": [instance["id"]],
        "rule_id": [rule["id"]],
        "code": [share["code"]],
    }


SEGMENT_PATHS = {
    f"/v1/{kind}"
    for kind in ("batch", "import", "track", "identify", "page", "screen", "alias", "group")
}


def _ingest_credentials(path: str, key: str) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query that carry the ingest key the way each SDK sends it, so fuzzing
    reaches the decoders and not only the 401. (PostHog's key is in its body.)"""
    if path == "/v1/ingest/batch":
        return {"X-Ingest-Key": key}, {}
    if path in SEGMENT_PATHS:
        return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}, {}
    if path.startswith("/sa"):
        return {}, {"token": key}
    return {}, {}


def _fuzz_operation(
    operation: Any,
    mode: schemathesis.GenerationMode,
    token: str,
    pool: IdPool,
    send: Callable[[dict[str, Any]], httpx.Response],
    statuses: Counter[int],
    shrink: bool,
    ingest_key: str = "",
) -> None:
    extra_headers, extra_query = _ingest_credentials(operation.path, ingest_key)

    @settings(
        max_examples=MAX_EXAMPLES[mode],
        phases=[phase for phase in Phase if shrink or phase is not Phase.shrink],
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3), label="use real ids (unless 0)"):
            for container in (case.path_parameters, case.query, case.body):
                _swap_ids(data, pool, container)
        kwargs = case.as_transport_kwargs(base_url="http://test")
        # Negative mode may drop the security header; keep every request authenticated.
        headers = {**kwargs["headers"], **bearer(token), **extra_headers}
        kwargs["headers"] = headers
        if extra_query:
            kwargs["params"] = {**(kwargs.get("params") or {}), **extra_query}
        if case.method.upper() == "POST":
            key = data.draw(IDEMPOTENCY_KEYS, label="Idempotency-Key")
            if key is not None:
                headers["Idempotency-Key"] = key
        response = send(kwargs)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation with no inputs: there is nothing to make invalid.
        if mode is not NEGATIVE:
            raise


# The operations in two halves, so that the two pytest-xdist workers of `make test` share
# the fuzzing (about eight minutes in one piece) instead of one of them carrying it alone.
@pytest.mark.parametrize("part", [0, 1], ids=["even", "odd"])
async def test_schemathesis_fuzz(
    stack: Stack, rt: Runtime, client: httpx.AsyncClient, part: int
) -> None:
    if stack.name != "sqlite":
        pytest.skip("fuzzing runs once, on the embedded stack")
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    schema = schemathesis.openapi.from_dict(r.json())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 20, "the OpenAPI document lost its operations"
    operations = operations[part::2]

    shop = await make_shop(client, rt)
    member = await shop.member()
    base = await _base_pool(shop, member)
    loop = asyncio.get_running_loop()

    def on_loop(coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout=REQUEST_TIMEOUT)
        except BaseException:
            future.cancel()
            raise

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        headers = dict(kwargs["headers"])
        if kwargs.get("cookies"):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
        content = None
        if "json" in kwargs:
            content = json.dumps(_integral_floats_as_ints(kwargs["json"])).encode()
            headers.setdefault("Content-Type", "application/json")
        elif kwargs.get("data") is not None:
            content = kwargs["data"]
        # Built here, so a request httpx refuses to build is a test error, not an app crash.
        request = client.build_request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers={name: _header_bytes(value) for name, value in headers.items()},
            content=content,
        )
        try:
            response: httpx.Response = on_loop(client.send(request))
        except TimeoutError as exc:
            raise AppHung(_describe(request, exc)) from exc
        except Exception as exc:
            # ASGITransport re-raises the exception behind a 500 instead of returning it.
            raise ServerCrash(_describe(request, exc)) from exc
        return response

    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}

    def fuzz_all() -> None:
        for operation in operations:
            admin = operation.path.startswith("/v1/admin/")
            token = shop.admin_token if admin else member["Authorization"].removeprefix("Bearer ")
            seen = statuses.setdefault(operation.label, Counter())
            # One fresh pool per operation: its negative cases mostly end in a 422 and use up
            # nothing, so they share what the positive ones left (halves the set-up requests).
            pool = on_loop(_fresh_pool(shop, member, base))
            for mode in (POSITIVE, NEGATIVE):
                try:
                    # Shrink the first failure only, so that many bugs can't blow the time budget.
                    shrink = not failures
                    _fuzz_operation(
                        operation, mode, token, pool, send, seen, shrink, shop.ingest_key
                    )
                except Exception as exc:
                    failures.append(f"--- {operation.label} ({mode.value}) ---\n{_format(exc)}")

    await asyncio.to_thread(fuzz_all)
    for label, seen in statuses.items():
        print(f"{label}: {dict(sorted(seen.items()))}")
    assert not failures, "\n".join(failures)
