"""No log call names an `extra` field a LogRecord already has (`process`, `name`,
`module`...): logging raises KeyError for it, so the log line of an error path would itself
crash that path (a heartbeat's removal did)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "growthloop"
RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def test_no_extra_key_is_a_log_record_attribute() -> None:
    clashes = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                    for key in kw.value.keys:
                        if isinstance(key, ast.Constant) and key.value in RESERVED:
                            clashes.append(f"{path.relative_to(SRC)}:{node.lineno} {key.value}")
    assert clashes == []
