"""A page's first open pays no one-time setup (issue 26): the pages that only read the store import no model
library, and listing the models never waits for a child process that looks up where the hub weights live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT
from core.models import hub_cfg, model_status, registry

HEAVY = ("torch", "timm", "open_clip")
READING_PAGES = ("home", "findings", "evaluations", "mistakes", "shape_texture", "calibration", "robustness", "pug",
                 "transfer", "task")
"""Every page but the two that run models (Compare; Invariance, whose live sliders run the live models)."""

_RENDER = """
import json, sys
from streamlit.testing.v1 import AppTest

at = AppTest.from_file("app.py", default_timeout=300).run()  # Home; after it, pages switch by their url_path
for page in sys.argv[1].split(","):
    if page != "home":
        at.switch_page(f"views/{page}.py").run()
    captions = [caption.value for caption in at.caption]
    print(json.dumps({"page": page, "exception": [str(e.value)[:300] for e in at.exception],
                      "title": at.title[0].value if at.title else "",
                      "heavy": [name for name in %r if name in sys.modules],
                      "wrong_images": sum(caption.startswith("true: ") for caption in captions),
                      "card": any(block.value.startswith("### For accuracy:") for block in at.markdown)}), flush=True)
""" % (HEAVY,)


def _render_in_fresh_interpreter(pages: tuple[str, ...], db) -> list[dict]:
    """Open Home, then `pages` one after another, in one fresh interpreter (AppTest, from app.py), reporting after
    each which model libraries the interpreter has imported so far."""
    env = {**os.environ, "BAE_RESULTS_DB": str(db)}
    done = subprocess.run([sys.executable, "-c", _RENDER, ",".join(pages)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def store_with_a_task(analysis_store, tmp_path):
    """A copy of `analysis_store` holding the digits task too (run with the tiny models), for Your task's card."""
    import shutil

    from tests.fixtures.task_folders import run_digits_task

    shutil.copy(analysis_store, tmp_path / "results.duckdb")
    logits = analysis_store.with_name(analysis_store.stem + "-logits")
    if logits.exists():
        shutil.copytree(logits, tmp_path / "results-logits")
    store, _, _, _ = run_digits_task(tmp_path, ["tiny_convnext", "tiny_clip"], per_class=4)
    return store.path


def test_pages_that_read_the_store_import_no_model_library(store_with_a_task):
    """Each page renders its full content (Mistakes its grid of wrong images, with class names; Your task its
    decision card) in a fresh interpreter; torch, timm and open_clip stay out of it until the page that runs
    models (Compare), which shows that the check sees them."""
    rows = _render_in_fresh_interpreter((*READING_PAGES, "compare"), store_with_a_task)
    assert [row["page"] for row in rows] == [*READING_PAGES, "compare"]
    assert len({row["title"] for row in rows}) == len(rows)  # each page rendered itself, not Home again
    assert {row["page"]: row["exception"] for row in rows if row["exception"]} == {}
    assert {row["page"]: row["heavy"] for row in rows[:-1] if row["heavy"]} == {}
    assert next(row["wrong_images"] for row in rows if row["page"] == "mistakes") > 0
    assert next(row["card"] for row in rows if row["page"] == "task")
    assert rows[-1]["heavy"] == list(HEAVY)  # Compare ran the live models


@pytest.fixture
def fresh_lookup(monkeypatch, tmp_path):
    """hub_cfg as on a fresh install: nothing remembered, no environment file, an empty cache folder, and timm and
    open_clip not imported (so answers must come from a child process). The child is replaced by a stand-in that
    records its thread and answers only when the test lets it (`release`)."""
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(hub_cfg, "_MEMORY", {})
    monkeypatch.setattr(hub_cfg, "_background", None)
    monkeypatch.setattr(hub_cfg, "_failure", "")
    monkeypatch.setattr(hub_cfg, "environment_path", lambda: tmp_path / "venv" / "hub_cfgs.json")
    monkeypatch.setattr(hub_cfg, "module_ready", lambda name: False)
    calls, release = [], threading.Event()

    def child(wanted):
        calls.append((threading.get_ident(), [tuple(item) for item in wanted]))
        assert release.wait(60), "the test never released the lookup"
        return {hub_cfg._key(*item): hub_cfg._compute(*item) for item in wanted}  # timm is imported in tests

    monkeypatch.setattr(hub_cfg, "_compute_in_child", child)
    yield calls, release
    release.set()
    if hub_cfg._background is not None:
        hub_cfg._background.join(30)


def test_listing_on_a_fresh_cache_folder_never_waits_for_the_lookup(fresh_lookup):
    calls, release = fresh_lookup
    specs, _ = registry()
    began = time.perf_counter()
    statuses = [model_status(spec, wait=False) for spec in specs]
    assert time.perf_counter() - began < 5  # the stand-in child blocks until released: no call waited on it
    checking = {status.spec.name for status in statuses if status.checking}
    assert checking == {"vit_sup", "convnext_sup", "vit_clip", "convnext_clip"}
    assert not any(status.live for status in statuses if status.checking)
    assert next(status for status in statuses if status.spec.name == "effnet_lite0").live  # a file: no lookup
    assert not hub_cfg.locate_in_background()  # starts it once, on a thread of its own
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) == 1 and calls[0][0] != threading.get_ident()
    assert {item[1] for item in calls[0][1]} == {"deit3_base_patch16_224.fb_in22k_ft_in1k",
                                                  "convnext_base.fb_in22k_ft_in1k", "ViT-B-16", "convnext_base"}
    release.set()
    hub_cfg._background.join(30)
    assert hub_cfg.locate_in_background() and len(calls) == 1
    after = {status.spec.name: status for status in (model_status(spec, wait=False) for spec in specs)}
    assert not any(status.checking for status in after.values())
    assert "python -m core download vit_sup" in after["vit_sup"].weights_message  # the real answer now


def test_evaluations_on_a_fresh_cache_folder_says_what_it_looks_up_then_shows_the_plan(fresh_lookup, monkeypatch,
                                                                                      tmp_path):
    calls, release = fresh_lookup
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    at = AppTest.from_file("../../app.py", default_timeout=60)
    at.switch_page("views/evaluations.py").run()
    assert not at.exception
    assert any("Looking up where timm and open_clip publish" in info.value for info in at.info)
    assert not any("what next" in frame.value.columns for frame in at.dataframe)  # the plan waits for it
    release.set()
    hub_cfg._background.join(30)
    at.run()
    assert not at.exception
    assert any("what next" in frame.value.columns for frame in at.dataframe)
    assert not any("Looking up where" in info.value for info in at.info)


def test_home_lists_hub_models_as_checking_meanwhile(fresh_lookup):
    at = AppTest.from_file("../../app.py", default_timeout=60).run()
    assert not at.exception
    status = dict(zip(at.dataframe[0].value["key"], at.dataframe[0].value["status"]))
    assert status["vit_clip"].startswith("🔎") and status["effnet_lite0"].endswith("live")
    assert not any("vit_clip" in code.value for code in at.code)  # no download advice before the answer
    assert any("Looking up where timm and open_clip publish" in info.value for info in at.info)


def test_a_failed_background_lookup_is_said_once_and_not_retried(fresh_lookup, monkeypatch):
    calls, _ = fresh_lookup

    def broken(wanted):
        calls.append((threading.get_ident(), wanted))
        raise RuntimeError("looking up pretrained weights in a child process failed: no module named timm")

    monkeypatch.setattr(hub_cfg, "_compute_in_child", broken)
    assert not hub_cfg.locate_in_background()
    hub_cfg._background.join(30)
    assert not hub_cfg.locate_in_background() and len(calls) == 1
    assert "no module named timm" in hub_cfg.background_failure()
    at = AppTest.from_file("../../app.py", default_timeout=60).run()
    assert any("no module named timm" in warning.value for warning in at.warning)


def test_the_child_process_finds_what_the_libraries_say_and_keeps_it(monkeypatch, tmp_path):
    """The real child (imports timm and open_clip): the same answers as asking them here, kept in the cache
    folder's file so the next process, or a page opened after this one closed, finds them."""
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path / "cache"))
    wanted = [("timm", "convnext_base.fb_in22k_ft_in1k", ""), ("open_clip", "ViT-B-16", "laion400m_e31"),
              ("open_clip", "ViT-B-16", "no_such_tag")]
    found = hub_cfg._compute_in_child([list(item) for item in wanted])
    assert found == {hub_cfg._key(*item): hub_cfg._compute(*item) for item in wanted}
    assert found[hub_cfg._key(*wanted[1])]["hf_hub"] == "timm/vit_base_patch16_clip_224.laion400m_e31/"
    assert json.loads((tmp_path / "cache" / "hub_cfgs.json").read_text()) == found
