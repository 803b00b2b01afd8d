"""The README's examples run, verbatim, against a live demo, so the README cannot drift.

Every ```sh block of README.md, then of docs/*.md (in name order), runs in one bash session,
in order, against `growthloop demo` started as `make run` starts it (its own data dir, a free
port; the blocks read the port from `PORT`). Other fences are not run: ```console for commands
that are not examples to paste here (`make run` itself), ```text or ```json for output.

What a run must show:
- bash exits 0 under `set -euo pipefail`: a failing command stops the run, and `jq -e`
  fails on a missing field instead of printing null;
- every HTTP call succeeds: `curl` here is a wrapper, first on PATH, that records each call's
  status and fails the call on a 4xx/5xx, unless the call prints its own status
  (`-w '%{http_code}'`: an example showing an error on purpose), and then the status must be
  one the block's output comments show;
- every output comment (a comment line that is JSON, such as `# {"accepted": 2, ...}`; `...`
  marks what it leaves out) matches what the block printed, in order: objects match on the keys
  the comment shows, other values exactly;
- every variable a block sets from a command (`ORDER=$(...)`) holds a value, not "null";
- all of it twice on the same demo: the walk-through can be pasted again.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.processes import BIN

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(\s*)```+\s*([^\s`]*)")
RUNNABLE = "sh"
ASSIGNED = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=\$\(", re.MULTILINE)
CURL = re.compile(r"(?<![\w./-])curl\s")
SEPARATOR = "\x1e"  # between the blocks' outputs

CURL_WRAPPER = r"""#!/usr/bin/env bash
# The real curl, recording each call's HTTP status in $CURL_LOG. A 4xx/5xx fails the call
# (exit 22, as `curl --fail` does) unless the call prints its own status with -w.
headers=$(mktemp)
"$REAL_CURL" -q -D "$headers" "$@"
rc=$?
status=$(awk '/^HTTP\//{s=$2} END{print s+0}' "$headers")
rm -f "$headers"
method=GET url=- shows=0 prev=
for arg in "$@"; do
  case $prev in -X|--request) method=$arg ;; esac
  case $arg in
    -d|--data|--data-*|--json|-F|--form) [ "$method" = GET ] && method=POST ;;
    http://*|https://*) url=$arg ;;
    *%\{http_code\}*|*%\{response_code\}*) shows=1 ;;
  esac
  prev=$arg
done
printf '%s %s %s %s\n' "$status" "$shows" "$method" "$url" >> "$CURL_LOG"
[ "$rc" -ne 0 ] && exit "$rc"
if [ "$status" -ge 400 ] && [ "$shows" -eq 0 ]; then
  printf 'curl: (22) %s %s answered %s\n' "$method" "$url" "$status" >&2
  exit 22
fi
exit 0
"""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    opened: tuple[int, str, str] | None = None  # line, indent, language
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if opened is None:
            if fence:
                opened, body = (number, fence.group(1), fence.group(2)), []
        elif fence and not fence.group(2):
            indent = opened[1]
            text = "\n".join(b[len(indent) :] if b.startswith(indent) else b for b in body)
            blocks.append(Block(path, opened[0], opened[2], text))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"{path.name}:{opened[0]}: the fence is never closed"
    return blocks


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def runnable_blocks() -> list[Block]:
    return [b for path in documents() for b in fenced_blocks(path) if b.lang == RUNNABLE]


# -- output comments -------------------------------------------------------------------------

_DECODER = json.JSONDecoder()


def _strict_values(text: str) -> list[Any] | None:
    """`text` as a sequence of JSON values, or None if it is anything else."""
    text = re.sub(r",\s*\.\.\.(?=\s*[}\]])", "", text)  # {"a": 1, ...}
    text = re.sub(r"(?<=[{\[])\s*\.\.\.\s*,?", "", text)  # {... "a": 1}
    values: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return values or None
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except ValueError:
            return None
        values.append(value)


def _printed_values(text: str) -> list[Any]:
    """The JSON values in what a block printed (anything else is skipped)."""
    values: list[Any] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        try:
            value, pos = _DECODER.raw_decode(text, pos)
            values.append(value)
        except ValueError:
            while pos < len(text) and not text[pos].isspace():
                pos += 1
    return values


def output_comments(block: Block) -> list[list[Any]]:
    found = []
    for line in block.text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# "):
            values = _strict_values(stripped[2:])
            if values is not None:
                found.append(values)
    return found


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return type(expected) is type(actual) and expected == actual


def unmatched_comments(block: Block, printed: str) -> list[list[Any]]:
    """The block's output comments not found, in order, in what it printed."""
    values, cursor, missing = _printed_values(printed), 0, []
    for expected in output_comments(block):
        width = len(expected)
        for start in range(cursor, len(values) - width + 1):
            if all(
                matches(e, a) for e, a in zip(expected, values[start : start + width], strict=True)
            ):
                cursor = start + width
                break
        else:
            missing.append(expected)
    return missing


def expected_errors(blocks: list[Block]) -> list[int]:
    """HTTP error statuses the output comments show (`# {"error": ...} 422`)."""
    return sorted(
        value
        for block in blocks
        for comment in output_comments(block)
        for value in comment
        if type(value) is int and 400 <= value <= 599
    )


# -- the demo --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    port: int
    merchant_id: str
    ingest_key: str
    log: Path


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GROWTHLOOP_", "CURL_")) and k not in {"PORT", "HOST"}
    }
    env.update(extra)
    return env


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _field(pattern: str, banner: str) -> str:
    found = re.search(pattern, banner)
    assert found, f"{pattern!r} not in the banner:\n{banner}"
    return found[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("readme-demo")
    log = data / "demo.log"
    with log.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603 - as `make run` starts it, on a free port
            [str(BIN), "demo", "--host", "127.0.0.1", "--port", "0"],
            env=_clean_env(GROWTHLOOP_DATA_DIR=str(data)),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
        banner = ""
        while "command line:" not in banner:
            line = lines.get(timeout=240)
            assert line is not None, f"the demo exited: {log.read_text()[-3000:]}"
            banner += line
        port = int(_field(r"growthloop demo: http://127\.0\.0\.1:(\d+)", banner))
        # The banner comes once the port answers.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        yield Demo(
            port=port,
            merchant_id=_field(r"merchant id: (\w+)", banner),
            ingest_key=_field(r"ingest key: (\S+)", banner),
            log=log,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass(frozen=True)
class Run:
    returncode: int
    outputs: list[str]  # what each block printed
    stderr: str
    calls: list[tuple[int, bool, str, str]]  # status, prints its own status, method, url
    variables: dict[str, str]
    trace: str


def run_blocks(blocks: list[Block], demo: Demo, work: Path) -> Run:
    tools = work / "bin"
    tools.mkdir(parents=True)
    wrapper = tools / "curl"
    wrapper.write_text(CURL_WRAPPER)
    wrapper.chmod(0o755)
    real_curl = shutil.which("curl")
    assert real_curl and shutil.which("jq"), "the README's examples need curl and jq"
    names = sorted({name for b in blocks for name in ASSIGNED.findall(b.text)})
    script = [
        "set -euo pipefail",
        'exec 9>"$TRACE_FILE"; BASH_XTRACEFD=9; set -x',
    ]
    for index, block in enumerate(blocks):
        script += [f"# --- {block.where}", block.text, f"printf '\\n{SEPARATOR}{index}\\n'"]
    script += ["set +x", *(f"printf '%s=%s\\n' {n} \"${{{n}-}}\"" for n in names)]
    (work / "readme.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    env = _clean_env(
        PATH=f"{tools}{os.pathsep}{os.environ['PATH']}",
        PORT=str(demo.port),
        REAL_CURL=real_curl,
        CURL_LOG=str(work / "calls.log"),
        TRACE_FILE=str(work / "trace.log"),
        HOME=str(work),  # no ~/.curlrc or shell start-up files of the person running the tests
    )
    (work / "calls.log").touch()
    done = subprocess.run(  # noqa: S603
        ["bash", "--noprofile", "--norc", str(work / "readme.sh")],  # noqa: S607
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    *outputs, tail = re.split(f"\n{SEPARATOR}\\d+\n", done.stdout)
    calls = []
    for row in (work / "calls.log").read_text().splitlines():
        status, shows, method, url = row.split(" ", 3)
        calls.append((int(status), shows == "1", method, url))
    variables = dict(line.split("=", 1) for line in tail.splitlines() if "=" in line)
    trace = (work / "trace.log").read_text(errors="replace")
    return Run(done.returncode, outputs, done.stderr, calls, variables, trace)


def check(run: Run, blocks: list[Block], demo: Demo) -> None:
    failed = blocks[len(run.outputs)].where if len(run.outputs) < len(blocks) else "the end"
    assert run.returncode == 0, (
        f"the run stopped in the block at {failed}:\n{run.stderr[-3000:]}\n"
        f"last commands:\n{''.join(run.trace.splitlines(True)[-15:])}\n"
        f"the demo's log ends:\n{demo.log.read_text()[-2000:]}"
    )
    assert len(run.outputs) == len(blocks)
    curls = sum(
        len(CURL.findall(line))
        for b in blocks
        for line in b.text.splitlines()
        if not line.lstrip().startswith("#")
    )
    assert len(run.calls) == curls, "every curl of the examples runs once, through the wrapper"
    errors = [c for c in run.calls if c[0] >= 400 or c[0] == 0]
    assert all(shows for _, shows, _, _ in errors), errors
    assert sorted(status for status, *_ in errors) == expected_errors(blocks), errors
    for block, printed in zip(blocks, run.outputs, strict=True):
        assert unmatched_comments(block, printed) == [], f"{block.where} printed:\n{printed}"
    empty = {name: value for name, value in run.variables.items() if value in ("", "null")}
    assert empty == {}, "variables set from a command must hold a value"
    assert run.variables["MERCHANT"] == demo.merchant_id
    assert run.variables["KEY"] == demo.ingest_key  # the key the banner shows


# -- the tests -------------------------------------------------------------------------------


def assert_fences_say_what_they_hold(blocks: list[Block]) -> None:
    """A bare ``` fence would leave the reader (and this test) guessing whether it runs; a
    runnable block must not start a server or the tests."""
    for block in blocks:
        assert block.lang, f"{block.where}: say sh (runs), console or text"
        if block.lang == RUNNABLE:
            assert not re.search(r"make (run|test)|growthloop (demo|serve)", block.text), (
                f"{block.where}: starts a server or the tests; make it a console block"
            )


def test_fences_say_what_they_hold() -> None:
    assert_fences_say_what_they_hold([b for path in documents() for b in fenced_blocks(path)])


def test_output_comments_are_checked() -> None:
    """The checker itself: JSON comments (with `...` left out) are found and compared."""
    block = Block(
        README,
        1,
        RUNNABLE,
        'echo\n# {"a": 1, ...}\n# prose, not output\n# {"error": {"code": "x", ...}} 422\n# true',
    )
    assert output_comments(block) == [[{"a": 1}], [{"error": {"code": "x"}}, 422], [True]]
    assert expected_errors([block]) == [422]
    printed = 'hello {"a":1,"b":[2]}\n{"error":{"code":"x","message":"m"}} 422\ntrue\n'
    assert unmatched_comments(block, printed) == []
    assert unmatched_comments(block, '{"a":2} {"error":{"code":"x"}} 409 1') == [
        [{"a": 1}],
        [{"error": {"code": "x"}}, 422],
        [True],
    ]
    # In order: output that comes before the line it answers does not count.
    assert unmatched_comments(block, 'true {"error":{"code":"x"}} 422 {"a":1}') == [
        [{"error": {"code": "x"}}, 422],
        [True],
    ]


def test_links_stay_in_the_repository() -> None:
    """Links a clone can follow: relative links name files of this repository."""
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (
                f"{path.name}: link to {target}"
            )


def test_readme_says_where_the_command_and_the_ingest_key_are() -> None:
    text = README.read_text(encoding="utf-8")
    assert ".venv/bin/growthloop" in text
    assert "GET /v1/admin/me" in text and "ingest_key" in text
    assert "docs/api.md" in text and "docs/architecture.md" in text and "docs/events.md" in text


def test_examples_run_against_the_demo_twice(demo: Demo, tmp_path: Path) -> None:
    blocks = runnable_blocks()
    assert_fences_say_what_they_hold(blocks)
    assert len(blocks) >= 5
    first = run_blocks(blocks, demo, tmp_path / "first")
    check(first, blocks, demo)
    # Pasted again on the same demo: fresh idempotency keys, new objects, the same answers.
    again = run_blocks(blocks, demo, tmp_path / "again")
    check(again, blocks, demo)
    assert first.variables["ORDER"] != again.variables["ORDER"]
