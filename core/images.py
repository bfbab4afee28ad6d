"""Decoding user images safely: every bad file becomes an `ImageRejected` with a clear message.

Handles what users upload in practice: EXIF-rotated phone photos, CMYK JPEGs, 16-bit PNGs,
palette images with transparency, animated GIF/WebP (first frame), 1×1 pixels and extreme
aspect ratios; rejects empty, truncated, non-image and decompression-bomb files.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ImageRejected

__all__ = ["DecodedImage", "decode_image", "MAX_UPLOAD_MB", "MAX_PIXELS", "MAX_ASPECT", "SUPPORTED_TYPES"]

MAX_UPLOAD_MB = 25
"""Also `server.maxUploadSize` in .streamlit/config.toml; the app checks it again itself."""
MAX_PIXELS = 64_000_000
"""Above this many pixels a file is treated as a decompression bomb (PIL's default is 89 M)."""
MAX_ASPECT = 16.0
"""Longer/shorter side beyond which only the central part is kept (see `decode_image`)."""
SUPPORTED_TYPES = ("jpg", "jpeg", "png", "webp", "bmp", "gif")


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image ready for any model, its content hash and what was done to it."""

    image: Image.Image = field(compare=False)
    sha256: str
    name: str
    original_size: tuple[int, int]
    original_mode: str
    notes: tuple[str, ...] = ()


def decode_image(data: bytes, name: str = "image", *, max_bytes: int = MAX_UPLOAD_MB * 1024 * 1024) -> DecodedImage:
    """Decode `data` into an 8-bit RGB PIL image.

    Raises:
        ImageRejected: empty, too large, not an image, truncated, or a decompression bomb.
    """
    if not data:
        raise ImageRejected(f"{name} is empty (0 bytes). Choose another file.")
    if len(data) > max_bytes:
        raise ImageRejected(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. "
                            "Resize it or choose a smaller file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageRejected(f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels, over the "
                                    f"{MAX_PIXELS / 1e6:.0f} MP limit (a possible decompression bomb). Downscale it first.")
            image.seek(0)  # GIF / animated WebP: first frame
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"{name} declares more pixels than can be decoded safely (a possible decompression "
                            f"bomb: {error}). Downscale it first.") from None
    except UnidentifiedImageError:
        raise ImageRejected(f"{name} is not an image this app can read. Use JPEG, PNG, WebP, BMP or GIF.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(f"{name} could not be decoded: it looks truncated or corrupt ({error}). "
                            "Export it again or choose another file.") from None
    notes: list[str] = []
    original_mode = image.mode
    original_size = image.size
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"animated image with {image.n_frames} frames: the first frame is used")
    try:
        rotated = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, OSError, SyntaxError):
        rotated = image  # malformed EXIF: keep pixels as stored
    if rotated is not image and rotated.size != image.size:
        notes.append("rotated upright following its EXIF orientation")
    rgb = _to_rgb(rotated, notes)
    rgb = _limit_aspect(rgb, notes)
    if min(rgb.size) < 16:
        notes.append(f"very small image ({rgb.size[0]}×{rgb.size[1]} px): it is upscaled, so predictions mean little")
    return DecodedImage(rgb, hashlib.sha256(data).hexdigest(), name, original_size, original_mode, tuple(notes))


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit greyscale: PIL's convert("RGB") clips at 255 (a white image); scale instead.
        array = np.asarray(image, dtype=np.float64)
        high = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        if mode == "F":
            low, high = float(np.nanmin(array)), float(np.nanmax(array))
            array = (array - low) / ((high - low) or 1.0) * 255.0
        else:
            array = array / high * 255.0
        notes.append(f"{mode} image scaled to 8 bits")
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        notes.append("transparent areas shown on white")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return image.convert("RGB")


def _limit_aspect(image: Image.Image, notes: list[str]) -> Image.Image:
    """Keep the central part of very elongated images.

    Every model resizes the short side and centre-crops a square, so it only ever sees the
    central square; resizing a 1×100,000 strip first would allocate gigabytes for nothing.
    """
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if long <= short * MAX_ASPECT:
        return image
    keep = max(1, int(short * MAX_ASPECT))
    offset = (long - keep) // 2
    box = (offset, 0, offset + keep, height) if width > height else (0, offset, width, offset + keep)
    notes.append(f"very elongated ({width}×{height}): only its central {MAX_ASPECT:.0f}:1 part is used "
                 "(the models crop the centre anyway)")
    return image.crop(box)
