"""The `device` decode backend: loader workers only read file bytes; JPEGs are decoded in batches on the
run's device (`torchvision.io.decode_jpeg` on a list: nvJPEG on CUDA, libjpeg-turbo on the CPU).

What the batched decoder might not take the way `core.images.decode_image` does goes to that per-image
CPU decode instead, in the worker: other formats (PNG, WebP, …), CMYK and Adobe-marked JPEGs, progressive
JPEGs (nvJPEG's hardware path is baseline only), an EXIF orientation other than upright, more pixels than
`MAX_PIXELS` and aspect ratios beyond `MAX_ASPECT` (both handled by `decode_image`). A JPEG whose header
passes but whose data does not decode (truncated, corrupt) is decoded again on its own with PIL, which
gives it the same row as the `pil` backend (its pixels, or its error). Nothing is dropped: every item
yields one image or one error.

On the CPU, libjpeg-turbo gives exactly PIL's pixels for the JPEGs that take the fast path (a test
checks it); nvJPEG differs by rounding, so runs with this backend are keyed apart (`decode_key`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal, Sequence

__all__ = ["DecodeBackend", "DECODE_BACKENDS", "Encoded", "EncodedImages", "jpeg_fallback_reason",
           "decode_payloads", "decode_key"]

DecodeBackend = Literal["pil", "device"]
DECODE_BACKENDS: tuple[str, ...] = ("pil", "device")

_SOF_BASELINE = (0xC0, 0xC1)  # baseline and extended sequential Huffman: what nvJPEG decodes on the GPU
_SOF_OTHER = (0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


@dataclass(frozen=True)
class Encoded:
    """A JPEG's bytes (1-D uint8 tensor) to be decoded in a batch on the device."""

    data: object


def decode_key(decode: str, device: str) -> str | None:
    """The run-key part of a decode backend: None for the default (keeps today's run keys), else the decoder
    that made the pixels (nvJPEG on CUDA, libjpeg-turbo through torchvision on the CPU)."""
    if decode == "pil":
        return None
    return "nvjpeg" if str(device).startswith("cuda") else "torchvision-cpu"


def jpeg_fallback_reason(data: bytes) -> str | None:
    """None when `data` is a JPEG the batched decoder takes as is, else why it goes to the per-image decode.

    Reads the markers up to the start of scan only (a few hundred bytes for a typical file).
    """
    from core.images import MAX_ASPECT, MAX_PIXELS

    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return "not a JPEG"
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        return "no end-of-image marker (truncated?)"
    position, frame, orientation = 2, None, 1
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return "malformed marker"
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA:  # start of scan: the header is over
            break
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        segment = data[position + 4:position + 2 + length]
        if marker in _SOF_BASELINE:
            if len(segment) < 6:
                return "malformed frame header"
            frame = struct.unpack(">BHHB", segment[:6])  # precision, height, width, components
        elif marker in _SOF_OTHER:
            return "progressive or other non-baseline JPEG"
        elif marker == 0xEE and segment.startswith(b"Adobe"):
            return "Adobe colour transform marker"
        elif marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])
        position += 2 + length
    if frame is None:
        return "no baseline frame header"
    precision, height, width, components = frame
    if precision != 8 or components not in (1, 3):
        return f"{components}-component or {precision}-bit JPEG"
    if orientation != 1:
        return "EXIF orientation"
    if width * height > MAX_PIXELS or max(width, height) > min(width, height) * MAX_ASPECT or min(width, height) < 1:
        return "size outside the fast path's limits"
    return None


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in an EXIF block; 1 (upright) when absent or unreadable, and 0 (send
    to the per-image decode, which reads it properly) when the block is malformed."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        offset = struct.unpack(order + "I", tiff[4:8])[0]
        count = struct.unpack(order + "H", tiff[offset:offset + 2])[0]
        for entry in range(count):
            start = offset + 2 + 12 * entry
            tag, kind = struct.unpack(order + "HH", tiff[start:start + 4])
            if tag == 0x0112:
                return struct.unpack(order + "H", tiff[start + 8:start + 10])[0] if kind == 3 else 0
    except (KeyError, struct.error):
        return 0
    return 1


class EncodedImages:
    """`device` decode backend: a worker reads each file's bytes and, for a JPEG the batched decoder takes,
    returns them as `Encoded`; any other file it decodes itself (`decode_image`, as the `pil` backend) into a
    CHW uint8 tensor, or returns its error. Items are (position, Encoded | tensor | None, error | None)."""

    def __init__(self, adapter, items) -> None:
        self.adapter, self.items = adapter, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        import torch

        item = self.items[index]
        try:
            data = self.adapter.read_bytes(item)
        except OSError as error:
            return index, None, str(error)
        if jpeg_fallback_reason(data) is None:
            return index, Encoded(torch.frombuffer(bytearray(data), dtype=torch.uint8)), None
        tensor, error = _decode_on_cpu(data, item.image_id)
        return index, tensor, error


def _decode_on_cpu(data: bytes, name: str):
    """The per-image fallback: `decode_image` (PIL, as the `pil` backend), as a CHW uint8 tensor or an error."""
    from core.errors import UserError
    from core.images import decode_image
    from core.models.tensor_preprocess import to_uint8_tensor

    try:
        return to_uint8_tensor(decode_image(data, name, max_bytes=1 << 31).image), None
    except (UserError, OSError) as error:
        return None, str(error)


def decode_payloads(batch: Sequence, items: Sequence, *, device: str) -> list:
    """A loader batch with every `Encoded` replaced by its decoded CHW uint8 tensor on `device` (one batched
    call), or, where the batch decoder refuses a file, by the per-image decode's image or error."""
    encoded = [position for position, (_, data, _) in enumerate(batch) if isinstance(data, Encoded)]
    if not encoded:
        return list(batch)
    decoded = _decode_jpegs([batch[position][1].data for position in encoded], device)
    out = list(batch)
    for position, image in zip(encoded, decoded):
        index = batch[position][0]
        if image is None:  # the batch decoder refused it: the per-image decode says what it is
            image, error = _decode_on_cpu(bytes(batch[position][1].data.numpy()), items[index].image_id)
            out[position] = (index, image, error)
        else:
            out[position] = (index, image, None)
    return out


def _decode_jpegs(datas: list, device: str) -> list:
    """decode_jpeg on the whole list; when it fails (one corrupt file fails the batch), each file alone, None for
    those that still fail. (torchvision 0.29 marks its image codecs deprecated in favour of TorchCodec; they
    still work, and TorchCodec's JPEG decoding is not in our requirements.)"""
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                            category=DeprecationWarning)  # one targeted filter (catch_warnings is not thread-safe)
    try:
        return list(decode_jpeg(datas, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        out = []
        for data in datas:
            try:
                out.append(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                out.append(None)
        return out
