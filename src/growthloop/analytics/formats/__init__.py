"""Wire formats: each decodes a request body into a `Batch` of `RawEvent`s.

`read_body` is shared: the size limit holds before and after decompression (a small gzip
body must not expand into gigabytes), and a body that cannot be read is a 4xx. So are
`new_batch` (the events limit) and `objects` (an item that is not a JSON object is
rejected alone).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from fastapi import Request

from growthloop.analytics.errors import PayloadTooLarge, UndecodableBatch
from growthloop.analytics.ingest import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, Batch, Rejection


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(limit_bytes=MAX_BATCH_BYTES)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise PayloadTooLarge(limit_bytes=MAX_BATCH_BYTES)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip" or body[:2] == b"\x1f\x8b":
        body = gunzip(body)
    return body


def gunzip(data: bytes) -> bytes:
    """Decompress gzip (or zlib) data, refusing to expand beyond the batch limit."""
    try:
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        out = inflater.decompress(data, MAX_BATCH_BYTES + 1)
    except zlib.error as exc:
        raise UndecodableBatch("The body is not valid gzip.") from exc
    if len(out) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(limit_bytes=MAX_BATCH_BYTES)
    return out


class NonFinite(float):
    """NaN or ±Infinity, which the standard library reads though JSON has no such values.
    A float subclass, so orjson declines to write it (`ingest.encode_properties`) and the
    event is rejected as before rather than stored with a null."""


# An integer orjson cannot hold in 64 bits (below -2**63: a minus and 19 digits; above
# 2**64 - 1: 20 digits) it reads as a float, losing digits; a body that may hold one is read
# by the standard library, which keeps it exact. (Digits inside a string match too: such a
# body is only read more slowly.)
_LONG_DIGITS = re.compile(rb"-\d{19}|\d{20}")
# Either needs 19 digits in a row: a screen at C speed (every digit made "0", anything else
# " ", then a substring search) before the pattern, which is 20 times slower on a batch.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19


def _may_hold_long_integer(data: bytes) -> bool:
    return _NINETEEN_DIGITS in data.translate(_DIGITS_ONLY) and bool(_LONG_DIGITS.search(data))


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)


def parse_json(data: bytes | str) -> Any:
    """orjson where it reads the body exactly as the standard library would; otherwise
    (NaN, Infinity, 1e400, very long integers, lone surrogates) the standard library, so
    every body decodes as it always has."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _may_hold_long_integer(raw):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data, parse_constant=NonFinite, parse_float=_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UndecodableBatch("The body is not valid JSON.") from exc


def b64_json(text: str, *, gzipped: bool | None = None) -> Any:
    """base64 of JSON, or of gzipped JSON (Sensors Data's `data` field)."""
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None
        )
    except (binascii.Error, ValueError) as exc:
        raise UndecodableBatch("The data field is not base64.") from exc
    if gzipped or (gzipped is None and raw[:2] == b"\x1f\x8b"):
        raw = gunzip(raw)
    return parse_json(raw)


def new_batch(items: Sequence[Any], sent_at: Any) -> Batch:
    """The batch `items` will fill; a request of more than MAX_BATCH_EVENTS is refused whole."""
    if len(items) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(limit_events=MAX_BATCH_EVENTS)
    return Batch(sent_at=sent_at)


def objects(batch: Batch, items: Sequence[Any], noun: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each item that is a JSON object, with its index; any other is rejected in `batch`
    ("`noun` must be an object") and the rest go on."""
    for i, item in enumerate(items):
        if isinstance(item, dict):
            yield i, item
        else:
            batch.rejected.append(Rejection(i, "invalid_event", f"{noun} must be an object"))


__all__ = ["b64_json", "gunzip", "gzip", "new_batch", "objects", "parse_json", "read_body"]
