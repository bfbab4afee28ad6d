"""core.explain.corruptions: the 15 ImageNet-C corruptions at every severity, seeded, on small and large photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.explain.corruptions import (CORRUPTIONS, SEVERITIES, UnknownCorruption, corrupt, corrupted_versions,
                              corruption_label, severity_sweep)
from core.errors import UserError
from core.images import decode_image
from tests.conftest import encoded, photo

SMALL = np.asarray(photo("chelsea"))[100:140, 150:200].copy()  # 50 × 40 px, near the package's 32-px minimum
LARGE = np.asarray(photo("astronaut").resize((640, 480)))  # a typical phone-sized photo's working copy


def test_the_15_corruptions_are_imagenet_cs():
    from imagecorruptions import get_corruption_names

    assert CORRUPTIONS == tuple(get_corruption_names("common"))
    assert SEVERITIES == (0, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("severity", [1, 5])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize("image", [SMALL, LARGE], ids=["small", "large"])
def test_every_corruption_keeps_shape_and_dtype_and_changes_the_image(image, corruption, severity):
    result = corrupt(image, corruption, severity, seed=0)
    assert result.shape == image.shape and result.dtype == np.uint8
    assert not np.array_equal(result, image)
    assert np.array_equal(result, corrupt(image, corruption, severity, seed=0))  # seeded: the slider is stable


def test_severity_zero_is_the_clean_image():
    result = corrupt(SMALL, "zoom_blur", 0)
    assert np.array_equal(result, SMALL) and result is not SMALL


@pytest.mark.parametrize("corruption", ["gaussian_noise", "impulse_noise", "glass_blur"])
def test_another_seed_gives_other_noise(corruption):
    assert not np.array_equal(corrupt(SMALL, corruption, 3, seed=0), corrupt(SMALL, corruption, 3, seed=1))


def test_severity_orders_the_damage():
    """Mean absolute change grows with severity (a hand check of the package's parameter tables)."""
    change = [np.abs(corrupt(LARGE, "defocus_blur", s).astype(float) - LARGE).mean()
              for s in SEVERITIES]
    assert change == sorted(change) and change[0] == 0


def test_bad_input_gets_a_message():
    with pytest.raises(UnknownCorruption, match="Did you mean zoom_blur"):
        corrupt(SMALL, "zoom_blurr", 1)
    with pytest.raises(UserError, match="severity from 0 .clean. to 5, got 6"):
        corrupt(SMALL, "fog", 6)
    with pytest.raises(UserError, match="20×20 px; ImageNet-C corruptions need at least 32 px"):
        corrupt(SMALL[:20, :20], "fog", 1)
    with pytest.raises(UserError, match="H×W×3 uint8"):
        corrupt(SMALL.astype(np.float32), "fog", 1)


def test_labels_read_well():
    assert corruption_label("jpeg_compression") == "JPEG compression"
    assert corruption_label("gaussian_noise") == "Gaussian noise"


@pytest.mark.parametrize("size", [(40, 33), (3000, 2000)])
def test_versions_are_at_imagenet_cs_working_size_with_stable_keys(size):
    image = decode_image(encoded(photo("coffee").resize(size)), "cup.png")
    versions = corrupted_versions(image, "fog")
    assert len(versions) == 6 and min(versions[0].image.size) == 256
    assert len({version.sha256 for version in versions}) == 6
    assert [v.sha256 for v in versions] == [v.sha256 for v in corrupted_versions(image, "fog")]
    assert versions[3].name == "cup.png · Fog 3" and versions[0].name == "cup.png · clean"


def test_sweep_matches_classify_on_the_same_versions(tmp_path, monkeypatch):
    """One batch per model; its top-5 agree with engine.classify, and p(clean class) at severity 0 is the top-1 p."""
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path))  # an empty cache: other tests may have swept this photo
    from core.run.inference import classify
    from core.models import registry
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess

    spec = registry()[0].get("effnet_lite0")
    loaded, cfg = load_model(spec, device="cpu"), resolve_preprocess(spec, "paper")
    versions = corrupted_versions(decode_image(encoded(photo("coffee")), "cup.png"), "gaussian_noise")
    sweep = severity_sweep(loaded, versions, cfg, use_cache=False)
    reference = classify(loaded, versions, cfg, use_cache=False)
    assert sweep.top_index == tuple(p.top_index for p in reference)
    np.testing.assert_allclose(np.array(sweep.top_prob), np.array([p.top_prob for p in reference]), atol=1e-5)
    assert sweep.clean_class_prob[0] == pytest.approx(sweep.top_prob[0][0])
    assert sweep.clean_class_prob[5] < sweep.clean_class_prob[0]
    assert severity_sweep(loaded, versions, cfg).cached is False
    assert severity_sweep(loaded, versions, cfg).cached is True
