"""Download helpers for data with a public source (needs internet; nothing here runs in tests)."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

from core.config import cache_dir, refuse_in_view_mode
from core.data.cue_conflict import AUTHOR_MODELS, AUTHORS_URL, CUE_CONFLICT_URL, HUMANS_URL, CueConflict
from core.errors import UserError

__all__ = ["data_dir", "download_cue_conflict", "download_author_decisions", "download_human_decisions"]


def data_dir() -> Path:
    """Where downloads go (`BAE_DATA_DIR`, default `cache/data`)."""
    return Path(os.environ.get("BAE_DATA_DIR", cache_dir() / "data"))


def _fetch(url: str, target: Path, say: Callable[[str], None]) -> None:
    refuse_in_view_mode("downloads")
    say(f"Downloading {url} …")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:
        raise UserError(f"Could not download {url} ({error}). Check the internet connection, or download it by "
                        f"hand and pass its folder with --data.") from None


def download_cue_conflict(dest: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """The 1,280 cue-conflict images from model-vs-human's release, checked after extraction."""
    dest = dest or data_dir() / "cue-conflict"
    if not CueConflict().validate(dest):
        say(f"cue-conflict: already complete at {dest}")
        return dest
    with tempfile.TemporaryDirectory() as temporary:
        archive = Path(temporary) / "cue-conflict.tar.gz"
        _fetch(CUE_CONFLICT_URL, archive, say)
        with tarfile.open(archive) as tar:
            tar.extractall(temporary, filter="data")
        extracted = next((p for p in Path(temporary).rglob("airplane") if p.is_dir()), None)
        if extracted is None:
            raise UserError(f"The archive from {CUE_CONFLICT_URL} has no class folders; report this.")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(extracted.parent, dest)
    problems = CueConflict().validate(dest)
    if problems:
        raise UserError(f"Downloaded cue-conflict images at {dest} are incomplete: {problems[0]}")
    say(f"cue-conflict: 1,280 images at {dest}")
    return dest


def download_author_decisions(dest: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """The paper authors' released cue-conflict decisions of their four models (CSV files)."""
    dest = dest or data_dir() / "cue-conflict-paper-models"
    dest.mkdir(parents=True, exist_ok=True)
    for name in AUTHOR_MODELS:
        target = dest / f"cue-conflict_{name}_session-1.csv"
        if not target.exists():
            _fetch(AUTHORS_URL.format(name=name), target, say)
    return dest


def download_human_decisions(dest: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """The 10 human observers' cue-conflict decisions (model-vs-human raw-data, MIT licence)."""
    dest = dest or data_dir() / "cue-conflict-human"
    dest.mkdir(parents=True, exist_ok=True)
    for number in range(1, 11):
        target = dest / f"cue-conflict_subject-{number:02d}_session_1.csv"
        if not target.exists():
            _fetch(HUMANS_URL.format(number=number), target, say)
    return dest
