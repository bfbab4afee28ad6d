"""The tree reads as the pipeline: store readers never import torch, core never imports Streamlit,
modules stay small, and core/ keeps its shared modules few (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "timm", "open_clip")

STORE_READERS = (
    "core.store", "core.analysis.tables", "core.analysis.claims", "core.analysis.evidence", "core.analysis.findings",
    "core.analysis.charts", "core.analysis.report", "core.analysis.temperature", "core.metrics", "core.paper",
    "core.data", "core.data.imagenet_x", "core.data.cue_conflict", "core.imagenet", "core.models",
    "core.models.registry", "views._reads", "views._widgets", "views._models", "views._state",
    "core.task.measures", "core.task.decision", "core.task.charts", "core.task.report", "views._task",
)
"""What the analysis pages, the Findings page and the exports import to read the store and draw it."""


def _imported_after(modules: tuple[str, ...], then: str = "") -> list:
    """The heavy packages in `sys.modules` of a fresh interpreter after importing `modules` (and running `then`)."""
    code = ("import importlib, json, sys\n"
            f"for name in {list(modules)!r}:\n"
            "    importlib.import_module(name)\n"
            f"{then}\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reading_the_store_imports_no_torch_or_timm():
    assert _imported_after(STORE_READERS) == []


def test_the_check_sees_torch_when_it_is_imported():
    """The subprocess check itself can fail: picking a device imports torch."""
    assert "torch" in _imported_after(("core.store", "core.models.load"), "importlib.import_module('core.models.load').best_device()")


def _python_files(folder: str) -> list[Path]:
    return sorted(path for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("folder", ["core", "views"])
def test_no_module_over_600_lines(folder):
    long = {str(path.relative_to(ROOT)): n for path in _python_files(folder)
            if (n := len(path.read_text().splitlines())) > 600}
    assert long == {}


def test_core_never_imports_streamlit():
    offenders = [str(path.relative_to(ROOT)) for path in _python_files("core")
                 if any(line.strip().startswith(("import streamlit", "from streamlit"))
                        for line in path.read_text().splitlines())]
    assert offenders == []


def test_core_top_level_holds_few_shared_modules():
    shared = sorted(path.name for path in (ROOT / "core").glob("*.py")
                    if path.name not in ("__init__.py", "__main__.py"))
    assert len(shared) <= 8, shared
    assert not (ROOT / "core" / "engine.py").exists()
    for stage in ("models", "data", "run", "store", "analysis", "explain", "metrics"):
        assert (ROOT / "core" / stage / "__init__.py").is_file(), stage
