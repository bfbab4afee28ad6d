"""core.explain.saliency: Grad-CAM maps that are faithful (deletion test), match a hand-written Grad-CAM, and
reach every family's layer (ConvNet, timm ViT tokens, open_clip ViT with the zero-shot target)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.images import decode_image
from core.models.load import LoadedModel, load_model
from core.models.preprocess import crop_for_model, resolve_preprocess, to_model_tensor
from core.explain.saliency import SaliencyUnsupported, deletion_drop, saliency_map, saliency_method
from tests.conftest import encoded, photo

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera")


@pytest.fixture(scope="module")
def offline():
    from core.models import registry

    spec = registry()[0].get("effnet_lite0")
    return load_model(spec, device="cpu"), resolve_preprocess(spec, "paper")


@pytest.fixture(scope="module")
def photos():
    return [decode_image(encoded(photo(name).convert("RGB")), f"{name}.png") for name in PHOTOS]


def test_deleting_the_most_salient_pixels_hurts_more_than_deleting_random_ones(offline, photos):
    """The deletion test of Petsiuk et al. (RISE, BMVC 2018, Sec. 4.1): remove the 20% most salient pixels
    of the model's input (set to the mean colour) and the top-1 probability must fall further, on average
    over the photos, than when 20% random pixels are removed (3 random draws per photo)."""
    loaded, cfg = offline
    batch = torch.stack([to_model_tensor(crop_for_model(image.image, cfg), cfg) for image in photos])
    with torch.inference_mode():
        top1 = loaded.module(batch).argmax(-1).tolist()
    maps = np.stack([saliency_map(loaded, image, cfg, target, use_cache=False).heatmap
                     for image, target in zip(photos, top1)])
    salient, random = deletion_drop(loaded, batch, maps, fraction=0.2, random_draws=3)
    assert salient.mean() > random.mean(), (salient, random)
    # and the map is not just a fixed blob: inverting it (deleting the least salient 20%) hurts least
    least, _ = deletion_drop(loaded, batch, 1 - maps, fraction=0.2, random_draws=1)
    assert least.mean() < salient.mean()


def _reference_gradcam(module, layer, batch, target: int) -> np.ndarray:
    """Grad-CAM written out with plain torch hooks (Selvaraju et al., ICCV 2017, Eq. 1-2), as independent
    reference: alpha_k = spatial mean of d score / d A^k; L = ReLU(sum_k alpha_k A^k), upsampled, min-max scaled."""
    store = {}
    handle = layer.register_forward_hook(lambda _, __, output: store.update(activation=output))
    try:
        score = module(batch)[0, target]
        gradient, = torch.autograd.grad(score, store["activation"])
    finally:
        handle.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * store["activation"]).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / (cam.max() + 1e-7)).detach().numpy()


def test_map_matches_a_hand_written_gradcam(offline, photos):
    loaded, cfg = offline
    image = photos[1]
    batch = to_model_tensor(crop_for_model(image.image, cfg), cfg).unsqueeze(0)
    ours = saliency_map(loaded, image, cfg, 967, use_cache=False).heatmap  # 967: espresso
    reference = _reference_gradcam(loaded.module, loaded.module.conv_head, batch, 967)
    assert ours.shape == reference.shape == (224, 224)
    assert np.corrcoef(ours.ravel(), reference.ravel())[0, 1] > 0.99
    assert np.abs(ours - reference).mean() < 0.03  # the package resizes with OpenCV, we with torch


def test_the_shared_model_is_left_as_it_was(offline, photos):
    loaded, cfg = offline
    flags = [parameter.requires_grad for parameter in loaded.module.parameters()]
    saliency_map(loaded, photos[0], cfg, 282, use_cache=False)
    assert [parameter.requires_grad for parameter in loaded.module.parameters()] == flags
    assert all(parameter.grad is None for parameter in loaded.module.parameters())
    assert not loaded.module.conv_head._forward_hooks  # grad-cam's hooks are gone


def test_maps_are_cached_by_image_model_and_class(offline, photos):
    loaded, cfg = offline
    first = saliency_map(loaded, photos[0], cfg, 281)
    again = saliency_map(loaded, photos[0], cfg, 281)
    other = saliency_map(loaded, photos[0], cfg, 285)
    assert not first.cached and again.cached and not other.cached
    np.testing.assert_allclose(again.heatmap, first.heatmap, atol=1e-3)  # stored as float16
    assert not np.allclose(other.heatmap, first.heatmap)


@pytest.mark.parametrize("name", ["tiny_vit", "tiny_convnext", "tiny_clip"])
def test_every_family_gets_a_map_at_its_input_size(name, tiny_specs, tiny_clip_head, photos):
    from core.imagenet import class_names
    from core.models.zero_shot import head_key, openai_templates

    spec = tiny_specs[name]
    loaded, cfg = load_model(spec, device="cpu"), resolve_preprocess(spec, "paper")
    head = tiny_clip_head if spec.head == "zero_shot" else None
    key = head_key(spec, class_names(), openai_templates()) if head is not None else ""
    result = saliency_map(loaded, photos[0], cfg, 281, head=head, head_key=key, use_cache=False)
    size = cfg.input_size
    assert result.heatmap.shape == (size, size) and result.crop.size == (size, size)
    assert np.isfinite(result.heatmap).all() and 0 <= result.heatmap.min() <= result.heatmap.max() <= 1 + 1e-6
    assert ("patch tokens" in saliency_method(loaded)) == (spec.family == "vit")
    assert result.heatmap.std() > 0  # not a constant map


def test_clip_target_is_the_zero_shot_logit(tiny_specs, tiny_clip_head):
    """The score Grad-CAM differentiates for a CLIP model is 100 × cos(image embedding, class text embedding)."""
    from core.explain.saliency import _scores_module

    loaded = load_model(tiny_specs["tiny_clip"], device="cpu")
    batch = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        scores = _scores_module(loaded, tiny_clip_head)(batch)
        image = torch.nn.functional.normalize(loaded.module.encode_image(batch), dim=-1)
        text = torch.nn.functional.normalize(tiny_clip_head.T, dim=-1)
    torch.testing.assert_close(scores, 100 * image @ text.T, atol=1e-3, rtol=1e-4)


def test_unknown_architecture_is_explained(tiny_specs):
    loaded = LoadedModel(tiny_specs["tiny_vit"], torch.nn.Linear(3, 3), "w", "cpu")
    with pytest.raises(SaliencyUnsupported, match="no Grad-CAM layer is known.*Its predictions are unaffected"):
        saliency_method(loaded)
