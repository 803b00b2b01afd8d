"""Ids (core/ids.py): 26 Crockford base32 digits of 128 bits, time first, increasing within
a process. The encoder works two digits at a time; the reference takes five bits a step.
Request ids: unique ids of the same alphabet, with a prefix of their own per process."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from growthloop.core import ids

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference(value: int) -> str:
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_encoding_is_crockford_base32_of_the_128_bits(value: int) -> None:
    assert ids._encode(value) == reference(value)


def test_ids_increase_and_carry_their_time() -> None:
    made = [ids.new_id() for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(ids.is_id(i) for i in made)
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    backdated = ids.new_id(at)
    assert int(reference_decode(backdated) >> 80) == int(at.timestamp() * 1000)


def reference_decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_request_ids_are_unique_ids_and_each_process_has_its_own() -> None:
    made = [ids.new_request_id() for _ in range(1000)]
    assert len(set(made)) == 1000 and all(ids.is_id(i) for i in made)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, ids.new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    in_child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert ids.is_id(in_child)
    assert in_child[:10] != made[0][:10]  # another process: another prefix
