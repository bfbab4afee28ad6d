"""Compare page in headless Chromium with six models (five tiny ones of the real families + the offline
model) and several images: no exception, every model's top-5 class names shown in full, screenshots.

Its own server, so that its models.toml (six models, two with long labels) does not change the
other browser tests' pages.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from tests.browser.test_app_browser import _no_exception, _settle
from tests.fixtures.browser import SHOTS, chromium, streamlit_server

pytestmark = pytest.mark.browser

SIX = ["effnet_lite0", "tiny_vit", "tiny_convnext", "tiny_clip", "tiny_vit_long", "tiny_convnext_long"]


@pytest.fixture(scope="module")
def six_models_url(tmp_path_factory, tiny_specs, tiny_clip_head):
    import dataclasses

    from core.models.registry import append_user_model

    folder = tmp_path_factory.mktemp("compare_browser")
    toml = folder / "models.toml"
    for spec in tiny_specs.values():
        append_user_model(spec, toml)
    # long display names, as user-added models have: the layout must hold them
    append_user_model(dataclasses.replace(tiny_specs["tiny_vit"], name="tiny_vit_long",
                                          label="A second tiny ViT with a rather long display name"), toml)
    append_user_model(dataclasses.replace(tiny_specs["tiny_convnext"], name="tiny_convnext_long",
                                          label="Another tiny ConvNeXt, also with a long name (random)"), toml)
    with streamlit_server(folder / "streamlit.log", {**os.environ, "BAE_MODELS_TOML": str(toml)}) as url:
        yield url


@pytest.fixture(scope="module")
def browser(six_models_url):
    with chromium() as launched:
        yield launched


def _open(browser, url: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 1200}, accept_downloads=True)
    page.set_default_timeout(180_000)
    page.goto(f"{url}/compare")
    page.get_by_role("heading", name="Compare models on your image").wait_for()
    _settle(page)
    return page


def _fresh(page) -> None:
    """Wait until the rerun has finished and no element is left over from the previous run (stale)."""
    _settle(page)
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")


def _upload(page, paths) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(path) for path in paths])
    if len(paths) > 1:
        page.locator('[data-testid="stTable"]').wait_for()  # the images × models matrix
    page.get_by_text(f"{Path(paths[0]).name} · ").first.wait_for()
    page.get_by_text("Download predictions (CSV)").wait_for()
    _fresh(page)


def _csv(page) -> list[dict]:
    with page.expect_download() as download:
        page.locator(".st-key-compare_download button").click()
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))


def _photos(tmp_path, names):
    from tests.conftest import encoded, photo

    paths = []
    for name in names:
        path = tmp_path / f"{name}.png"
        path.write_bytes(encoded(photo(name).convert("RGB")))
        paths.append(path)
    return paths


def test_six_models_two_images_show_full_class_names(browser, six_models_url, tmp_path):
    page = _open(browser, six_models_url, 1400)
    _upload(page, _photos(tmp_path, ["chelsea", "coffee"]))
    _no_exception(page)
    rows = _csv(page)
    assert {row["model"] for row in rows} == set(SIX)
    assert {row["image"] for row in rows} == {"chelsea.png", "coffee.png"}
    assert len(rows) == 6 * 2 * 5
    # the matrix (HTML table): every model's top-1 on every image, in full
    matrix = page.locator('[data-testid="stTable"]').inner_text()
    for row in rows:
        if row["rank"] == "1":
            assert row["class"] in matrix
    # the details of the first image: each model's top-5 bars carry the full class names
    text = " ".join(page.locator('[data-testid="stVegaLiteChart"] svg text').all_text_contents())
    for row in rows:
        if row["image"] == "chelsea.png":
            assert row["class"] in text, row
    assert "…" not in text
    page.screenshot(path=str(SHOTS / "compare_six_models_two_images.png"), full_page=True)
    page.close()


@pytest.mark.skipif(os.environ.get("BAE_COMPARE_SHOTS") != "1", reason="layout screenshots: BAE_COMPARE_SHOTS=1")
@pytest.mark.parametrize("width", [1280, 1920])
@pytest.mark.parametrize("n_models, n_images", [(1, 1), (4, 1), (6, 1), (6, 5), (4, 5), (1, 5)])
def test_layout_screenshots(browser, six_models_url, tmp_path, width, n_models, n_images):
    """Compare at 1280 and 1920 px with 1, 4 and 6 models and 1 and 5 images: no exception, one screenshot each
    (tall viewport, so the whole page is in the picture)."""
    page = browser.new_page(viewport={"width": width, "height": 5200}, accept_downloads=True)
    page.set_default_timeout(180_000)
    page.goto(f"{six_models_url}/compare")
    page.get_by_role("heading", name="Compare models on your image").wait_for()
    _settle(page)
    if n_models < 6:
        page.locator(".st-key-compare_models input").click()
        for _ in range(6 - n_models):  # Backspace in the multiselect removes its last model
            page.keyboard.press("Backspace")
        page.keyboard.press("Escape")
        _fresh(page)
    names = ["chelsea", "coffee", "astronaut", "rocket", "camera"][:n_images]
    _upload(page, _photos(tmp_path, names))
    _no_exception(page)
    assert {row["model"] for row in _csv(page)} == set(SIX[:n_models])
    page.screenshot(path=str(SHOTS / f"compare_layout_{width}px_{n_models}models_{n_images}images.png"))
    page.close()
