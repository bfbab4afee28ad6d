"""Zero-shot ImageNet heads for CLIP models: one text embedding per class, cached on disk.

A head is the mean of the normalised text embeddings of a class name in every template
(Radford et al., ICML 2021, Sec. 3.1.4, https://arxiv.org/abs/2103.00020), renormalised;
logits = 100 × cosine similarity. The 80 OpenAI ImageNet templates over 1000 classes are
80,000 prompts: about an hour per model on a 2-core CPU through `encode_text`, which always
runs all 77 token positions. The text tower is causal, so positions after a prompt's end-of-text
token never influence it: running each batch only up to its longest prompt (positional
embedding and causal mask sliced to that length), with prompts sorted by length, gives the same
embeddings to float precision in a fraction of the time. That relies on open_clip internals of
the pinned version; `tests/unit/models/test_zero_shot.py` checks it against `encode_text`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from core.config import cache_dir
from core.models.load import autocast, weights_key
from core.models.registry import ModelSpec

__all__ = ["Progress", "openai_templates", "head_key", "head_path", "load_head", "build_head",
           "encode_text_truncated", "estimate_head_seconds"]

Progress = Callable[[int, int, str], None]
"""progress(done, total, message)"""

_BATCH = 256


def openai_templates() -> tuple:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(OPENAI_IMAGENET_TEMPLATES)


def _render(templates: Sequence) -> list[str]:
    """Template format strings: open_clip's templates are functions, hashed by `t("{}")`."""
    return [t("{}") if callable(t) else str(t) for t in templates]


def head_key(spec: ModelSpec, class_names: Sequence[str], templates: Sequence, *, weights: str | None = None) -> str:
    """The head's cache key: model, weights identity (`weights`, when the caller has it), class names and
    template format strings."""
    payload = "\n".join([spec.source, weights or weights_key(spec), "classes:", *class_names, "templates:", *_render(templates)])
    return f"{spec.name}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def head_path(key: str) -> Path:
    return cache_dir() / "zero_shot" / f"{key}.pt"


def load_head(spec: ModelSpec, class_names: Sequence[str], templates: Sequence, *, key: str | None = None):
    """The cached head (float32 tensor, embed_dim × classes), or None if not computed yet. `key`: its
    `head_key`, when the caller has it."""
    import torch

    path = head_path(key or head_key(spec, class_names, templates))
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any damaged file (unpickling, truncation) is recomputed, never trusted
        return None


def _prompts(class_names: Sequence[str], templates: Sequence) -> list[str]:
    return [(t(name) if callable(t) else str(t).format(name)) for name in class_names for t in templates]


def _text_tower(model):
    """The module holding the standard CLIP text tower attributes, or None (fallback path)."""
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
    if all(hasattr(model, a) for a in needed) and getattr(model, "text_pool_type", None) in ("argmax", "eos"):
        return model
    return None


def encode_text_truncated(model, tokens):
    """`model.encode_text(tokens)` computed only up to the batch's longest prompt.

    Exact for causal text towers whose pooling reads the end-of-text position (`argmax`, `eos`);
    any other tower falls back to `encode_text`.
    """
    import torch
    from open_clip.transformer import text_global_pool

    tower = _text_tower(model)
    if tower is None:
        return model.encode_text(tokens)
    lengths = (tokens != 0).sum(dim=1)
    length = int(lengths.max())
    tokens = tokens[:, :length]
    cast_dtype = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast_dtype)
    x = x + tower.positional_embedding[:length].to(cast_dtype)
    mask = tower.attn_mask[:length, :length] if tower.attn_mask is not None else None
    x = tower.transformer(x, attn_mask=mask)
    x = tower.ln_final(x)
    x = text_global_pool(x, tokens, tower.text_pool_type, eos_token_id=getattr(tower, "text_eos_id", None))
    if tower.text_projection is not None:
        x = tower.text_projection(x) if isinstance(tower.text_projection, torch.nn.Linear) else x @ tower.text_projection
    return x


def _tokenize(arch: str, prompts: list[str]):
    import open_clip

    tokenizer = open_clip.get_tokenizer(arch)
    return tokenizer(prompts)


def build_head(loaded, class_names: Sequence[str], templates: Sequence, *, progress: Progress | None = None,
               batch_size: int = _BATCH, save: bool = True):
    """Compute (and by default cache) the zero-shot head of a loaded open_clip model.

    Returns a float32 tensor of shape (embed_dim, len(class_names)) on the CPU.
    """
    import torch
    import torch.nn.functional as F

    from core.models.load import open_clip_arch

    spec = loaded.spec
    model = loaded.module
    device = loaded.device
    prompts = _prompts(class_names, templates)
    tokens = _tokenize(open_clip_arch(spec), prompts)
    order = torch.argsort((tokens != 0).sum(dim=1), stable=True)
    embeddings = None
    started = time.perf_counter()
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(prompts), batch_size):
            index = order[start:start + batch_size]
            batch = tokens[index].to(device)
            features = F.normalize(encode_text_truncated(model, batch).float(), dim=-1).cpu()
            if embeddings is None:
                embeddings = torch.empty(len(prompts), features.shape[-1], dtype=torch.float32)
            embeddings[index] = features
            if progress:
                done = min(start + batch_size, len(prompts))
                rate = done / max(time.perf_counter() - started, 1e-9)
                progress(done, len(prompts), f"{done:,}/{len(prompts):,} prompts · {rate:,.0f}/s · "
                                             f"about {(len(prompts) - done) / rate:,.0f} s left")
    per_class = embeddings.view(len(class_names), len(templates), -1).mean(dim=1)
    head = F.normalize(per_class, dim=-1).T.contiguous()
    if save:
        _save_atomic(head, head_path(head_key(spec, class_names, templates)))
    return head


def _save_atomic(tensor, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(tensor, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def estimate_head_seconds(loaded, class_names: Sequence[str], templates: Sequence, *, sample: int = 128) -> float:
    """Seconds `build_head` will take here, extrapolated from timing `sample` real prompts.

    Cost grows with prompt length, so the sample is spread evenly over all prompts and run in
    length-sorted chunks, the way `build_head` runs its batches.
    """
    import torch

    from core.models.load import open_clip_arch

    prompts = _prompts(class_names, templates)
    step = max(1, len(prompts) // sample)
    chosen = prompts[::step][:sample]
    tokens = _tokenize(open_clip_arch(loaded.spec), chosen)
    tokens = tokens[torch.argsort((tokens != 0).sum(dim=1), stable=True)].to(loaded.device)
    with torch.inference_mode(), autocast(loaded.device):
        encode_text_truncated(loaded.module, tokens[:8])  # warm-up
        started = time.perf_counter()
        # length-sorted chunks, each truncated to its own longest prompt, as build_head batches
        for start in range(0, len(tokens), 16):
            encode_text_truncated(loaded.module, tokens[start:start + 16])
        elapsed = time.perf_counter() - started
    return elapsed * len(prompts) / len(chosen)
