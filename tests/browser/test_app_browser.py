"""The real app in headless Chromium: every page renders, an upload gets predictions, the cap holds.

Chromium and the server: `tests.fixtures.browser`.
"""

from __future__ import annotations

import os

import pytest

from tests.fixtures.browser import SHOTS, chromium, streamlit_server

pytestmark = pytest.mark.browser


PAGES = {"": "Beyond Accuracy Explorer", "findings": "Findings: which of the paper's claims do our runs reproduce?",
         "compare": "Compare models on your image",
         "evaluations": "Evaluations: what has been measured",
         "mistakes": "Mistakes: which factors make each model err?",
         "shape-texture": "Shape vs texture: what decides the answer?",
         "calibration": "Calibration: does confidence match accuracy?",
         "robustness": "Robustness: how far does accuracy fall under distribution shift?",
         "pug": "Synthetic data: which controlled changes break the models?",
         "invariance": "Invariance: does the answer survive a zoom or a shift?",
         "transfer": "Transferability: how good are the frozen features elsewhere?"}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from core.run.decisions import import_author_decisions, import_human_decisions
    from tests.conftest import shared_data

    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    # the pages read the default store: give the analyses real decisions to show
    import_author_decisions(authors, say=lambda _: None)
    import_human_decisions(humans, say=lambda _: None)
    # and ImageNet val runs of four models (synthetic), so Calibration's screenshot shows four facets
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    write_val_runs(ResultsStore())
    with streamlit_server(tmp_path_factory.mktemp("server") / "streamlit.log", os.environ.copy()) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    with chromium() as browser:
        context = browser.new_page(viewport={"width": 1500, "height": 2000})
        context.set_default_timeout(120_000)
        yield context


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()


def _settle(page) -> None:
    """Wait until the script has finished running: the status widget is gone, and stays gone."""
    status = page.locator('[data-testid="stStatusWidget"]')
    for _ in range(2):
        page.wait_for_timeout(750)
        status.wait_for(state="hidden", timeout=180_000)


def test_a_deep_link_on_a_fresh_server_gets_the_apps_navigation(page, app_url):
    """The first request goes straight to a page: it must still run app.py's st.navigation."""
    page.goto(f"{app_url}/evaluations")
    page.get_by_role("heading", name="Evaluations: what has been measured").wait_for()
    _settle(page)
    navigation = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Compare models" in navigation and "ui" not in navigation.split()
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "evaluations.png"), full_page=True)


def test_home_page(page, app_url):
    page.goto(app_url)
    page.get_by_role("heading", name="Beyond Accuracy Explorer").wait_for()
    _settle(page)
    page.get_by_text("How to get the weights").first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)


def test_compare_page_upload_predicts_a_cat(page, app_url, chelsea_jpeg, tmp_path):
    page.goto(f"{app_url}/compare")
    page.get_by_role("heading", name="Compare models on your image").wait_for()
    _settle(page)
    _no_exception(page)
    upload = tmp_path / "my_cat_photo.jpg"
    upload.write_bytes(chelsea_jpeg)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.get_by_text("my_cat_photo.jpg · 451×300").wait_for()
    _settle(page)
    _no_exception(page)
    # each model's top-5 is a bar chart now (full class names); its numbers sit in a table in an expander
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    page.get_by_text("ms/image").first.wait_for()
    page.screenshot(path=str(SHOTS / "compare_upload.png"), full_page=True)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_without_an_exception(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    page.get_by_role("heading", name=PAGES[path]).wait_for()
    # every page ends with a table, a chart or a message (the empty state): wait for one
    page.locator('[data-testid="stAlert"], [data-testid="stDataFrame"], [data-testid="stVegaLiteChart"]').first.wait_for()
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / f"page_{path or 'home'}.png"), full_page=True)


def test_upload_cap_is_enforced_in_the_browser(page, app_url, tmp_path):
    page.goto(f"{app_url}/compare")
    _settle(page)
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x00" * (26 * 2**20))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(big))
    page.get_by_text("File must be 25").first.wait_for(timeout=30_000)
    _settle(page)
    page.get_by_text("ms/image").first.wait_for()  # the page still works: the example is shown
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "compare_cap.png"), full_page=True)
