"""A model resolved once per run: everything a run needs from a registry entry, looked up together.

`resolve_model(spec)` finds the weights file (`weights_status`, no network), keys its content
(`weights_key`), keys the zero-shot head, and gives the preprocessing per protocol and variant and
the display label. Evaluation, the Ray path, probes and the CLI take a `ResolvedModel` instead of
looking each of these up again (each lookup walks the caches and may hash a file).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.models.load import LoadedModel, WeightsStatus, load_model, weights_key, weights_status
from core.models.preprocess import PreprocessCfg, Protocol, apply_variant, parse_variant, resolve_preprocess
from core.models.registry import ModelSpec

__all__ = ["ResolvedModel", "resolve_model"]


@dataclass(frozen=True)
class ResolvedModel:
    """A registry entry with its weights, keys and label resolved (frozen: hashable, picklable to Ray).

    Attributes:
        spec: the registry entry.
        weights: where the weights file is, or every place that was looked at.
        weights_key: identity of the weights (name plus content) in run and cache keys.
        head_key: the zero-shot head's cache key; "" for a supervised model.
        label: the text charts show.
    """

    spec: ModelSpec
    weights: WeightsStatus
    weights_key: str
    head_key: str
    label: str

    @property
    def name(self) -> str:
        return self.spec.name

    def preprocess(self, protocol: Protocol = "paper", *, variant: str = "", raw_input: bool = False) -> PreprocessCfg:
        """The transform for `protocol` and an invariance `variant`. `raw_input`: the benchmark's paper
        protocol feeds supervised paper models the images without resizing (`BenchmarkSpec.paper_raw_input`)."""
        cfg = resolve_preprocess(self.spec, protocol)
        if raw_input and protocol == "paper" and self.spec.in_paper and self.spec.head == "supervised":
            cfg = dataclasses.replace(cfg, resize_mode="none")
        return apply_variant(cfg, self.spec, protocol, variant) if variant else cfg

    @staticmethod
    def image_size(variant: str) -> int | None:
        """The input resolution a `resolution=N` variant builds the model for; None otherwise."""
        parsed = parse_variant(variant)
        return int(parsed[1]) if parsed and parsed[0] == "resolution" else None

    def load(self, *, device: str | None = None, image_size: int | None = None,
             download: bool | None = None) -> LoadedModel:
        """The module with its weights (`load_model`, without looking the weights up again)."""
        return load_model(self.spec, device=device, image_size=image_size, download=download, status=self.weights,
                          weights=self.weights_key if self.weights.available else None)

    def load_head(self):
        """The cached zero-shot head (float32 tensor), or None when not computed yet (or supervised)."""
        if self.spec.head != "zero_shot":
            return None
        from core.imagenet import class_names
        from core.models.zero_shot import load_head, openai_templates

        return load_head(self.spec, class_names(), openai_templates(), key=self.head_key)


def resolve_model(spec: ModelSpec | str) -> ResolvedModel:
    """Resolve a registry entry (or a model name, looked up in the registry) once.

    Raises:
        UnknownModel: a name the registry does not list (with close matches).
    """
    if isinstance(spec, str):
        from core.models.registry import registry

        spec = registry()[0].get(spec)
    status = weights_status(spec)
    key = weights_key(spec, status=status)
    head = ""
    if spec.head == "zero_shot":
        from core.imagenet import class_names
        from core.models.zero_shot import head_key, openai_templates

        head = head_key(spec, class_names(), openai_templates(), weights=key)
    return ResolvedModel(spec, status, key, head, spec.display)
