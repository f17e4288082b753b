"""Every ```python block of docs/orchestrator.md runs as written, in order, in one namespace
(the tick loop under a real event loop), and what a block prints is what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "orchestrator.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_python_block_runs_and_prints_what_it_says() -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_orchestrator"}
    printed = []
    for i, code in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(code, f"orchestrator.md[block {i + 1}]", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"orchestrator.md block {i + 1} failed: {exc!r}\n{code}") from exc
        printed.append(out.getvalue())
    assert printed[1] == "[('a', 10.0)]\n"
    assert printed[2] == "3.0 1.0\n"
    lines = printed[3].splitlines()
    assert lines[0] == "True NodeChanges(added=('c',), removed=('a',), replaced=(), requeued=('j',))"
    assert lines[1].startswith("the store holds state made under another policy (aging: stored LinearAging(")
    assert "given NoAging()" in lines[1] and "policy_change='replace'" in lines[1]
