"""core.images: every hostile file gets a clear message or correct handling."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ImageRejected
from core.images import MAX_ASPECT, decode_image
from tests.fixtures import hostile


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 10, "not an image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not an image"),
        (hostile.truncated_jpeg(), "truncated or corrupt"),
        (hostile.bomb_png(), "decompression bomb"),
        (hostile.bomb_png(9_000), "decompression bomb"),
    ],
    ids=["zero-byte", "text", "pdf", "truncated", "bomb-over-pil-limit", "bomb-over-our-limit"],
)
def test_bad_files_are_rejected_with_a_message(data, expected):
    with pytest.raises(ImageRejected, match=expected) as caught:
        decode_image(data, "upload.bin")
    assert "upload.bin" in str(caught.value)


def test_size_cap_is_checked_by_the_decoder():
    with pytest.raises(ImageRejected, match="limit is 1 MB"):
        decode_image(b"\xff" * (2 * 2**20), "big.jpg", max_bytes=2**20)


def test_cmyk_becomes_rgb():
    decoded = decode_image(hostile.cmyk_jpeg(), "cmyk.jpg")
    assert decoded.image.mode == "RGB" and decoded.original_mode == "CMYK"
    # the gradient's red channel rises left to right; a CMYK inversion bug would make it fall
    row = np.asarray(decoded.image)[24, :, 0].astype(int)
    assert row[-1] - row[0] > 150


def test_16_bit_png_is_scaled_not_clipped():
    decoded = decode_image(hostile.png16(), "deep.png")
    pixels = np.asarray(decoded.image)[..., 0]
    assert pixels.min() < 10 and pixels.max() > 245
    assert 100 < pixels.mean() < 155  # a clipped image would be almost all 255


def test_palette_with_transparency_is_composited_on_white():
    decoded = decode_image(hostile.palette_alpha_png(), "logo.png")
    pixels = np.asarray(decoded.image)
    assert tuple(pixels[0, 0]) == (255, 255, 255)  # transparent corner
    assert tuple(pixels[16, 16]) == (255, 0, 0)  # opaque red square


def test_one_pixel_image_is_used_with_a_note():
    decoded = decode_image(hostile.one_pixel_png(), "dot.png")
    assert decoded.image.size == (1, 1)
    assert any("very small" in note for note in decoded.notes)


def test_extreme_aspect_keeps_the_centre():
    decoded = decode_image(hostile.extreme_aspect_png(), "strip.png")
    width, height = decoded.image.size
    assert height == 2 and width == int(2 * MAX_ASPECT)
    assert any("elongated" in note for note in decoded.notes)


def test_exif_orientation_is_respected():
    data, upright = hostile.exif_rotated_jpeg()
    decoded = decode_image(data, "phone.jpg")
    assert decoded.image.size == upright


@pytest.mark.parametrize("maker", [hostile.animated_gif, hostile.webp, hostile.bmp], ids=["gif", "webp", "bmp"])
def test_other_formats_decode(maker):
    decoded = decode_image(maker(), "file")
    assert decoded.image.mode == "RGB"


def test_gif_uses_the_first_frame():
    decoded = decode_image(hostile.animated_gif(), "anim.gif")
    assert tuple(np.asarray(decoded.image)[0, 0]) == (255, 0, 0)
    assert any("first frame" in note for note in decoded.notes)


def test_hash_is_of_the_bytes():
    import hashlib

    data = hostile.webp()
    assert decode_image(data).sha256 == hashlib.sha256(data).hexdigest()
