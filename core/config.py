"""Where the project keeps its caches and finds its files.

Every path can be overridden with an environment variable, so tests and several checkouts never
share a cache by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "is_checkout", "home", "cache_dir", "models_toml_path", "shared_dir", "allow_downloads", "view_only", "module_ready",
           "refuse_in_view_mode", "VIEW_ONLY_ENV"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The folder holding `core/`, `views/` and `app.py`: the checkout, or site-packages for `pip install .`."""


def is_checkout() -> bool:
    """Whether this copy runs from a checkout (or an editable install of one) rather than an installed package."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def home() -> Path:
    """Where this copy keeps its caches, results and `models.toml` by default (`BAE_HOME`): the checkout itself, or
    for an installed package `$XDG_DATA_HOME/beyond-accuracy` (default `~/.local/share/beyond-accuracy`), never
    site-packages."""
    if os.environ.get("BAE_HOME"):
        return Path(os.environ["BAE_HOME"]).expanduser()
    if is_checkout():
        return PROJECT_ROOT
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "beyond-accuracy"


def cache_dir() -> Path:
    """Root of on-disk caches and the results store (`BAE_CACHE_DIR`, default `cache/` under `home()`)."""
    path = Path(os.environ.get("BAE_CACHE_DIR", home() / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_toml_path() -> Path:
    """The user's model entries (`BAE_MODELS_TOML`, default `models.toml` under `home()`)."""
    return Path(os.environ.get("BAE_MODELS_TOML", home() / "models.toml"))


def shared_dir() -> Path:
    """The development data folder beside the checkout (`BAE_SHARED_DIR`, default `../shared`)."""
    return Path(os.environ.get("BAE_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


def allow_downloads() -> bool:
    """Whether loading a model may reach a model hub when its weights are not cached.

    Off by default: the app and `evaluate` only use cached weights, so an offline machine
    answers at once instead of retrying for ~47 s. `python -m core download` turns it on.
    """
    return os.environ.get("BAE_ALLOW_DOWNLOADS", "0") == "1" and not view_only()


VIEW_ONLY_ENV = "BAE_VIEW_ONLY"


def view_only() -> bool:
    """View mode (`BAE_VIEW_ONLY=1`, what `bash scripts/dev app --view` sets): every page shows everything, and
    nothing writes to the results store or the machine (no jobs, downloads, model additions, pin edits or saved
    fits). For sharing the app with a meeting; read on every call, so a test can switch it."""
    return os.environ.get(VIEW_ONLY_ENV, "0").strip().lower() in ("1", "true", "yes", "on")


def refuse_in_view_mode(action: str) -> None:
    """Raise `ViewOnly` when view mode is on: the one guard every write path in core calls, so a write is
    refused whatever a page shows."""
    if view_only():
        from core.errors import ViewOnly

        raise ViewOnly(f"View mode is on ({VIEW_ONLY_ENV}=1): {action} is switched off on this server. Run it from "
                       "a terminal, or restart the app without --view.")


def module_ready(name: str) -> bool:
    """Whether module `name` is imported and done initialising. While another thread (another Streamlit
    session) is still importing it, it is already in `sys.modules` with `__spec__._initializing` set, and
    importing from it then fails with "partially initialized module … (most likely due to a circular
    import)": code that uses a heavy module only when it is already there must ask this, not `sys.modules`."""
    import sys

    module = sys.modules.get(name)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)
