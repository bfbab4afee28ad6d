"""core.run.decode: workers read bytes, JPEGs are decoded in batches (`torchvision.io.decode_jpeg`, here on the
CPU), the rest per image with PIL. Reference: the `pil` backend's per-image decode (`core.images.decode_image`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.images import decode_image
from core.models.tensor_preprocess import to_uint8_tensor
from core.run.decode import Encoded, EncodedImages, decode_key, decode_payloads, jpeg_fallback_reason
from tests.conftest import encoded, photo
from tests.fixtures import hostile


class _Bytes:
    """An adapter whose items are in-memory files (what `read_bytes` returns), or OSError for `None`."""

    def read_bytes(self, item):
        if item.data is None:
            raise OSError(f"{item.image_id}: permission denied")
        return item.data


class _Item:
    def __init__(self, image_id: str, data: bytes | None) -> None:
        self.image_id, self.data = image_id, data


def _corrupt_scan() -> bytes:
    """A baseline header (passes the fast-path check) over random scan data: only the batch decoder can tell."""
    data = encoded(photo("chelsea"), "JPEG", quality=90)
    noise = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    return data[:700] + noise + b"\xff\xd9"


BASELINE = {
    "chelsea_q85.jpg": lambda: encoded(photo("chelsea"), "JPEG", quality=85),
    "astronaut_444.jpg": lambda: encoded(photo("astronaut"), "JPEG", quality=95, subsampling=0),
    "coffee_q60.jpg": lambda: encoded(photo("coffee"), "JPEG", quality=60),
    "grey.jpg": lambda: encoded(photo("camera"), "JPEG", quality=90),
    "odd_size.jpg": lambda: encoded(photo("rocket").crop((0, 0, 301, 177)), "JPEG", quality=80),
}
FALLBACK = {  # file -> (bytes, whether it decodes)
    "cmyk.jpg": (hostile.cmyk_jpeg, True),
    "progressive.jpg": (lambda: encoded(photo("chelsea"), "JPEG", progressive=True), True),
    "exif_rotated.jpg": (lambda: hostile.exif_rotated_jpeg()[0], True),
    "photo.png": (lambda: encoded(photo("coffee"), "PNG"), True),
    "photo16.png": (hostile.png16, True),
    "photo.webp": (hostile.webp, True),
    "truncated.jpg": (hostile.truncated_jpeg, False),
    "not_an_image.jpg": (lambda: b"<html>a login page, not a picture</html>", False),
    "empty.jpg": (lambda: b"", False),
}


def _reference(data: bytes, name: str):
    """The `pil` backend's outcome for one file: (CHW uint8 tensor, None) or (None, message)."""
    try:
        return to_uint8_tensor(decode_image(data, name, max_bytes=1 << 31).image), None
    except Exception as error:  # noqa: BLE001 - the reference's own outcome, whatever it is
        return None, str(error)


def _device_path(files: dict[str, bytes]):
    items = [_Item(name, data) for name, data in files.items()]
    dataset = EncodedImages(_Bytes(), items)
    batch = [dataset[i] for i in range(len(items))]
    return batch, {items[index].image_id: (image, error) for index, image, error in
                   decode_payloads(batch, items, device="cpu")}


def test_baseline_jpegs_take_the_batched_decoder_and_give_pils_pixels():
    files = {name: make() for name, make in BASELINE.items()}
    batch, decoded = _device_path(files)
    assert all(isinstance(data, Encoded) for _, data, _ in batch)  # all decoded by the one batched call
    for name, data in files.items():
        expected, _ = _reference(data, name)
        image, error = decoded[name]
        assert error is None and image.dtype == torch.uint8 and image.shape == expected.shape, name
        assert torch.equal(image, expected), name  # libjpeg-turbo both ways: the same pixels


@pytest.mark.parametrize("name", list(FALLBACK))
def test_files_the_batch_decoder_does_not_take_get_the_pil_backends_outcome(name):
    make, decodes = FALLBACK[name]
    data = make()
    files = {"chelsea_q85.jpg": BASELINE["chelsea_q85.jpg"](), name: data}  # beside a good file: it must survive
    batch, decoded = _device_path(files)
    assert not isinstance(batch[1][1], Encoded)  # decided in the worker, from the header
    assert len(decoded) == 2 and decoded["chelsea_q85.jpg"][1] is None
    expected_image, expected_error = _reference(data, name)
    image, error = decoded[name]
    if decodes:
        assert error is None and torch.equal(image, expected_image)
    else:
        assert image is None and error == expected_error and name in error


@pytest.mark.parametrize("data", [_corrupt_scan(), encoded(photo("chelsea"), "JPEG")[:9000] + b"\xff\xd9"],
                         ids=["corrupt scan", "cut short, end marker added"])
def test_a_jpeg_that_fails_in_the_batch_gets_the_pil_backends_outcome_and_spares_the_rest(data):
    good = BASELINE["astronaut_444.jpg"]()
    batch, decoded = _device_path({"good.jpg": good, "bad.jpg": data, "good2.jpg": good})
    assert all(isinstance(payload, Encoded) for _, payload, _ in batch)  # the header looked fine
    expected_image, expected_error = _reference(data, "bad.jpg")
    image, error = decoded["bad.jpg"]
    assert error == expected_error
    assert (image is None) == (expected_image is None)
    if image is not None:
        assert torch.equal(image, expected_image)
    assert torch.equal(decoded["good.jpg"][0], _reference(good, "good.jpg")[0])
    assert torch.equal(decoded["good2.jpg"][0], decoded["good.jpg"][0])


def test_an_unreadable_file_is_an_error_row_not_a_crash():
    batch, decoded = _device_path({"gone.jpg": None})
    assert decoded["gone.jpg"] == (None, "gone.jpg: permission denied")


@pytest.mark.parametrize("data, reason", [
    (b"", "not a JPEG"),
    (b"\x89PNG\r\n\x1a\n", "not a JPEG"),
    (b"\xff\xd8\xff\xd9", "no baseline frame header"),
    (lambda: hostile.truncated_jpeg(), "no end-of-image marker (truncated?)"),
    (lambda: hostile.cmyk_jpeg(), "Adobe colour transform marker"),
    (lambda: encoded(photo("chelsea"), "JPEG", progressive=True), "progressive or other non-baseline JPEG"),
    (lambda: hostile.exif_rotated_jpeg()[0], "EXIF orientation"),
    (lambda: encoded(photo("chelsea").resize((800, 40)), "JPEG"), "size outside the fast path's limits"),
    (lambda: encoded(photo("chelsea"), "JPEG", exif=_upright_exif()), None),
])
def test_fast_path_reasons(data, reason):
    assert jpeg_fallback_reason(data() if callable(data) else data) == reason


def _upright_exif() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 1
    return exif.tobytes()


def test_decode_backend_key():
    assert decode_key("pil", "cuda") is None and decode_key("pil", "cpu") is None  # today's run keys
    assert decode_key("device", "cuda:0") == "nvjpeg" and decode_key("device", "cpu") == "torchvision-cpu"
