"""What a docs example prints is what its comment says (issue 13: every doc example's printed
output asserted, not only run).

A ``print(...)`` line's expected output is its trailing ``# comment``, or the comment lines right
under it (joined). ``...`` in a comment elides any text; a comment starting with ``e.g.`` is an
illustration and is not checked. Each expectation must match a line printed by the block, in order.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = ["preemption.md", "orchestrator.md", "scheduler.md", "dependencies.md", "fairness.md", "queue.md",
         "resources.md", "ordering.md", "quotas.md", "simulation.md"]
"""storage.md's examples need PostgreSQL for some blocks; tests/test_storage.py runs them."""


def expectations(code: str) -> list[str]:
    """The expected outputs of the block's print lines, in order."""
    lines = code.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "print(" not in line or line.lstrip().startswith("#"):
            continue
        text = None
        m = re.search(r"\)\s*#\s?(.*)$", line)
        if m:
            text = m.group(1).strip()
            if text and not text.startswith("e.g."):
                out.append(text)
            continue
        below: list[str] = []  # one expected line per comment line; "#   more" continues one
        for nxt in lines[i + 1:]:
            if not nxt.lstrip().startswith("#"):
                break
            body = nxt.strip()[1:]
            if body.startswith("   ") and below:
                below[-1] += " " + body.strip()
            else:
                below.append(body.strip())
        out += [b for b in below if b and not b.startswith("e.g.")]
    return out


def matches(expected: str, line: str) -> bool:
    """``line`` is ``expected`` (``...`` eliding text), or ``expected`` is ``<output>: why`` with
    an output that ends in a closing bracket (the pages' ``# (1, 2): because`` style)."""
    if _matches(expected, line):
        return True
    return any(_matches(expected[:m.start() + 1], line) for m in re.finditer(r"[)\]}]: ", expected))


def _matches(expected: str, line: str) -> bool:
    parts = expected.split("...")
    if not line.startswith(parts[0]):
        return False
    at = len(parts[0])
    for part in parts[1:]:
        found = line.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return parts[-1] == "" or line.endswith(parts[-1])


def check_page(page: str) -> list[str]:
    """Run the page's blocks in one namespace; the expectations no printed line meets."""
    namespace: dict[str, object] = {"__name__": f"docs_printed_{page}"}
    missing = []
    for i, code in enumerate(BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"{page}[block {i + 1}]", "exec"), namespace)
        printed = buf.getvalue().splitlines()
        at = 0
        for want in expectations(code):
            while at < len(printed) and not matches(want, printed[at]):
                at += 1
            if at == len(printed):
                missing.append(f"block {i + 1}: {want!r} not printed (got {buf.getvalue()!r})")
                break
            at += 1
    return missing


@pytest.mark.parametrize("page", PAGES)
def test_what_an_example_prints_is_what_its_comment_says(page: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that open "sqlite:///x.db" write there
    assert check_page(page) == []


def test_the_checker_catches_a_wrong_comment() -> None:
    assert expectations('print(1)   # 2\nprint(3)\n# 3 and\n#   more\n# 6\nprint(4)  # e.g. 5') == [
        "2", "3 and more", "6"]
    assert matches("waiting: RESERVED — held for it; ...", "waiting: RESERVED — held for it; position 2")
    assert not matches("waiting: RESOURCES — 0/1 nodes have gpu=1 free",
                       "waiting: RESOURCES — no node has gpu=1 free")
    assert matches("a (b ...) c", "a (b xyz) c") and not matches("a (b ...) c", "a (b xyz) d")
    assert matches("('n0', [(0, 500)]): every choice ties", "('n0', [(0, 500)])")
    assert not matches("('n0', [(0, 500)]): every choice ties", "('n0', [(1, 250)])")
