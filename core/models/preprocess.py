"""Preprocessing: which pixels each model sees, under the `paper` or the `library` protocol.

`resolve_preprocess(spec, protocol)` follows timm's precedence chain (explicit > protocol >
library default) and returns a frozen `PreprocessCfg`, whose `key()` is part of every cached
result: a changed transform never reuses old numbers.

Protocols:
    paper: what the paper's code fed each model (Vishniakov et al., ICML 2024; kirill-vish/Beyond-INet):
        torchvision Resize(256, bilinear) -> CenterCrop(224) -> ImageNet mean/std for the two
        supervised paper models, open_clip's own preprocess for the CLIP models.
    library: the library's pretrained config (timm `pretrained_cfg`: bicubic, crop_pct 1.0 for the
        DeiT3, 0.875 for the ConvNeXt; open_clip's preprocess).
For any model that is not one of the paper's four, paper = library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from core.models.registry import ModelSpec

__all__ = ["Protocol", "PROTOCOLS", "PreprocessCfg", "resolve_preprocess", "crop_for_model", "to_model_tensor",
           "INVARIANCE_VARIANTS", "parse_variant", "apply_variant"]

Protocol = Literal["paper", "library"]
PROTOCOLS: tuple[str, ...] = ("paper", "library")
Interpolation = Literal["bilinear", "bicubic", "nearest"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_DEFAULT_CROP_PCT = 0.875


@dataclass(frozen=True)
class PreprocessCfg:
    """Resize, crop and normalisation of one model's input.

    `resize_mode="shortest"` resizes the shorter side to `resize_size` and centre-crops
    `input_size`; `"squash"` resizes both sides to `input_size` (aspect ratio not kept); `"none"`
    feeds the pixels as they are (the paper's code did so for the 224×224 cue-conflict images).
    `shift` moves the crop window by that many original-image pixels along the longer side.
    """

    input_size: int = 224
    resize_size: int = 256
    interpolation: Interpolation = "bilinear"
    resize_mode: Literal["shortest", "squash", "none"] = "shortest"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    shift: int = 0

    def __post_init__(self) -> None:
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"Expected `interpolation` in bilinear|bicubic|nearest, got {self.interpolation!r}.")
        if self.resize_mode not in ("shortest", "squash", "none"):
            raise ValueError(f"Expected `resize_mode` in shortest|squash|none, got {self.resize_mode!r}.")
        if self.input_size < 1 or self.resize_size < 1:
            raise ValueError(f"Expected positive sizes, got input {self.input_size} and resize {self.resize_size}.")

    def key(self) -> str:
        """Short stable hash of every field: part of cached results' keys."""
        payload = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe(self) -> str:
        if self.resize_mode == "none":
            return "pixels as they are (no resize or crop)"
        if self.shift:
            return (f"window of resize {self.resize_size} → crop {self.input_size}, shifted {self.shift} px, "
                    f"resized to {self.input_size} ({self.interpolation})")
        if self.resize_mode == "squash":
            return f"resize to {self.input_size}×{self.input_size} ({self.interpolation})"
        return f"resize {self.resize_size} ({self.interpolation}) → centre crop {self.input_size}"


def resolve_preprocess(spec: ModelSpec, protocol: Protocol = "paper", **explicit) -> PreprocessCfg:
    """The preprocessing `spec` gets under `protocol`; keyword arguments override any field."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"Expected `protocol` in {PROTOCOLS}, got {protocol!r}.")
    if protocol == "paper" and spec.in_paper and spec.head == "supervised":
        # Beyond-INet's evaluation code: transforms.Resize(256) (bilinear) + CenterCrop(224).
        cfg = PreprocessCfg(224, 256, "bilinear", "shortest", IMAGENET_MEAN, IMAGENET_STD)
    elif spec.library == "open_clip":
        cfg = _open_clip_cfg(spec)
    else:
        cfg = _timm_cfg(spec.source if spec.library == "timm" else spec.arch)
    return dataclasses.replace(cfg, **explicit) if explicit else cfg


def _timm_cfg(name: str) -> PreprocessCfg:
    import timm.models

    pretrained = timm.models.get_pretrained_cfg(name)
    values = pretrained.to_dict() if pretrained is not None else {}
    input_size = int(values.get("input_size", (3, 224, 224))[-1])
    crop_pct = float(values.get("crop_pct") or _DEFAULT_CROP_PCT)
    crop_mode = values.get("crop_mode") or "center"
    interpolation = values.get("interpolation") or "bicubic"
    return PreprocessCfg(
        input_size=input_size,
        # timm's eval transform: scale_size = floor(img_size / crop_pct)
        resize_size=math.floor(input_size / crop_pct),
        interpolation=interpolation,
        resize_mode="squash" if crop_mode == "squash" else "shortest",
        mean=tuple(values.get("mean") or IMAGENET_MEAN),
        std=tuple(values.get("std") or IMAGENET_STD),
    )


def _open_clip_cfg(spec: ModelSpec) -> PreprocessCfg:
    import open_clip

    from core.models.load import open_clip_arch

    arch = open_clip_arch(spec)
    model_cfg = open_clip.get_model_config(arch) or {}
    size = model_cfg.get("vision_cfg", {}).get("image_size", 224)
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    tag_cfg = open_clip.get_pretrained_cfg(arch, spec.pretrained or "") or {}
    mean = tuple(tag_cfg.get("mean") or OPENAI_CLIP_MEAN)
    std = tuple(tag_cfg.get("std") or OPENAI_CLIP_STD)
    resize_mode = tag_cfg.get("resize_mode") or "shortest"
    if resize_mode not in ("shortest", "squash"):
        raise ValueError(f"open_clip resize_mode {resize_mode!r} of {spec.name} is not supported yet.")
    # open_clip's eval transform: Resize(image_size) then CenterCrop(image_size) (crop_pct 1.0).
    return PreprocessCfg(size, size, tag_cfg.get("interpolation") or "bicubic", resize_mode, mean, std)


_PIL_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                "nearest": Image.Resampling.NEAREST}


def crop_for_model(image: Image.Image, cfg: PreprocessCfg) -> Image.Image:
    """The exact RGB pixels the model sees (before normalisation), as a PIL image.

    Uses torchvision's Resize/CenterCrop on PIL images, the ops timm's and open_clip's eval
    transforms use, so the result matches theirs pixel for pixel.
    """
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    mode = InterpolationMode(cfg.interpolation)
    if cfg.resize_mode == "none":
        return image
    if cfg.resize_mode == "squash":
        return Resize((cfg.input_size, cfg.input_size), interpolation=mode)(image)
    if cfg.shift:
        return _shifted_window(image, cfg, mode)
    resized = Resize(cfg.resize_size, interpolation=mode)(image)
    return CenterCrop(cfg.input_size)(resized)


def _shifted_window(image: Image.Image, cfg: PreprocessCfg, mode) -> Image.Image:
    """The window Resize(resize_size) + CenterCrop(input_size) keeps, in original pixels, moved by
    `cfg.shift` pixels along the longer side (clamped inside the image), resized to input_size²."""
    from torchvision.transforms.functional import resize

    window = image.crop(shifted_window_box(*image.size, cfg))
    return resize(window, [cfg.input_size, cfg.input_size], interpolation=mode)


def shifted_window_box(width: int, height: int, cfg: PreprocessCfg) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the shifted window of `_shifted_window` in an image of that size:
    one rule for the PIL and the tensor backends."""
    side = cfg.input_size * min(width, height) / cfg.resize_size
    left, top = (width - side) / 2, (height - side) / 2
    if width >= height:
        left = min(max(left + cfg.shift, 0), width - side)
    else:
        top = min(max(top + cfg.shift, 0), height - side)
    return round(left), round(top), round(left + side), round(top + side)


INVARIANCE_VARIANTS: dict[str, tuple[float, ...]] = {
    "scale": (1, 1.25, 1.5, 2, 3),
    "shift": (0, 5, 30, 75, 100),
    "resolution": (112, 224, 336, 512, 640),
}
"""The paper's settings (Vishniakov et al., ICML 2024, Sec. 3.7 / Fig. 8)."""


def parse_variant(variant: str) -> tuple[str, float] | None:
    """`"scale=1.5"` → ("scale", 1.5); `""` → None."""
    if not variant:
        return None
    kind, _, value = variant.partition("=")
    if kind not in INVARIANCE_VARIANTS or not value:
        raise ValueError(f"Expected a variant like scale=1.5, shift=30 or resolution=336, got {variant!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"Expected a number after `{kind}=`, got {value!r}.") from None
    if number <= 0 and kind != "shift":
        raise ValueError(f"Expected a positive {kind}, got {number}.")
    return kind, number


def apply_variant(cfg: PreprocessCfg, spec: ModelSpec, protocol: Protocol, variant: str) -> PreprocessCfg:
    """The invariance transform replacing the model's resize and crop, as the paper's code did.

    Under the paper protocol the paper's models are resized bilinearly (CLIP models too) from a
    base of 256 (supervised) or 224 (CLIP); other models and the library protocol keep their own
    interpolation and crop_pct. scale s: shorter side to s × base, centre crop; shift d: see
    `_shifted_window`; resolution r: shorter side to base/224 × r, centre crop r.
    """
    parsed = parse_variant(variant)
    if parsed is None:
        return cfg
    kind, value = parsed
    interpolation = "bilinear" if protocol == "paper" and spec.in_paper else cfg.interpolation
    base = replace_fields(cfg, interpolation=interpolation, resize_mode="shortest")
    if kind == "scale":
        return replace_fields(base, resize_size=round(value * cfg.resize_size))
    if kind == "shift":
        return replace_fields(base, shift=int(value))
    size = int(value)
    return replace_fields(base, input_size=size, resize_size=round(cfg.resize_size / cfg.input_size * size))


def replace_fields(cfg: PreprocessCfg, **changes) -> PreprocessCfg:
    return dataclasses.replace(cfg, **changes)


def to_model_tensor(crop: Image.Image, cfg: PreprocessCfg):
    """Normalised CHW float tensor of a crop from `crop_for_model`."""
    from torchvision.transforms.functional import normalize, to_tensor

    return normalize(to_tensor(crop), mean=list(cfg.mean), std=list(cfg.std))
