"""AppTest: every page renders from app.py with no exception and shows real values."""

from __future__ import annotations

import shutil

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.fixtures import hostile

TIMEOUT = 180


def _app() -> AppTest:
    return AppTest.from_file("../../app.py", default_timeout=TIMEOUT).run()


def _compare(at: AppTest | None = None) -> AppTest:
    at = at or _app()
    at.switch_page("views/compare.py").run()
    return at


def _shown_classes(at: AppTest) -> set[str]:
    return {name for frame in at.dataframe if "class" in frame.value for name in frame.value["class"]}


def _top5_table(at: AppTest):
    """The page's table of every model's top-5 (the numbers behind the bar charts)."""
    return next(frame.value for frame in at.dataframe if {"model_label", "rank", "class"} <= set(frame.value))


def test_home_lists_models_with_status(tiny_models_toml):
    at = _app()
    assert not at.exception
    table = at.dataframe[0].value
    status = dict(zip(table["key"], table["status"]))
    assert status["effnet_lite0"].endswith("live")
    assert status["vit_sup"].endswith("needs weights")
    assert {"tiny_vit", "tiny_convnext", "tiny_clip"} <= set(status)
    assert any("python -m core download vit_sup" in code.value for code in at.code)


def test_home_form_adds_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("BAE_MODELS_TOML", str(tmp_path / "models.toml"))
    at = _app()
    at.text_input(key="home_add_name").input("resnet50_a1")
    at.text_input(key="home_add_source").input("resnet50.a1_in1k")
    at.selectbox(key="home_add_family").select("convnet")
    next(button for button in at.button if button.label == "Add model").click().run()
    assert not at.exception
    assert 'source = "resnet50.a1_in1k"' in (tmp_path / "models.toml").read_text()
    assert "resnet50_a1" in set(at.dataframe[0].value["key"])


def test_compare_shows_the_example_with_no_upload():
    at = _compare()
    assert not at.exception
    assert {"tiger cat", "tabby cat", "Egyptian Mau"} & _shown_classes(at)


def test_compare_upload_predicts_a_cat(chelsea_jpeg):
    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0"])
    at.file_uploader(key="compare_upload").set_value(("my cat.jpg", chelsea_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception
    assert "tiger cat" in _shown_classes(at)
    assert any("ms/image" in caption.value for caption in at.caption)
    at.run()  # a repeated upload is answered from the disk cache
    assert any("came from the cache" in caption.value for caption in at.caption)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"GIF89a but not really", "not an image"),
        (hostile.truncated_jpeg(), "truncated or corrupt"),
        (b"\x00" * (26 * 2**20), "limit is 25 MB"),
        (hostile.bomb_png(), "decompression bomb"),
    ],
    ids=["zero-byte", "non-image", "truncated", "over-size-cap", "bomb"],
)
def test_bad_upload_gets_a_message_and_good_files_still_work(data, message, chelsea_jpeg):
    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0"])
    at.file_uploader(key="compare_upload").set_value([("bad.png", data, "image/png"),
                                                       ("cat.jpg", chelsea_jpeg, "image/jpeg")])
    at.run()
    assert not at.exception
    assert any(message in error.value and "bad.png" in error.value for error in at.error)
    assert "tiger cat" in _shown_classes(at)


def test_compare_runs_tiny_models_of_every_family(tiny_models_toml, tiny_clip_head):
    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0", "tiny_vit", "tiny_convnext", "tiny_clip"])
    at.radio(key="compare_protocol").set_value("library")
    at.run()
    assert not at.exception
    top5 = _top5_table(at)
    assert top5["model_label"].nunique() == 4 and len(top5) == 20
    assert len(at.success) + len(at.warning) == 1  # the agreement verdict
    assert at.get("download_button")


def test_models_without_weights_are_explained_not_crashing():
    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0", "vit_sup", "convnext_clip"])
    at.run()
    assert not at.exception
    texts = " ".join(info.value for info in at.info)
    assert "python -m core download vit_sup" in texts and "python -m core download convnext_clip" in texts


def test_clip_model_without_head_offers_to_compute_it(tmp_path, monkeypatch, tiny_files):
    """The head is estimated, computed with progress on request, then used."""
    from core.models.registry import ModelSpec, append_user_model

    weights = tmp_path / "other_clip.pt"
    state = torch.load(tiny_files["clip_weights"], weights_only=True)
    state["logit_scale"] += 1  # different bytes: a different head key
    torch.save(state, weights)
    toml = tmp_path / "models.toml"
    append_user_model(ModelSpec("fresh_clip", "open_clip", str(tiny_files["clip_config"]), family="vit",
                                pretrained=str(weights), head="zero_shot"), toml)
    monkeypatch.setenv("BAE_MODELS_TOML", str(toml))
    at = _compare()
    at.multiselect(key="compare_models").set_value(["fresh_clip"])
    at.run()
    assert not at.exception
    assert any("Expected time here" in info.value for info in at.info)
    at.button(key="compare_head_fresh_clip").click().run()
    assert not at.exception
    assert len(_top5_table(at)) == 5
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_compare_with_several_images_shows_the_matrix_and_details_on_demand(chelsea_jpeg):
    from tests.conftest import encoded, photo

    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0"])
    at.file_uploader(key="compare_upload").set_value([("cat.jpg", chelsea_jpeg, "image/jpeg"),
                                                       ("cup.png", encoded(photo("coffee")), "image/png")])
    at.run()
    assert not at.exception
    matrix = at.table[0].value
    assert list(matrix.index) == ["cat.jpg", "cup.png"] and "tiger cat" in matrix.iloc[0, 0]
    assert "espresso" in matrix.iloc[1, 0]
    at.selectbox(key="compare_image").select("2. cup.png").run()
    assert not at.exception
    assert any("EfficientNet-Lite0 (offline) says espresso" in info.value for info in at.info)


def test_compare_saliency_toggle_and_corruption_slider(tiny_models_toml, tiny_clip_head):
    at = _compare()
    at.multiselect(key="compare_models").set_value(["effnet_lite0", "tiny_vit", "tiny_clip"])
    at.toggle(key="compare_saliency").set_value(True).run()
    assert not at.exception and not at.error
    captions = [caption for image in at.image for caption in image.captions]
    assert len([caption for caption in captions if "Grad-CAM" in caption]) == 3
    at.selectbox(key="compare_corruption").select("gaussian_noise").run()
    assert not at.exception
    curves = next(frame.value for frame in at.dataframe if "clean_class_prob" in frame.value)
    assert len(curves) == 3
    assert (curves["clean_class_prob"] <= 1).all()
    at.slider(key="compare_severity").set_value(5).run()
    assert not at.exception
    assert any("at severity 5" in str(frame.proto) for frame in at.dataframe)


def test_compare_view_reopens_from_its_link_and_ignores_stale_values():
    at = AppTest.from_file("../../app.py", default_timeout=TIMEOUT)
    at.query_params.update({"compare_protocol": "library", "compare_example": "Coffee cup (coffee)",
                            "compare_corruption": "contrast", "compare_severity": "4",
                            "compare_models": ["effnet_lite0", "no_such_model"]})
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    assert at.radio(key="compare_protocol").value == "library"
    assert at.selectbox(key="compare_example").value == "Coffee cup (coffee)"
    assert at.multiselect(key="compare_models").value == ["effnet_lite0"]
    assert at.selectbox(key="compare_corruption").value == "contrast"
    assert at.slider(key="compare_severity").value == 4
    notes = " ".join(caption.value for caption in at.caption)
    assert "no_such_model" in notes  # the stale model is named, not an exception
    # the page writes its current state back, so the address bar reopens the same view
    at.slider(key="compare_severity").set_value(2).run()
    assert at.query_params["compare_severity"] == ["2"] or at.query_params["compare_severity"] == "2"
