"""Shared fixtures: an isolated cache and model list, tiny models of the real families, photos.

Environment variables are set at import time, before timm, open_clip or huggingface_hub are
imported, so no test can reach a hub or read a developer's real caches.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="bae-tests-"))
os.environ.update({
    "BAE_CACHE_DIR": str(_ROOT / "cache"),
    "BAE_MODELS_TOML": str(_ROOT / "models.toml"),
    "HF_HOME": str(_ROOT / "hf"),
    "TORCH_HOME": str(_ROOT / "torch"),
    "BAE_OPEN_CLIP_CACHE": str(_ROOT / "clip"),
    "HF_HUB_OFFLINE": "1",
    "BAE_ALLOW_DOWNLOADS": "0",
})

import numpy as np  # noqa: E402

from core.config import shared_dir  # noqa: E402

SHARED_DATA = shared_dir() / "data"
"""Development data (`BAE_SHARED_DIR`, default ../shared): read in place, never copied; reach it through
`shared_data`, which skips a test where it is missing."""
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

SHARED_SKIP = "needs the development data"
"""How every skip for missing development data begins: the CI guard below looks for it."""
_DOWNLOADS = {"cue-conflict": "cue-conflict", "cue-conflict-paper-models": "paper-decisions",
              "cue-conflict-human": "human-decisions"}
"""The development data's folders and the `download` that fetches each from its publisher, laid out the same
(`download cue-conflict` fetches the two decision sets too)."""


def shared_data(name: str) -> Path:
    """The development data folder `name` (under `BAE_SHARED_DIR`/data), or skip the calling test with one line
    saying what is missing and how to get it. Call it in the test or its fixture, never at import."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{SHARED_SKIP} {path}: set BAE_SHARED_DIR to the folder holding data/, or fetch it there: "
                    f"BAE_DATA_DIR=<folder>/data python -m core download {_DOWNLOADS[name]}")
    return path


TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

_SHARED_SKIPS: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped and SHARED_SKIP in str(report.longrepr):
        _SHARED_SKIPS.append(report.nodeid)


def _ci_needs_shared() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1") and bool(_SHARED_SKIPS)


def pytest_sessionfinish(session, exitstatus) -> None:
    """In CI (`CI=true`), which has the development data, a test skipped for want of it fails the run: those
    tests must never go quietly missing there."""
    if _ci_needs_shared():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _ci_needs_shared():
        terminalreporter.write_line(f"CI=true: {len(_SHARED_SKIPS)} test(s) skipped for missing development data "
                                    f"({SHARED_DATA}); CI must run them. First: {_SHARED_SKIPS[0]}", red=True)


@pytest.fixture(scope="session")
def test_root() -> Path:
    return _ROOT


@pytest.fixture(scope="session")
def tiny_files(test_root: Path) -> dict[str, Path]:
    """Random-weight checkpoints of tiny timm (ViT, ConvNeXt) and open_clip models, on disk."""
    import open_clip
    import timm
    import torch

    folder = test_root / "tiny"
    folder.mkdir(exist_ok=True)
    torch.manual_seed(0)
    files = {}
    for arch in ("test_vit", "test_convnext"):
        files[arch] = folder / f"{arch}.pth"
        torch.save(timm.create_model(arch, pretrained=False, num_classes=1000).state_dict(), files[arch])
    files["clip_config"] = folder / "tiny_clip.json"
    files["clip_config"].write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(files["clip_config"])
    files["clip_weights"] = folder / "tiny_clip.pt"
    torch.save(open_clip.create_model("tiny_clip", pretrained=None).state_dict(), files["clip_weights"])
    return files


@pytest.fixture(scope="session")
def tiny_specs(tiny_files):
    """The tiny models as registry entries, exactly as a user would write them in models.toml."""
    from core.models.registry import ModelSpec

    return {
        "tiny_vit": ModelSpec("tiny_vit", "checkpoint", str(tiny_files["test_vit"]), family="vit",
                              arch="test_vit", label="Tiny ViT (random)"),
        "tiny_convnext": ModelSpec("tiny_convnext", "checkpoint", str(tiny_files["test_convnext"]),
                                   family="convnet", arch="test_convnext", label="Tiny ConvNeXt (random)"),
        "tiny_clip": ModelSpec("tiny_clip", "open_clip", str(tiny_files["clip_config"]), family="vit",
                               pretrained=str(tiny_files["clip_weights"]), head="zero_shot",
                               label="Tiny CLIP (random)"),
    }


@pytest.fixture(scope="session")
def tiny_models_toml(tiny_specs, test_root):
    """models.toml listing the tiny models, at the path the registry reads (BAE_MODELS_TOML)."""
    from core.models.registry import append_user_model

    path = Path(os.environ["BAE_MODELS_TOML"])
    if not path.exists():
        for spec in tiny_specs.values():
            append_user_model(spec, path)
    return path


@pytest.fixture(scope="session")
def tiny_clip_head(tiny_specs):
    """The tiny CLIP model's zero-shot head over the 1000 classes × 80 templates, cached."""
    from core.imagenet import class_names
    from core.models.load import load_model
    from core.models.zero_shot import build_head, openai_templates

    loaded = load_model(tiny_specs["tiny_clip"], device="cpu")
    return build_head(loaded, class_names(), openai_templates())


def photo(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def chelsea_jpeg() -> bytes:
    return encoded(photo("chelsea"), "JPEG", quality=95)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
