"""Findings in headless Chromium: presenter mode moves with the arrow keys, and a copied link reopens a view
(models and slider positions) in a fresh page."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_app_browser import _no_exception, _settle, app_url, page  # noqa: F401
from tests.fixtures.browser import SHOTS

pytestmark = pytest.mark.browser


def test_presenter_mode_moves_with_the_arrow_keys(page, app_url):  # noqa: F811
    page.goto(f"{app_url}/findings?present=1&slide=1")
    page.get_by_text(re.compile(r"^Slide 1 / \d+$")).wait_for()
    _settle(page)
    _no_exception(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()  # full screen: no sidebar
    total = int(page.get_by_text(re.compile(r"^Slide 1 / \d+$")).inner_text().split("/")[1])
    assert total >= 8  # eight claims, then the pins
    page.keyboard.press("ArrowRight")
    page.get_by_text(f"Slide 2 / {total}").wait_for()
    _settle(page)
    assert "slide=2" in page.url
    page.get_by_role("heading", name=re.compile("^2\\. All models find texture hardest")).wait_for()
    page.keyboard.press("ArrowRight")
    page.get_by_text(f"Slide 3 / {total}").wait_for()
    _settle(page)
    page.keyboard.press("ArrowLeft")
    page.get_by_text(f"Slide 2 / {total}").wait_for()
    _settle(page)
    assert "slide=2" in page.url
    page.goto(f"{app_url}/findings?present=1&slide=5")  # the slide is in the URL
    page.get_by_text(f"Slide 5 / {total}").wait_for()
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "findings_presenter_slide5.png"))


def test_a_copied_link_reopens_the_same_view_in_a_fresh_page(page, app_url):  # noqa: F811
    page.goto(f"{app_url}/invariance")
    scale = page.locator(".st-key-invariance_scale input[type=range]")
    scale.wait_for(state="attached")
    _settle(page)
    def press_and_wait(slider, expected: str) -> None:
        """One step, then wait until the fragment has rerun and the link shows it (a press during a rerun
        on a loaded machine would otherwise be lost)."""
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(text) => document.querySelector('.st-key-invariance_link code')?.innerText"
                               ".includes(text)", arg=expected)
        _settle(page)

    press_and_wait(scale, "invariance_scale=1.25")
    press_and_wait(scale, "invariance_scale=1.5")
    press_and_wait(page.locator(".st-key-invariance_shift input[type=range]"), "invariance_shift=5")
    link = page.locator(".st-key-invariance_link code")
    copied = link.inner_text().strip()
    assert "invariance_scale=1.5" in copied and "invariance_models=effnet_lite0" in copied
    _no_exception(page)

    fresh = page.context.browser.new_page(viewport={"width": 1500, "height": 2000})  # a new session
    try:
        fresh.set_default_timeout(120_000)
        fresh.goto(copied)
        restored = fresh.locator(".st-key-invariance_scale input[type=range]")
        restored.wait_for(state="attached")
        _settle(fresh)
        _no_exception(fresh)
        assert restored.get_attribute("aria-valuetext") == "1.5×"
        assert fresh.locator(".st-key-invariance_shift input[type=range]").get_attribute("aria-valuetext") == "5"
        assert "EfficientNet-Lite0" in fresh.locator(".st-key-invariance_models").inner_text()
        fresh.screenshot(path=str(SHOTS / "invariance_from_link.png"), full_page=True)
    finally:
        fresh.close()


def test_one_click_html_report_downloads_a_self_contained_file(page, app_url, tmp_path):  # noqa: F811
    page.goto(f"{app_url}/findings")
    page.get_by_role("heading", name="Export").wait_for()
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "findings.png"), full_page=True)
    with page.expect_download(timeout=180_000) as download:
        page.locator(".st-key-findings_download_html button").click()
    path = tmp_path / "findings.html"
    download.value.save_as(path)
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data-chart='claim-5'" in text and "http" not in text
