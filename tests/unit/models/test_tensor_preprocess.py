"""core.models.tensor_preprocess: the `tensor` resize backend against the faithful PIL path, on CPU
tensors (the same code runs on the GPU): pixels, geometry and top-1 agreement of a real model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.models.preprocess import apply_variant, crop_for_model, resolve_preprocess, to_model_tensor
from core.models.registry import MODELS
from core.models.tensor_preprocess import crop_tensor, preprocess_batch, to_uint8_tensor
from tests.conftest import photo, shared_data

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field", "immunohistochemistry", "colorwheel")


def _cfgs():
    vit_sup, vit_clip = MODELS.get("vit_sup"), MODELS.get("vit_clip")
    paper = resolve_preprocess(vit_sup, "paper")
    return {"paper-bilinear": paper, "clip-bicubic": resolve_preprocess(vit_clip, "paper"),
            "library-crop": resolve_preprocess(vit_sup, "library"),
            "squash": dataclasses.replace(paper, resize_mode="squash"),
            "shift": apply_variant(paper, vit_sup, "paper", "shift=30"),
            "raw": dataclasses.replace(paper, resize_mode="none")}


@pytest.mark.parametrize("name", list(_cfgs()))
def test_tensor_crops_match_pil_crops(name):
    """Same geometry, pixels within rounding (bilinear) or the cubic kernel's constant (bicubic)."""
    cfg = _cfgs()[name]
    for photo_name in PHOTOS[:4]:
        image = photo(photo_name)
        if name == "raw":
            image = image.crop((0, 0, 224, 224))
        expected = np.asarray(crop_for_model(image, cfg)).astype(np.int16)
        got = crop_tensor(to_uint8_tensor(image), cfg).permute(1, 2, 0).numpy().astype(np.int16)
        assert got.shape == expected.shape
        difference = np.abs(got - expected)
        limit = 0 if name == "raw" else (3.0 if "bicubic" in name or cfg.interpolation == "bicubic" else 1.0)
        assert difference.mean() <= limit, (photo_name, difference.mean())


def test_batch_is_normalised_like_the_pil_path():
    cfg = _cfgs()["paper-bilinear"]
    images = [photo(name) for name in PHOTOS[:3]]
    batch = preprocess_batch([to_uint8_tensor(image) for image in images], cfg)
    reference = torch.stack([to_model_tensor(crop_for_model(image, cfg), cfg) for image in images])
    assert batch.shape == reference.shape == (3, 3, 224, 224) and batch.dtype == torch.float32
    # one uint8 step is 1/255/std ≈ 0.0175 after normalisation
    assert (batch - reference).abs().mean() < 0.0175


def test_top1_agreement_with_the_pil_path_on_real_images():
    """The offline model's top-1 under both backends, on the scikit-image photos and 320 of the real
    cue-conflict images (which are resized under its timm config: 224 → 256 bicubic → crop 224).
    bench/resize_agreement.py measures all 1,280 and the paper models' transforms."""
    from core.data import BENCHMARKS, load_items
    from core.run.inference import logits_for
    from core.images import decode_image
    from core.models.load import load_model

    loaded = load_model(MODELS.get("effnet_lite0"), device="cpu")
    cfg = resolve_preprocess(loaded.spec, "paper")
    items = load_items(BENCHMARKS["cue-conflict"], shared_data("cue-conflict").resolve())[::4]
    images = [photo(name) for name in PHOTOS] + [
        decode_image(open(item.path, "rb").read(), item.image_id).image for item in items]
    agree = 0
    for start in range(0, len(images), 64):
        chunk = images[start:start + 64]
        pil = torch.stack([to_model_tensor(crop_for_model(image, cfg), cfg) for image in chunk])
        tensor = preprocess_batch([to_uint8_tensor(image) for image in chunk], cfg)
        with torch.inference_mode():
            agree += int((logits_for(loaded, pil).argmax(1) == logits_for(loaded, tensor).argmax(1)).sum())
    rate = agree / len(images)
    print(f"effnet_lite0 top-1 agreement, tensor vs PIL resize: {agree}/{len(images)} = {rate:.3f}")
    assert rate >= 0.9
