"""ImageNet-C corruptions of one user image: 15 corruptions × severities 0–5, seeded.

The corruptions are those of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations" (ICLR 2019, https://arxiv.org/abs/1903.12261), as packaged
by `imagecorruptions-imaug` (import name `imagecorruptions`; the original `imagecorruptions` 1.1.2
breaks on current numpy and scikit-image). Their parameters are calibrated for ImageNet-C's
224-pixel crops, so `corrupted_versions` first resizes the image to ImageNet-C's working size
(shorter side 256, as its Resize(256)) and corrupts that: a blur of sigma 3 means the same on a
phone photo as on an ImageNet image, and a 12-megapixel upload does not take minutes.

Most corruptions draw from numpy's global generator; `glass_blur` and `impulse_noise` take a
seed of their own. `corrupt` seeds both before every call, so the same image, corruption,
severity and seed always give the same pixels (the Compare page's slider relies on this).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from core.errors import UserError
from core.images import DecodedImage

__all__ = ["CORRUPTIONS", "SEVERITIES", "MIN_SIDE", "WORKING_SIDE", "UnknownCorruption", "corrupt",
           "corrupted_versions", "corruption_label", "SeveritySweep", "severity_sweep"]

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
"""The 15 ImageNet-C test corruptions, in the benchmark's order (noise, blur, weather, digital)."""

SEVERITIES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""0 is the clean image; 1–5 are ImageNet-C's severities."""

MIN_SIDE = 32
"""The package's smallest accepted side, in pixels."""

WORKING_SIDE = 256
"""Shorter side the image is resized to before corrupting (ImageNet-C's Resize(256))."""

_SEEDED = {"glass_blur", "impulse_noise"}  # corruptions that take a `seed` argument of their own


class UnknownCorruption(UserError, KeyError):
    """A corruption name that is not one of the 15."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def corruption_label(name: str) -> str:
    """`zoom_blur` → `Zoom blur`; `jpeg_compression` → `JPEG compression`."""
    text = name.replace("_", " ")
    return "JPEG compression" if name == "jpeg_compression" else text[0].upper() + text[1:]


def _check(corruption: str, severity: int) -> None:
    if corruption not in CORRUPTIONS:
        close = difflib.get_close_matches(corruption, CORRUPTIONS, n=5, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else f" Known: {', '.join(CORRUPTIONS)}."
        raise UnknownCorruption(f"Unknown corruption {corruption!r}.{hint}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise UserError(f"Expected a severity from 0 (clean) to 5, got {severity!r}.")


def corrupt(image: np.ndarray, corruption: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """`image` (H×W×3 uint8) under one ImageNet-C corruption; same shape and dtype.

    Severity 0 returns an unchanged copy. Deterministic for a given `seed`.

    Raises:
        UnknownCorruption: `corruption` is not one of `CORRUPTIONS`.
        UserError: a severity outside 0–5, or an image smaller than 32 px on a side.
    """
    _check(corruption, severity)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"Expected an H×W×3 uint8 image, got shape {image.shape} and dtype {image.dtype}.")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise UserError(f"The image is {width}×{height} px; ImageNet-C corruptions need at least {MIN_SIDE} px "
                        "on each side. Use a larger image.")
    if severity == 0:
        return image.copy()
    from imagecorruptions import corrupt as _package_corrupt

    np.random.seed(seed)  # most corruptions draw from numpy's global generator
    options = {"seed": seed} if corruption in _SEEDED else {}
    return np.asarray(_package_corrupt(image, severity=int(severity), corruption_name=corruption, **options),
                      dtype=np.uint8)


def _working_copy(image: Image.Image) -> Image.Image:
    """The image at ImageNet-C's working size: shorter side 256 (smaller images are enlarged, as Resize(256) does)."""
    width, height = image.size
    scale = WORKING_SIDE / min(width, height)
    if abs(scale - 1) < 1e-6:
        return image.copy()
    size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
    return image.resize(size, Image.BILINEAR)


@lru_cache(maxsize=1)
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imagecorruptions-imaug")
    except PackageNotFoundError:
        return "unknown"


def corrupted_versions(image: DecodedImage, corruption: str, *, seed: int = 0,
                       severities: tuple[int, ...] = SEVERITIES, progress=None) -> list[DecodedImage]:
    """The image under `corruption` at each severity, ready for `engine.classify` (one batch per model).

    Each version is resized to ImageNet-C's working size first (severity 0 too, so the clean
    reference went through the same resize). Each gets a content key derived from the source
    image's hash, the corruption, severity, seed and package version, so predictions of corrupted
    images are cached like any upload's. `progress(done, total)` is called after each severity.
    """
    for severity in severities:
        _check(corruption, severity)
    base = _working_copy(image.image)
    pixels = np.asarray(base)
    versions = []
    for done, severity in enumerate(severities, start=1):
        array = corrupt(pixels, corruption, severity, seed=seed)
        key = "|".join(("imagenet-c", image.sha256, corruption, str(severity), str(seed), str(WORKING_SIDE),
                        _package_version()))
        name = f"{image.name} · {corruption_label(corruption)} {severity}" if severity else f"{image.name} · clean"
        versions.append(DecodedImage(Image.fromarray(array), hashlib.sha256(key.encode()).hexdigest(), name,
                                     image.original_size, image.original_mode, image.notes))
        if progress is not None:
            progress(done, len(severities))
    return versions


@dataclass(frozen=True)
class SeveritySweep:
    """One model's answers on the versions of one image under one corruption (severity 0 first)."""

    model: str
    severities: tuple[int, ...]
    clean_top1: int
    top_index: tuple[tuple[int, ...], ...]  # top-5 per severity
    top_prob: tuple[tuple[float, ...], ...]
    clean_class_prob: tuple[float, ...]  # probability of `clean_top1` per severity
    cached: bool = False


def severity_sweep(loaded, versions: list[DecodedImage], cfg, *, severities: tuple[int, ...] = SEVERITIES,
                   head=None, head_key: str = "", use_cache: bool = True) -> SeveritySweep:
    """Run `loaded`'s model once, as one batch, on every version from `corrupted_versions`: its top-5
    at each severity and its probability of the clean image's top-1 class (the robustness curve).

    Cached on disk like single-image predictions, by the versions' content keys, model, weights,
    preprocessing and head.
    """
    import torch

    from core.run.inference import logits_for
    from core.models.load import autocast
    from core.models.preprocess import crop_for_model, to_model_tensor
    from core.store import prediction_cache

    if len(versions) != len(severities) or severities[0] != 0:
        raise ValueError(f"Expected one version per severity, clean first; got {len(versions)} versions for "
                         f"severities {severities}.")
    spec = loaded.spec
    head_id = head_key if spec.head == "zero_shot" else "supervised"
    key = "|".join(("sweep-v1", *(version.sha256 for version in versions), spec.name, loaded.weights_key, cfg.key(),
                    head_id))
    cache = prediction_cache() if use_cache else None
    if cache is not None:
        stored = cache.get(key)
        if stored is not None:
            return SeveritySweep(**{**stored, "cached": True})
    batch = torch.stack([to_model_tensor(crop_for_model(version.image, cfg), cfg) for version in versions])
    with torch.inference_mode(), autocast(loaded.device):
        probabilities = logits_for(loaded, batch.to(loaded.device), head).float().softmax(dim=-1).cpu()
    top = probabilities.topk(5, dim=-1)
    clean_top1 = int(top.indices[0, 0])
    sweep = SeveritySweep(spec.name, tuple(severities), clean_top1,
                          tuple(tuple(int(i) for i in row) for row in top.indices),
                          tuple(tuple(float(v) for v in row) for row in top.values),
                          tuple(float(v) for v in probabilities[:, clean_top1]))
    if cache is not None:
        cache.set(key, {field: getattr(sweep, field) for field in
                        ("model", "severities", "clean_top1", "top_index", "top_prob", "clean_class_prob")})
    return sweep
