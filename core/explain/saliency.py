"""Where each model looks: Grad-CAM maps for one class of one image, with the `grad-cam` package.

Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391) weights a layer's
activation maps by the spatial mean of the target score's gradient and keeps the positive part:
L = ReLU(sum_k alpha_k A^k), alpha_k = mean_ij dy/dA^k_ij. The layer per architecture:

- ConvNets (ConvNeXt, EfficientNet, the CLIP ConvNeXt's timm trunk): the output of the last stage
  (ConvNeXt) or of the last convolution (EfficientNet's `conv_head`): the last spatial feature map.
- Vision Transformers (DeiT3, the CLIP ViT): Grad-CAM on the tokens entering the last block's
  attention (its first LayerNorm), the class/prefix tokens dropped and the patch tokens reshaped
  to the patch grid (14×14 for a 224-px input with 16-px patches). Not attention rollout.

The target is the score the model ranks classes by: the classifier logit, or for a CLIP model
the zero-shot logit 100 × cos(image embedding, the class's text embedding) (`engine.logits_for`).
Maps are computed in float32 on the model's device, resized to the model's input crop and scaled
to [0, 1] by the package. Cached on disk like predictions: by image content, model and weights,
preprocessing, head and target class.

The shared model is never changed for long: hooks live only inside one computation (under a
lock, since two sessions hooking the same layer would see each other's activations) and the
parameters' `requires_grad` is switched off for it (gradients flow from the input instead, so no
parameter gradients are allocated) and restored afterwards.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from core.errors import UserError
from core.images import DecodedImage
from core.models.preprocess import PreprocessCfg, crop_for_model, to_model_tensor

__all__ = ["Saliency", "SaliencyUnsupported", "saliency_method", "saliency_map", "overlay", "deletion_drop",
           "delete_pixels"]

Method = Literal["gradcam-conv", "gradcam-vit-tokens"]

METHOD_TEXT = {
    "gradcam-conv": "Grad-CAM on the last convolutional stage",
    "gradcam-vit-tokens": "Grad-CAM on the last block's patch tokens, reshaped to the patch grid (not attention rollout)",
}

_LOCK = threading.Lock()
_CACHE_VERSION = "v1"


class SaliencyUnsupported(UserError):
    """A model whose architecture has no known Grad-CAM layer."""


@dataclass(frozen=True)
class Saliency:
    """One model's Grad-CAM map for one class of one image."""

    model: str
    target: int
    method: Method
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], the model's input resolution
    crop: Image.Image  # what the model saw (same H, W)
    cached: bool = False

    @property
    def description(self) -> str:
        return METHOD_TEXT[self.method]


def _layer_and_kind(module) -> tuple[object, Method, object]:
    """(target layer, method, the vision module whose patch size a ViT reshape needs)."""
    vision = getattr(module, "visual", module)  # open_clip models keep the image tower in .visual
    vision = getattr(vision, "trunk", vision)  # the CLIP ConvNeXt is a timm trunk
    if hasattr(vision, "blocks") and hasattr(vision, "patch_embed"):  # timm ViT (DeiT3, test_vit)
        return vision.blocks[-1].norm1, "gradcam-vit-tokens", vision
    if hasattr(vision, "transformer") and hasattr(vision.transformer, "resblocks"):  # open_clip ViT
        return vision.transformer.resblocks[-1].ln_1, "gradcam-vit-tokens", vision
    if hasattr(vision, "stages"):  # timm ConvNeXt
        return vision.stages[-1], "gradcam-conv", vision
    if hasattr(vision, "conv_head"):  # timm EfficientNet: the last convolution, before its BN and ReLU6
        # (ReLU6 saturates: after it, strongly active units have zero gradient and drop out of the weights)
        return vision.conv_head, "gradcam-conv", vision
    return None, "gradcam-conv", vision


def saliency_method(loaded) -> str:
    """What the map of `loaded` shows, in words (the page prints it under the overlays)."""
    layer, method, _ = _layer_and_kind(loaded.module)
    if layer is None:
        raise SaliencyUnsupported(f"{loaded.spec.name}: no Grad-CAM layer is known for its architecture "
                                  f"({type(loaded.module).__name__}); saliency is available for ViT, ConvNeXt and "
                                  "EfficientNet models. Its predictions are unaffected.")
    return METHOD_TEXT[method]


def _patch_size(vision) -> tuple[int, int]:
    patch = getattr(getattr(vision, "patch_embed", None), "patch_size", None) or getattr(vision, "patch_size", None)
    if patch is None:
        raise SaliencyUnsupported("This Vision Transformer does not say its patch size; cannot reshape its tokens.")
    return (patch, patch) if isinstance(patch, int) else tuple(patch)


def _token_reshape(vision, input_hw: tuple[int, int]):
    """tokens (B, N, C) or (N, B, C) → (B, C, grid_h, grid_w), prefix (class/register) tokens dropped."""
    patch_h, patch_w = _patch_size(vision)
    grid = (input_hw[0] // patch_h, input_hw[1] // patch_w)

    def reshape(tokens, batch: int = 1):
        if tokens.ndim != 3:
            raise SaliencyUnsupported(f"Expected (batch, tokens, channels) activations, got shape {tuple(tokens.shape)}.")
        if tokens.shape[0] != batch and tokens.shape[1] == batch:  # sequence-first transformer
            tokens = tokens.transpose(0, 1)
        patches = grid[0] * grid[1]
        prefix = tokens.shape[1] - patches
        if prefix < 0:
            raise SaliencyUnsupported(f"Expected at least {patches} tokens for a {grid[0]}×{grid[1]} grid, "
                                      f"got {tokens.shape[1]}.")
        spatial = tokens[:, prefix:, :].reshape(tokens.shape[0], grid[0], grid[1], tokens.shape[2])
        return spatial.permute(0, 3, 1, 2)

    return reshape


def _scores_module(loaded, head):
    """An nn.Module whose output is the 1000 class scores the model ranks by (see module docstring)."""
    import torch

    from core.run.inference import logits_for

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = loaded.module

        def forward(self, batch):
            return logits_for(loaded, batch, head)

    return Scores()


@lru_cache(maxsize=4)
def _cache_at(path: str):
    import diskcache

    return diskcache.Cache(path, size_limit=2**30)


def _cache():
    """Saliency maps (float16) under `cache/saliency`, beside the prediction cache."""
    from core.config import cache_dir

    return _cache_at(str(cache_dir() / "saliency"))


def _cache_key(image: DecodedImage, loaded, cfg: PreprocessCfg, head_key: str, target: int, method: str) -> str:
    head_id = head_key if loaded.spec.head == "zero_shot" else "supervised"
    return "|".join((_CACHE_VERSION, image.sha256, loaded.spec.name, loaded.weights_key, cfg.key(), head_id,
                     str(target), method))


def _gradcam(loaded, batch, targets: list[int], head):
    """Grad-CAM maps (B, H, W) for `targets`, one per image of `batch` (normalised model input)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer, method, vision = _layer_and_kind(loaded.module)
    if layer is None:
        saliency_method(loaded)  # raises with the message
    reshape = _token_reshape(vision, tuple(batch.shape[-2:])) if method == "gradcam-vit-tokens" else None
    model = _scores_module(loaded, head)
    parameters = list(loaded.module.parameters())
    with _LOCK:
        previous = [parameter.requires_grad for parameter in parameters]
        try:
            for parameter in parameters:
                parameter.requires_grad_(False)
            batch = batch.detach().clone().to(loaded.device).requires_grad_(True)
            with GradCAM(model=model, target_layers=[layer],
                         reshape_transform=(lambda t: reshape(t, batch.shape[0])) if reshape else None) as cam:
                maps = cam(input_tensor=batch, targets=[ClassifierOutputTarget(int(t)) for t in targets])
        finally:
            for parameter, flag in zip(parameters, previous):
                parameter.requires_grad_(flag)
    return np.asarray(maps, dtype=np.float32), method


def saliency_map(loaded, image: DecodedImage, cfg: PreprocessCfg, target: int, *, head=None, head_key: str = "",
                 use_cache: bool = True) -> Saliency:
    """Grad-CAM map of `loaded`'s model for ImageNet class `target` on `image` under `cfg`'s preprocessing.

    Raises:
        SaliencyUnsupported: the architecture has no known Grad-CAM layer.
        UserError: `target` outside 0–999.
    """
    if not 0 <= int(target) < 1000:
        raise UserError(f"Expected a target class index in 0–999, got {target}.")
    _, method, _ = _layer_and_kind(loaded.module)
    saliency_method(loaded)
    crop = crop_for_model(image.image, cfg)
    cache = _cache() if use_cache else None
    key = _cache_key(image, loaded, cfg, head_key, int(target), method)
    if cache is not None:
        stored = cache.get(key)
        if stored is not None:
            return Saliency(loaded.spec.name, int(target), method, stored.astype(np.float32), crop, cached=True)
    batch = to_model_tensor(crop, cfg).unsqueeze(0)
    maps, method = _gradcam(loaded, batch, [int(target)], head)
    heatmap = np.nan_to_num(maps[0], nan=0.0)
    if cache is not None:
        cache.set(key, heatmap.astype(np.float16))
    return Saliency(loaded.spec.name, int(target), method, heatmap, crop)


def overlay(crop: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.5) -> Image.Image:
    """The crop with the map blended on top (JET colours: red = most salient)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = np.asarray(crop.convert("RGB"), dtype=np.float32) / 255.0
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"Expected a map of the crop's size {rgb.shape[:2]}, got {heatmap.shape}.")
    return Image.fromarray(show_cam_on_image(rgb, heatmap.astype(np.float32), use_rgb=True, image_weight=1 - alpha))


def delete_pixels(batch, mask):
    """`batch` (B, 3, H, W, normalised) with the pixels where `mask` (B, H, W) is true set to 0, the
    dataset mean colour: the deletion of Petsiuk et al. (RISE, BMVC 2018, https://arxiv.org/abs/1806.07421)."""
    import torch

    mask = torch.as_tensor(mask, dtype=torch.bool, device=batch.device)
    return batch.masked_fill(mask.unsqueeze(1), 0.0)


def deletion_drop(loaded, batch, heatmaps: np.ndarray, *, fraction: float = 0.2, head=None, seed: int = 0,
                  random_draws: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Drop of each image's top-1 probability when the `fraction` most salient pixels are deleted, and
    the mean drop over `random_draws` deletions of as many random pixels (the faithfulness check).

    Args:
        batch: (B, 3, H, W) normalised model inputs.
        heatmaps: (B, H, W) saliency maps of the top-1 class of each image.
    Returns:
        (salient_drop, random_drop), each of shape (B,): p(top-1 | clean) − p(top-1 | deleted).
    """
    import torch

    from core.run.inference import logits_for

    if not 0 < fraction < 1:
        raise ValueError(f"Expected 0 < fraction < 1, got {fraction}.")
    b, _, h, w = batch.shape
    if heatmaps.shape != (b, h, w):
        raise ValueError(f"Expected heatmaps of shape {(b, h, w)}, got {heatmaps.shape}.")
    count = int(round(fraction * h * w))

    def probabilities(inputs):
        with torch.inference_mode():
            return logits_for(loaded, inputs.to(loaded.device), head).float().softmax(-1).cpu()

    clean = probabilities(batch)
    top1 = clean.argmax(-1)
    rows = torch.arange(b)
    p_clean = clean[rows, top1].numpy()
    order = np.argsort(-heatmaps.reshape(b, -1), axis=1, kind="stable")[:, :count]
    salient = np.zeros((b, h * w), dtype=bool)
    np.put_along_axis(salient, order, True, axis=1)
    p_salient = probabilities(delete_pixels(batch, salient.reshape(b, h, w)))[rows, top1].numpy()
    generator = np.random.default_rng(seed)
    p_random = np.zeros(b)
    for _ in range(random_draws):
        chosen = np.zeros((b, h * w), dtype=bool)
        for row in range(b):
            chosen[row, generator.choice(h * w, size=count, replace=False)] = True
        p_random += probabilities(delete_pixels(batch, chosen.reshape(b, h, w)))[rows, top1].numpy() / random_draws
    return p_clean - p_salient, p_clean - p_random
