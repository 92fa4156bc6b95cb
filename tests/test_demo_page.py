"""docs/demo.md is the page of one demo run (dlbridge.workflow.demo_page), not a hand-written
copy: rendered again from its record docs/demo.json it is unchanged, and what it shows exists."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlbridge.workflow.demo_page import PAGE, RECORD, SNAPSHOTS, render_page

DOCS = Path(__file__).resolve().parents[1] / "docs"
IMAGE = re.compile(r"!\[[^]]*\]\(([^)]+)\)")
LINK = re.compile(r"(?<!!)\[[^]]*\]\(([^)]+)\)")


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((DOCS / RECORD).read_text(encoding="utf-8"))


def test_docs_demo_page_is_its_record_rendered(record):
    """Regenerate with: dlbridge demo --out demo-out && python -m dlbridge.workflow.demo_page
    demo-out docs"""
    assert (DOCS / PAGE).read_text(encoding="utf-8") == render_page(record, "docs")


def test_docs_demo_page_shows_a_full_default_run(record):
    page = (DOCS / PAGE).read_text(encoding="utf-8")
    assert record["size"] == "default" and not record["git_dirty"]
    assert [s["title"] for s in record["stages"]] == ["discs", "ellipses", "networks", "compare",
                                                      "regimes"]
    assert set(record["snapshots"]) == set(SNAPSHOTS)
    for rel in IMAGE.findall(page) + [ln for ln in LINK.findall(page) if "://" not in ln]:
        assert (DOCS / rel).is_file(), rel
    for v in record["verdicts"]:
        assert f"{v['quantity']} ({v['system']})" in page


def test_publishing_a_folder_that_is_not_a_demo_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "dlbridge.workflow.demo_page", str(tmp_path),
                          str(tmp_path / "docs")], capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "OUT must be a dlbridge demo folder" in res.stderr
    assert not (tmp_path / "docs").exists()
