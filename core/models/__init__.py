"""Model zoo: registry, loading, preprocessing and zero-shot heads.

Importing this package is cheap: torch, timm and open_clip load inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models.registry import MODELS, ModelSpec, registry

__all__ = ["MODELS", "ModelSpec", "registry", "ModelStatus", "model_status"]


@dataclass(frozen=True)
class ModelStatus:
    """What a model needs before it can run here."""

    spec: ModelSpec
    weights_present: bool
    weights_message: str
    head_cached: bool | None  # None: not a zero-shot model
    checking: bool = False  # where its library publishes the weights is still being looked up (core.models.hub_cfg)

    @property
    def live(self) -> bool:
        """Runs right now without any download or long computation."""
        return self.weights_present and self.head_cached is not False


def model_status(spec: ModelSpec, *, wait: bool = True) -> ModelStatus:
    """Whether `spec` can run here. `wait=False` (pages) never waits for a hub model's published locations
    (`core.models.hub_cfg`): while they are looked up in the background, the status says it is `checking`."""
    from core.imagenet import class_names
    from core.models import hub_cfg
    from core.models.load import weights_status
    from core.models.zero_shot import head_key, head_path, openai_templates

    if not wait and not hub_cfg.located(spec):
        return ModelStatus(spec, False, f"{spec.name}: looking up where {spec.library} publishes its weights…", None,
                           checking=True)
    status = weights_status(spec)
    head_cached = None
    if spec.head == "zero_shot":
        try:
            head_cached = head_path(head_key(spec, class_names(), openai_templates())).exists()
        except OSError:
            head_cached = False
    return ModelStatus(spec, status.available, status.message(spec), head_cached)
