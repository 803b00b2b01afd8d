"""Time-sortable identifiers (ULID layout: 48-bit ms time + 80 random bits, Crockford base32).

Sortable ids make cursor pagination a plain `id > cursor`, keep B-tree inserts local and
keep rows created together (an order's lines) in creation order: within one process,
ids created in the same millisecond increase (ULID's monotonic mode).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = 0


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> two digits
_SHIFTS = range(120, -1, -10)


def _encode(value: int) -> str:
    """26 Crockford digits of a 128-bit value (the top digit holds its 3 high bits)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id(at: datetime | None = None) -> str:
    """A new id; `at` backdates its time part (imported or seeded history)."""
    global _last
    random_part = int.from_bytes(os.urandom(10), "big")
    if at is not None:
        return _encode((int(at.timestamp() * 1000) << 80) | random_part)
    with _lock:
        value = (int(time.time() * 1000) << 80) | random_part
        if value <= _last:
            value = _last + 1
        _last = value
    return _encode(value)


def is_id(value: str) -> bool:
    return len(value) == 26 and all(c in _ALPHABET for c in value)
