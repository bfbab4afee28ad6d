"""The Your task page in headless Chromium: the decision card, every chart drawn, no exception; a screenshot.

The store is `BAE_TASK_SCREENSHOT_STORE` when set (e.g. the paper's four architectures with random weights and
effnet_lite0, for a look at six candidates), else a digits task run here with the tiny models.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_app_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, _no_exception, _settle, streamlit_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def task_url(tmp_path_factory, tiny_models_toml):
    env = os.environ.copy()
    given = os.environ.get("BAE_TASK_SCREENSHOT_STORE")
    if given:
        env["BAE_RESULTS_DB"] = given
    else:
        from core.store import ResultsStore
        from core.task import scan_task
        from core.task.run import run_task
        from tests.fixtures.task_folders import digits_folder

        root = tmp_path_factory.mktemp("task_browser")
        digits_folder(root / "images", per_class=8)
        (root / "templates.txt").write_text("a photo of the number {}.\n")
        store = ResultsStore(root / "results.duckdb")
        store.add_task(*scan_task("digits", root / "images", templates=root / "templates.txt"))
        run_task("digits", ["tiny_convnext", "tiny_clip", "tiny_vit"], shots=(1, 2), corruptions=("gaussian_noise",),
                 severities=(1, 3), store=store, device="cpu", say=lambda _: None)
        env["BAE_RESULTS_DB"] = str(store.path)
    with streamlit_server(tmp_path_factory.mktemp("server") / "streamlit.log", env) as url:
        yield url


def test_task_page_draws_the_card_and_every_chart(task_url):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (bash .ci/run does).")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 6000})
        page.set_default_timeout(180_000)
        page.goto(f"{task_url}/task")
        page.get_by_role("heading", name="Your task: which model for my images?").wait_for()
        _settle(page)
        page.get_by_text("For accuracy:").first.wait_for()
        _no_exception(page)
        page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.nth(3).wait_for()  # k-shot, reliability, corruptions, κ
        page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
        page.goto(f"{task_url}/task?task_priority=calibration")
        page.get_by_text("For calibration:").first.wait_for()
        _settle(page)
        _no_exception(page)
        browser.close()
