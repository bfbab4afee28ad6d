"""core.models.preprocess against the libraries' own transforms (independent references)."""

from __future__ import annotations

import pytest
import torch

from core.models.preprocess import crop_for_model, resolve_preprocess, to_model_tensor
from core.models.registry import MODELS
from tests.conftest import photo


@pytest.fixture(scope="module")
def odd_image():
    # non-square, odd-sized, so resize rounding and crop offsets matter
    return photo("astronaut").crop((13, 40, 13 + 401, 40 + 287))


def _ours(spec, protocol, image):
    cfg = resolve_preprocess(spec, protocol)
    return to_model_tensor(crop_for_model(image, cfg), cfg)


def test_paper_protocol_is_the_paper_codes_transform(odd_image):
    from torchvision import transforms

    reference = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])
    for name in ("vit_sup", "convnext_sup"):
        assert torch.equal(_ours(MODELS.get(name), "paper", odd_image), reference(odd_image))


@pytest.mark.parametrize("name", ["vit_sup", "convnext_sup", "effnet_lite0"])
def test_library_protocol_matches_timm_create_transform(name, odd_image):
    import timm.data

    spec = MODELS.get(name)
    timm_name = spec.source if spec.library == "timm" else spec.arch
    config = timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(timm_name).to_dict())
    reference = timm.data.create_transform(**config)
    assert torch.equal(_ours(spec, "library", odd_image), reference(odd_image))


def test_library_crop_percentages_are_the_pretrained_configs():
    assert resolve_preprocess(MODELS.get("vit_sup"), "library").resize_size == 224  # crop_pct 1.0
    assert resolve_preprocess(MODELS.get("convnext_sup"), "library").resize_size == 256  # crop_pct 0.875
    assert resolve_preprocess(MODELS.get("vit_sup"), "library").interpolation == "bicubic"


@pytest.mark.parametrize("name", ["vit_clip", "convnext_clip"])
@pytest.mark.parametrize("protocol", ["paper", "library"])
def test_clip_models_get_open_clips_preprocess(name, protocol, odd_image):
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    spec = MODELS.get(name)
    tag_cfg = open_clip.get_pretrained_cfg(spec.source, spec.pretrained)
    fields = {key: tag_cfg[key] for key in ("mean", "std", "interpolation", "resize_mode")}
    reference = image_transform_v2(PreprocessCfg(size=224, **fields), is_train=False)
    assert torch.equal(_ours(spec, protocol, odd_image), reference(odd_image))


def test_non_paper_models_ignore_the_protocol():
    spec = MODELS.get("effnet_lite0")
    assert resolve_preprocess(spec, "paper") == resolve_preprocess(spec, "library")
    cfg = resolve_preprocess(spec, "paper")
    assert (cfg.mean, cfg.std, cfg.interpolation, cfg.resize_size) == ((0.5,) * 3, (0.5,) * 3, "bicubic", 256)


def test_keys_differ_between_protocols_and_explicit_overrides_win():
    spec = MODELS.get("convnext_sup")
    assert resolve_preprocess(spec, "paper").key() != resolve_preprocess(spec, "library").key()
    assert resolve_preprocess(spec, "paper", input_size=192).input_size == 192
    with pytest.raises(ValueError, match="protocol"):
        resolve_preprocess(spec, "papr")
