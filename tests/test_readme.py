"""README.md and docs/index.md: the example runs as written, the commands and links are real."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INDEX = ROOT / "docs" / "index.md"


def test_readme_example_runs_and_prints_what_its_comments_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "readme"}
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(README), "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["notebook ('t4-0',)", "train ('a100-0',)"]
    assert lines[2].startswith("[Preempt(job_id='train', node_ids=('a100-0',), by='urgent'")
    assert lines[3].startswith("waiting: PREEMPTING")
    assert lines[4] == "['urgent']"
    assert lines[5].startswith("waiting: ") and "(base 20 + aging 0.666667)" in lines[5]


def test_readme_commands_are_the_makefile_targets() -> None:
    text = README.read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert f"make {target}" in text
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "-m prioq demo" in makefile  # make demo runs the comparison `prioq demo` documents


def test_readme_credits_the_bundled_traces() -> None:
    text = README.read_text()
    for needle in ("Alibaba Group", "alibaba/clusterdata", "Weng", "USENIX ATC'23",
                   "Parallel Workloads Archive", "Apache License 2.0"):
        assert needle in text, needle


def test_every_doc_is_mapped_and_every_relative_link_resolves() -> None:
    index = INDEX.read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc != INDEX:
            assert f"({doc.name}" in index, f"docs/index.md does not link {doc.name}"
    for page in (README, INDEX, *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
