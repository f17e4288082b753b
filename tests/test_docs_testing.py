"""docs/testing.md runs as written: every ```python block in order in one namespace, each
printing exactly the ```text block that follows it (when one does)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
BLOCK = re.compile(r"^```(python|text)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_block_runs_and_prints_what_the_page_shows() -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    ran = 0
    for i, (kind, code) in enumerate(blocks):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"testing.md[block {i + 1}]", "exec"), namespace)
        ran += 1
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text" and not blocks[i + 1][1].startswith("prioq "):
            assert out.getvalue() == blocks[i + 1][1], (code, out.getvalue())
    assert ran >= 5
