"""Ingestion reads bodies with orjson and writes properties with it, falling back to the
standard library wherever the two would differ. Whatever the body, the result must be
what the standard library alone gives: the same values, and the same events rejected."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from growthloop.analytics.formats import parse_json
from growthloop.analytics.ingest import encode_properties

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def reference_encode(props: dict[str, Any]) -> str | None:
    try:
        text = json.dumps(
            props, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
        text.encode()  # a lone surrogate cannot be stored as UTF-8
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return text


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_a_body_decodes_as_the_standard_library_decodes_it(props: dict[str, Any]) -> None:
    # NaN and Infinity are written as the literals some SDKs send; lone surrogates as
    # \\ud800 escapes (the standard library reads both; orjson does not).
    body = json.dumps(props)
    expected = json.loads(body)
    assert same(parse_json(body.encode()), expected)
    assert same(parse_json(body), expected)  # text, as the base64 formats hand it over
    assert same(parse_json(body), expected)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_properties_are_stored_or_rejected_as_before(props: dict[str, Any]) -> None:
    body = json.dumps(props)
    decoded = parse_json(body)
    got, expected = encode_properties(decoded), reference_encode(json.loads(body))
    assert (got is None) == (expected is None)
    if got is not None and expected is not None:
        assert same(json.loads(got), json.loads(expected))


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ('{"a": NaN}', None),
        ('{"a": -Infinity}', None),
        ('{"a": 1e400}', None),
        ('{"id": 123456789012345678901234567890}', '{"id":123456789012345678901234567890}'),
        ('{"n": -9223372036854775809}', '{"n":-9223372036854775809}'),
        ('{"n": 18446744073709551616}', '{"n":18446744073709551616}'),
        ('{"n": 18446744073709551615}', '{"n":18446744073709551615}'),
        ('{"名": "茶", "n": 1.5, "l": [1, null]}', '{"名":"茶","n":1.5,"l":[1,null]}'),
        ('{"a": "\\ud800"}', None),
        ('{"\\udfff": 1}', None),
        ('{"a": "\\ud83c\\udf75"}', '{"a":"🍵"}'),
    ],
)
def test_the_edges(body: str, stored: str | None) -> None:
    assert encode_properties(parse_json(body.encode())) == stored
    assert encode_properties(parse_json(body)) == stored
