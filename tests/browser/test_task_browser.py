"""The Your task page in headless Chromium: the decision card, every chart drawn, no exception; a screenshot.

The store is `BAE_TASK_SCREENSHOT_STORE` when set (e.g. the paper's four architectures with random weights and
effnet_lite0, for a look at six candidates), else a digits task run here with the tiny models.
"""

from __future__ import annotations

import os

import pytest

from tests.browser.test_app_browser import _no_exception, _settle


def open_task_page(browser, url: str, *, height: int):
    """The Your task page in a 1500 px wide tab, settled (the candidates test opens it the same way)."""
    page = browser.new_page(viewport={"width": 1500, "height": height})
    page.set_default_timeout(180_000)
    page.goto(f"{url}/task")
    page.get_by_role("heading", name="Your task: which model for my images?").wait_for()
    _settle(page)
    return page
from tests.fixtures.browser import SHOTS, chromium, streamlit_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def task_url(tmp_path_factory, tiny_models_toml):
    env = os.environ.copy()
    given = os.environ.get("BAE_TASK_SCREENSHOT_STORE")
    if given:
        env["BAE_RESULTS_DB"] = given
    else:
        from tests.fixtures.task_folders import run_digits_task

        # raced (at a loose level, so the tiny models' race drops one) over five corruptions: the card's race and
        # P(best) lines, and the corruption chart's five panels (issue 31: no empty sixth, no stray legend)
        store, _, _, _ = run_digits_task(tmp_path_factory.mktemp("task_browser"),
                                         ["tiny_convnext", "tiny_clip", "tiny_vit"], per_class=30,
                                         corruptions=("gaussian_noise", "defocus_blur", "motion_blur", "contrast",
                                                      "jpeg_compression"), race={"first": 20, "alpha": 0.5})
        # then a later full run of one dropped model (it reuses the race's features): two models on the card
        from core.task.run import run_task

        run_task("digits", ["tiny_clip"], shots=(1, 2), corruptions=("gaussian_noise", "defocus_blur", "motion_blur",
                                                                     "contrast", "jpeg_compression"),
                 severities=(1, 3), store=store, device="cpu", say=lambda _: None)
        env["BAE_RESULTS_DB"] = str(store.path)
    with streamlit_server(tmp_path_factory.mktemp("server") / "streamlit.log", env) as url:
        yield url


def test_task_page_draws_the_card_and_every_chart(task_url):
    with chromium() as browser:
        page = open_task_page(browser, task_url, height=6000)
        page.get_by_text("For accuracy:").first.wait_for()
        _no_exception(page)
        if not os.environ.get("BAE_TASK_SCREENSHOT_STORE"):
            page.get_by_text("Chance of being best").first.wait_for()
            page.get_by_text("Dropped in round").first.wait_for()
        page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.nth(3).wait_for()  # k-shot, reliability, corruptions, κ
        page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
        page.goto(f"{task_url}/task?task_priority=calibration")
        page.get_by_text("For calibration:").first.wait_for()
        _settle(page)
        _no_exception(page)
