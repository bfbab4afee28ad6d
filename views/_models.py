"""Models for the pages: the registry (re-read when models.toml changes), loaded models and zero-shot
heads shared by every session, example photos and display labels."""

from __future__ import annotations

import io
import threading

import streamlit as st

from core.config import models_toml_path
from core.models import ModelSpec, ModelStatus, hub_cfg, model_status, registry
from views._cache import cache

__all__ = ['import_model_stack', 'EXAMPLES', 'models', 'statuses', 'hub_models_located', 'loaded_model', 'load',
           'head_for', 'head_estimate_seconds', 'example_bytes', 'model_label']


_STACK_LOCK = threading.Lock()
_stack_ready = False


def import_model_stack() -> None:
    """Import torch, timm and open_clip once per server, under one lock, before a page uses them.

    Streamlit runs every session's script in a thread of one process, and the pages import torch lazily
    (a page that only reads the store never does). Two sessions that import torch at the same moment can
    get a partially initialised module ("partially initialized module 'torch' has no attribute 'autograd'
    (most likely due to a circular import)"): this serialises the first import; later calls return at once.
    """
    global _stack_ready
    if _stack_ready:
        return
    with _STACK_LOCK:
        if not _stack_ready:
            import open_clip  # noqa: F401
            import timm  # noqa: F401
            import torch  # noqa: F401

            _stack_ready = True


EXAMPLES = {
    "Cat (chelsea)": "chelsea",
    "Coffee cup (coffee)": "coffee",
    "Astronaut (astronaut)": "astronaut",
    "Rocket (rocket)": "rocket",
    "Cameraman, greyscale (camera)": "camera",
}


def _models_toml_stamp() -> float:
    path = models_toml_path()
    return path.stat().st_mtime if path.exists() else 0.0


_REGISTRY = cache("models.registry", 4)


def _registry(stamp: float) -> tuple[tuple[ModelSpec, ...], tuple[str, ...], dict[str, str]]:
    """(specs, problems, {name: display label}) of one version of models.toml, shared and never copied (pages
    look labels up many times per run; st.cache_data would unpickle the specs on every call)."""
    def read():
        models, problems = registry()
        return tuple(models), tuple(problems), {spec.name: spec.display for spec in models}

    return _REGISTRY.get(stamp, read)


def models() -> tuple[tuple[ModelSpec, ...], tuple[str, ...]]:
    """All model specs (built-in, then models.toml) and messages for skipped entries."""
    specs, problems, _ = _registry(_models_toml_stamp())
    return specs, problems


def statuses(*, note: bool = True) -> list[ModelStatus]:
    """Fresh each run: a download or a computed head shows up without a restart. Never waits to learn where timm
    and open_clip publish the hub models' weights (`core.models.hub_cfg`): while that is looked up in the
    background, those models are `checking`, and (`note`) the page says so and refreshes itself when it is done."""
    specs, _ = models()
    found = [model_status(spec, wait=False) for spec in specs]
    if any(status.checking for status in found):
        hub_models_located(note=note)
    return found


def hub_models_located(*, note: bool = True) -> bool:
    """True when every hub model's published locations are known; otherwise starts looking them up in the
    background, says so on the page (`note`) and reruns the page once they are known."""
    if hub_cfg.locate_in_background():
        return True
    if note:
        _hub_lookup_note()
    return False


@st.fragment(run_every=2.0)
def _hub_lookup_note() -> None:
    if hub_cfg.locate_in_background():
        st.rerun()  # the whole page: its model lists and plan can now be complete
    failure = hub_cfg.background_failure()
    if failure:
        st.warning(f"Could not look up where timm and open_clip publish the models' weights ({failure[-300:]}). "
                   "Models loaded from a file still work; `python -m core models` in a terminal shows the whole "
                   "message.", icon=":material/warning:")
    else:
        st.info("Looking up where timm and open_clip publish each hub model's weights, in the background (a process "
                "that imports them: 10–30 s on a 2-core machine, once, then kept). Until then those models are listed "
                "as being checked; this page updates itself when it is done.", icon=":material/hourglass_top:")


@st.cache_resource(show_spinner=False, max_entries=6)
def loaded_model(spec: ModelSpec, weights_stamp: str):
    """One loaded model per (spec, weights), shared by every session; never mutated."""
    from core.models.load import load_model

    return load_model(spec)


def load(spec: ModelSpec):
    """The loaded model, or raises UserError with the message to show."""
    from core.models.load import weights_key

    import_model_stack()
    return loaded_model(spec, weights_key(spec))


def head_for(spec: ModelSpec):
    """(head, key) of a zero-shot model: the head from the disk cache, or None if not computed."""
    from core.imagenet import class_names
    from core.models.zero_shot import head_key, head_path, openai_templates

    import_model_stack()
    key = head_key(spec, class_names(), openai_templates())
    if not head_path(key).exists():
        return None, key  # checked every run, so a newly computed head shows up at once
    return _head_from_disk(spec, key), key


@st.cache_data(show_spinner=False)
def head_estimate_seconds(spec: ModelSpec, weights: str) -> float:
    """Expected seconds to compute `spec`'s zero-shot head here (timed once per model and weights)."""
    from core.imagenet import class_names
    from core.models.zero_shot import estimate_head_seconds, openai_templates

    return estimate_head_seconds(loaded_model(spec, weights), class_names(), openai_templates())


@st.cache_resource(show_spinner=False, max_entries=8)
def _head_from_disk(spec: ModelSpec, key: str):
    from core.imagenet import class_names
    from core.models.zero_shot import load_head, openai_templates

    return load_head(spec, class_names(), openai_templates())


@st.cache_data(show_spinner=False)
def example_bytes(key: str) -> bytes:
    """A scikit-image bundled photo, PNG-encoded (so it goes through the same decoder as uploads)."""
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, key)()).save(buffer, format="PNG")
    return buffer.getvalue()


def model_label(model: str) -> str:
    """Display label of a model key (registry label; human observers and unknown keys readable too)."""
    if model.startswith("human_"):
        return f"Human observer {model.split('_')[1]}"
    return _registry(_models_toml_stamp())[2].get(model, model)
