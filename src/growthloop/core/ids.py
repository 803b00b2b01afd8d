"""Time-sortable identifiers (ULID layout: 48-bit ms time + 80 random bits, Crockford base32).

Sortable ids make cursor pagination a plain `id > cursor`, keep B-tree inserts local and
keep rows created together (an order's lines) in creation order: within one process,
ids created in the same millisecond increase (ULID's monotonic mode).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> two digits
_SHIFTS = range(120, -1, -10)
_lock = threading.Lock()
_last = 0
# Randomness drawn from the OS a few hundred ids at a time (one system call each, not
# one per id); a forked worker draws its own, or two processes would make the same ids.
_random = b""
_used = 0


def _forget_random() -> None:
    global _random, _used
    _random, _used = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def _random80() -> int:
    global _random, _used
    if _used >= len(_random):
        _random, _used = os.urandom(1280), 0
    _used += 10
    return int.from_bytes(_random[_used - 10 : _used], "big")


def _encode(value: int) -> str:
    """26 Crockford digits of a 128-bit value (the top digit holds its 3 high bits)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id(at: datetime | None = None) -> str:
    """A new id; `at` backdates its time part (imported or seeded history)."""
    global _last
    with _lock:
        random_part = _random80()
        if at is not None:
            return _encode((int(at.timestamp() * 1000) << 80) | random_part)
        value = (int(time.time() * 1000) << 80) | random_part
        if value <= _last:
            value = _last + 1
        _last = value
    return _encode(value)


# Request ids (`X-Request-Id`, the request log) only need to be unique: a random prefix per
# process and a counter, in the same 26-character alphabet as ids, for a tenth of the cost
# of `new_id` (every request takes one, the refused ones of a flash sale included).
_request_prefix = ""
_request_count = itertools.count()


def _new_request_prefix() -> None:
    global _request_prefix, _request_count
    _request_prefix = _encode(int.from_bytes(os.urandom(7), "big"))[-10:]
    _request_count = itertools.count()


_new_request_prefix()
os.register_at_fork(after_in_child=_new_request_prefix)


def new_request_id() -> str:
    """26 characters: 10 random ones for this process, then its count in hex (upper case,
    which the id alphabet holds)."""
    return f"{_request_prefix}{next(_request_count):016X}"


def is_id(value: str) -> bool:
    return len(value) == 26 and all(c in _ALPHABET for c in value)
