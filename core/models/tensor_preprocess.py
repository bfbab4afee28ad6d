"""The `tensor` resize backend: each model's resize, crop and normalisation on uint8 image tensors,
on any device, so one decoded image feeds every model and the work runs on the GPU in batches.

Same geometry as `crop_for_model` (shorter side to `resize_size`, centre crop, squash, shift window,
raw pixels), with torchvision's tensor resize (antialiased) instead of PIL's: pixels differ from the
PIL path by rounding (bilinear) or by the cubic kernel's constant (PIL a = -0.5, torch a = -0.75),
so a run with this backend is keyed apart from the faithful `pil` default. `bench/resize_agreement.py`
and tests/unit/models/test_tensor_preprocess.py measure how often the top-1 class changes.
"""

from __future__ import annotations

from typing import Literal, Sequence

from core.models.preprocess import PreprocessCfg, shifted_window_box

__all__ = ["ResizeBackend", "RESIZE_BACKENDS", "to_uint8_tensor", "crop_tensor", "preprocess_batch"]

ResizeBackend = Literal["pil", "tensor"]
RESIZE_BACKENDS: tuple[str, ...] = ("pil", "tensor")


def to_uint8_tensor(image):
    """CHW uint8 tensor of an RGB PIL image (no copy of the pixels beyond numpy's)."""
    import numpy as np
    import torch

    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)


def _mode(cfg: PreprocessCfg):
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(cfg.interpolation)


def crop_tensor(image, cfg: PreprocessCfg):
    """The pixels the model sees (CHW uint8), as `crop_for_model` but on a tensor on any device."""
    import torchvision.transforms.v2.functional as F

    if cfg.resize_mode == "none":
        return image
    antialias = cfg.interpolation != "nearest"
    if cfg.resize_mode == "squash":
        return F.resize(image, [cfg.input_size, cfg.input_size], interpolation=_mode(cfg), antialias=antialias)
    height, width = image.shape[-2:]
    if cfg.shift:
        box = shifted_window_box(width, height, cfg)
        window = image[..., box[1]:box[3], box[0]:box[2]]
        return F.resize(window, [cfg.input_size, cfg.input_size], interpolation=_mode(cfg), antialias=antialias)
    resized = F.resize(image, cfg.resize_size, interpolation=_mode(cfg), antialias=antialias)
    return F.center_crop(resized, [cfg.input_size, cfg.input_size])


def preprocess_batch(images: Sequence, cfg: PreprocessCfg, *, device: str = "cpu", channels_last: bool = False):
    """Normalised float32 NCHW batch of uint8 CHW images (any sizes) under `cfg`, computed on `device`."""
    import torch

    crops = [crop_tensor(image.to(device, non_blocking=True), cfg) for image in images]
    batch = torch.stack(crops).float().div_(255)
    mean = torch.tensor(cfg.mean, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=batch.device).view(1, 3, 1, 1)
    batch = batch.sub_(mean).div_(std)
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch
