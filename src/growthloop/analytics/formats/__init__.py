"""Wire formats: each decodes a request body into a `Batch` of `RawEvent`s.

`read_body` is shared: the size limit holds before and after decompression (a small gzip
body must not expand into gigabytes), and a body that cannot be read is a 4xx.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any

from fastapi import Request

from growthloop.analytics.errors import PayloadTooLarge, UndecodableBatch
from growthloop.analytics.ingest import MAX_BATCH_BYTES


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


def parse_json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
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


__all__ = ["b64_json", "gunzip", "gzip", "parse_json", "read_body"]
