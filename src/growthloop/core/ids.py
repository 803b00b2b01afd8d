"""Time-sortable identifiers (ULID layout: 48-bit ms time + 80 random bits, Crockford base32).

Sortable ids make cursor pagination a plain `id > cursor` and keep B-tree inserts local.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(at: datetime | None = None) -> str:
    """A new id; `at` backdates its time part (imported or seeded history)."""
    ms = int((at.timestamp() if at else time.time()) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    return len(value) == 26 and all(c in _ALPHABET for c in value)
