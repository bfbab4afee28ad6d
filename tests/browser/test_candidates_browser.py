"""The Your task page's Candidates panel in headless Chromium: a shortlist drawn, no exception; a screenshot.

The published tables are `BAE_CANDIDATES_DATA` when set (a data folder holding the real pinned downloads
`published/timm`, `published/open_clip`, `published/timm-benchmarks`), else the tiny copies of the test mirror.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.test_app_browser import _no_exception, _settle
from tests.browser.test_task_browser import open_task_page
from tests.fixtures.browser import SHOTS, chromium, streamlit_server

pytestmark = pytest.mark.browser


def _tiny_tables(data_dir) -> None:
    from core.data.sources import SOURCES
    from core.data.population import OPENCLIP_FILE
    from tests.unit.data import published as tables

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tables, "timm_population", tables.candidate_population)
        for source, files in (("timm-results", tables.timm_files()), ("timm-benchmarks", tables.benchmark_files()),
                              ("openclip-results", {OPENCLIP_FILE: tables.openclip_file()})):
            folder = data_dir / SOURCES[source].folder
            folder.mkdir(parents=True)
            for name, data in files.items():
                (folder / name).write_bytes(data)


@pytest.fixture(scope="module")
def candidates_url(tmp_path_factory, tiny_models_toml):
    from tests.fixtures.task_folders import run_digits_task

    root = tmp_path_factory.mktemp("candidates_browser")
    store, _, _, _ = run_digits_task(root, ["tiny_convnext", "tiny_clip"])
    env = os.environ.copy()
    env["BAE_RESULTS_DB"] = str(store.path)
    env["BAE_DATA_DIR"] = os.environ.get("BAE_CANDIDATES_DATA") or str(root / "data")
    if not os.environ.get("BAE_CANDIDATES_DATA"):
        _tiny_tables(root / "data")
    shutil.copy(tiny_models_toml, root / "models.toml")
    env["BAE_MODELS_TOML"] = str(root / "models.toml")
    with streamlit_server(root / "streamlit.log", env) as url:
        yield url


def test_the_candidates_panel_draws_a_shortlist(candidates_url):
    with chromium() as browser:
        page = open_task_page(browser, candidates_url, height=2400)
        panel = page.locator('[data-testid="stExpander"]').filter(has_text="Candidates: which published models to try")
        panel.get_by_text("Candidates: which published models to try").click()
        panel.get_by_role("button", name="Shortlist").click()
        _settle(page)
        panel.get_by_text("checkpoints meeting the constraints").wait_for()
        panel.locator('[data-testid="stDataFrame"]').wait_for()
        panel.get_by_role("button", name="Add").first.wait_for()
        _no_exception(page)
        panel.screenshot(path=str(SHOTS / "task_candidates.png"))
        page.get_by_text("ImageNet top-1", exact=False).first.wait_for()  # the card's sentence on the prior
        page.screenshot(path=str(SHOTS / "task_candidates_page.png"), full_page=True)
