"""View mode, page by page: every page renders, and no enabled control writes (AppTest, BAE_VIEW_ONLY=1)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import ResultsStore

PAGES = ("home", "findings", "compare", "evaluations", "mistakes", "shape_texture", "calibration", "robustness",
         "pug", "invariance", "transfer", "task")
READ_ONLY = {"findings_present", "FormSubmitter:task_cand_form-Shortlist"}
"""Buttons that only change the view (presenter mode; Your task's shortlist of published models, read from the
downloaded tables); every other enabled button writes or starts something."""


@pytest.fixture
def shared_store(analysis_store, tmp_path, monkeypatch):
    """A copy of the analysis store with one pin, so the Findings page shows its pin controls."""
    db = tmp_path / "results.duckdb"
    shutil.copy(analysis_store, db)
    logits = Path(str(analysis_store).removesuffix(".duckdb") + "-logits")
    if logits.exists():
        shutil.copytree(logits, Path(str(db).removesuffix(".duckdb") + "-logits"))
    chart = json.dumps({"mark": "bar", "data": {"values": [{"a": 1}]}, "encoding": {"y": {"field": "a",
                                                                                        "type": "quantitative"}}})
    ResultsStore(db).add_pin("robustness", "robustness", {"robustness_models": ["tiny_vit"]}, chart=chart, note="n")
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    return db


def _writing_buttons(page: str) -> tuple[list[str], AppTest]:
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, (page, [e.value for e in at.exception])
    enabled = [button.key or button.label for button in at.button if not button.disabled
               and (button.key or "") not in READ_ONLY]
    return enabled, at


def test_without_view_mode_the_pages_offer_writing_controls(shared_store, monkeypatch):
    """The check below can fail: the same pages offer such controls when view mode is off."""
    monkeypatch.delenv("BAE_VIEW_ONLY", raising=False)
    offered = {page: _writing_buttons(page)[0] for page in ("home", "findings", "evaluations", "robustness")}
    assert all(offered.values()), offered


@pytest.mark.parametrize("page", PAGES)
def test_in_view_mode_no_enabled_control_writes(shared_store, monkeypatch, page):
    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    enabled, at = _writing_buttons(page)
    assert enabled == [], f"{page}: enabled controls that write in view mode: {enabled}"
    if page == "findings":  # the pin's note is shown, greyed
        pin_id = ResultsStore(shared_store).pins()["pin_id"][0]
        assert at.text_input(key=f"findings_pin_note_{pin_id}").disabled
    if page in ("home", "evaluations", "findings", "transfer"):  # each hidden or greyed control says why
        assert any("View mode" in caption.value for caption in at.caption), page
    assert len(ResultsStore(shared_store).pins()) == 1  # nothing was written by opening the page


def test_the_evaluations_page_imports_neither_torch_nor_timm(shared_store, tmp_path):
    """Listing the models for the form must not import torch or timm (a fresh server opened it in 5.5 s)."""
    code = ("import json, sys\nfrom streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file('app.py', default_timeout=300).run()\n"
            "at.switch_page('views/evaluations.py').run()\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            "assert at.multiselect(key='evaluations_models').options, 'the form lists live models'\n"
            "print(json.dumps(sorted(m for m in ('torch', 'timm', 'open_clip') if m in sys.modules)))\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
