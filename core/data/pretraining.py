"""What each published checkpoint was pretrained on, and which architecture family it belongs to.

The pretraining data is what separates a model on Taori et al.'s standard line (trained on ImageNet-1k alone)
from one whose distance to that line is the finding (extra data: ImageNet-21k, web image-text pairs, Instagram,
JFT, …): Taori, Dave, Shankar, Carlini, Recht & Schmidt, "Measuring Robustness to Natural Distribution Shifts in
Image Classification", NeurIPS 2020. It is also what makes a shortlist of candidates varied.

Two places say it:

1. **The name's tag.** timm names a checkpoint `arch.tag` (`deit3_base_patch16_224.fb_in22k_ft_in1k`), and the tag
   lists the training stages' data. `pretraining_from_tag` reads it with the rules in `TAG_RULES` (first match of
   precedence wins: image-text > other large data > ImageNet-21k/12k > ImageNet-1k), each rule a token pattern.
2. **timm's `results/model_metadata-in1k.csv`** (pinned with `python -m core download timm-results`): columns
   `model,pretrain`, one row per untagged (older) model name, with values such as `in1k`, `in1k-dist`,
   `in21k`, `in21k-selfsl`, `ig1b-wsl`, `jft300m-ns`. It is read where the tag names no data (or there is no tag).

open_clip's checkpoints (`name/pretrained`) are image-text pretrained by construction.
Anything neither says is `unknown`, never guessed. No torch: pages read this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from core.errors import UserError

__all__ = ["PRETRAINING", "ALIASES", "TAG_RULES", "METADATA_FILE", "Pretraining", "pretraining_from_tag",
           "pretraining_from_metadata", "pretraining_of", "read_metadata", "family_of", "split_name", "parse_sources",
           "IMAGENET_1K", "MetadataInvalid", "FitOn", "FIT_ON", "DEFAULT_FIT_ON", "is_test_model"]

PRETRAINING: dict[str, str] = {
    "in1k": "ImageNet-1k only",
    "in21k": "ImageNet-21k/22k (or its 12k subset), then ImageNet-1k",
    "clip": "web image-text pairs (CLIP-style: OpenAI, LAION, DataComp, DFN, WebLI, …)",
    "weak": "weakly or semi-supervised web images (Instagram, JFT-300M, YFCC-100M, SEER)",
    "other": "other extra data (merged datasets such as EVA's M38M, distillation on extra unlabelled images)",
    "unknown": "not stated by the name's tag nor timm's metadata",
}
"""The pretraining sources, coarse enough to group by (`unknown` where nothing says)."""
IMAGENET_1K = "in1k"
"""The source of Taori et al.'s standard line."""
ALIASES = {"in22k": "in21k", "in12k": "in21k", "imagenet-21k": "in21k", "imagenet-1k": "in1k", "laion": "clip",
           "openai": "clip", "image-text": "clip", "ig": "weak", "jft": "weak", "instagram": "weak"}
"""Words a user may type for a source (`--pretraining in22k,clip`)."""
METADATA_FILE = "model_metadata-in1k.csv"
FitOn = Literal["in1k", "timm", "all"]
FIT_ON: dict[str, str] = {"in1k": "ImageNet-1k-trained (Taori et al.'s standard line)",
                          "timm": "every timm checkpoint",
                          "all": "every published model (timm and open_clip)"}
"""Which published checkpoints the accuracy-on-the-line fit uses (the key is what the CLI's --fit-on and the URL
take); core.analysis.accuracy_line fits it. Here, beside the sources it selects by, so the CLI reads it without numpy."""
DEFAULT_FIT_ON: FitOn = "in1k"


class MetadataInvalid(UserError):
    """A file where timm's metadata table should be that does not have its columns."""


@dataclass(frozen=True)
class Pretraining:
    """A checkpoint's pretraining source (`PRETRAINING` key), the data named, and where that was read."""

    source: str
    data: str
    read_from: str  # "tag", "model_metadata-in1k.csv", "open_clip", or "" (unknown)


# (source, the data named, a regex over the tag's `_`-separated tokens joined by `_`): first match wins, in this order
TAG_RULES: tuple[tuple[str, str, str], ...] = (
    ("clip", "OpenAI WIT-400M (CLIP)", r"(^|_)openai(_|$)"),
    ("clip", "LAION", r"(^|_)(clip_)?laion[0-9a-z]*(_|$)"),
    ("clip", "WebLI (image-text)", r"(^|_)webli(_|$)"),
    ("clip", "DataComp / DFN / MetaCLIP (image-text)", r"(^|_)(datacomp[0-9a-z]*|dfn[0-9a-z]*|metaclip[0-9a-z]*)(_|$)"),
    ("clip", "image-text pairs (CLIP)", r"(^|_)clip(_|$)"),
    ("weak", "Instagram-1B (weakly / semi-weakly supervised)", r"(^|_)(ig1b|ig3b|swsl|wsl)(_|$)"),
    ("weak", "Instagram-3.6B (SWAG)", r"(^|_)swag(_|$)"),
    ("weak", "Instagram-1B (SEER, self-supervised)", r"(^|_)seer(_|$)"),
    ("weak", "JFT-300M (noisy student)", r"(^|_)(ns_jft|jft[0-9a-z]*)(_|$)"),
    ("weak", "YFCC-100M (semi-supervised)", r"(^|_)yfcc[0-9a-z]*(_|$)"),
    ("other", "Merged-30M/38M (EVA)", r"(^|_)(mim_)?m(30|38)m(_|$)"),
    ("other", "extra unlabelled images (PaddleClas SSLD)", r"(^|_)ssld(_|$)"),
    ("in21k", "ImageNet-21k/22k", r"(^|_)(in21k|in22k|in12k)(_|$)"),
    ("in1k", "ImageNet-1k", r"(^|_)in1k(_|$)"),
)
"""Tag rules, most extra data first: `laion2b_ft_in12k_in1k` is `clip` (its first stage), `in1k_ft_in22k_in1k`
is `in21k`. Architecture names that say CLIP (`vit_base_patch16_clip_224`) count as the tag's `clip` too."""
_COMPILED = tuple((source, data, re.compile(pattern)) for source, data, pattern in TAG_RULES)
_METADATA = {  # model_metadata-in1k.csv's values → (source, data)
    "in1k": ("in1k", "ImageNet-1k"), "in1k-adv": ("in1k", "ImageNet-1k (adversarial training)"),
    "in1k-ap": ("in1k", "ImageNet-1k (AdvProp)"), "in1k-dist": ("in1k", "ImageNet-1k (distilled)"),
    "in21k": ("in21k", "ImageNet-21k"), "in21k-selfsl": ("in21k", "ImageNet-21k (self-supervised)"),
    "ig1b-wsl": ("weak", "Instagram-1B (weakly supervised)"), "ig1b-swsl": ("weak", "Instagram-1B (semi-weakly supervised)"),
    "jft300m-ns": ("weak", "JFT-300M (noisy student)"), "yfc-semisl": ("weak", "YFCC-100M (semi-supervised)"),
}


def is_test_model(checkpoint: str) -> bool:
    """timm's `test_*` models (a few hundred thousand parameters, trained at 160 px for timm's own tests): listed in
    its result tables, but no one's candidate and no point of a population line (their near-chance accuracy would
    lever a fit on logit axes)."""
    return checkpoint.startswith("test_")


def split_name(checkpoint: str) -> tuple[str, str]:
    """timm's `arch.tag` grammar: (`arch`, `tag`), the tag "" where there is none."""
    arch, _, tag = checkpoint.partition(".")
    return arch, tag


def pretraining_from_tag(checkpoint: str) -> Pretraining | None:
    """The source a timm name's tag (or a CLIP architecture name) states; None where it names no data."""
    arch, tag = split_name(checkpoint)
    text = tag.lower()
    for source, data, pattern in _COMPILED:
        if pattern.search(text):
            return Pretraining(source, data, "tag")
    if re.search(r"(^|_)(clip|siglip[0-9]*)(_|$)", arch.lower()):
        return Pretraining("clip", "image-text pairs (CLIP)", "tag")
    return None


def pretraining_from_metadata(checkpoint: str, metadata: Mapping[str, str]) -> Pretraining | None:
    """The source timm's `model_metadata-in1k.csv` gives an untagged name; None where it lists no such name or
    gives a value outside its documented set."""
    value = metadata.get(checkpoint)
    if value is None or value not in _METADATA:
        return None
    source, data = _METADATA[value]
    return Pretraining(source, data, METADATA_FILE)


def pretraining_of(checkpoint: str, metadata: Mapping[str, str] | None = None, *, publisher: str = "timm") -> Pretraining:
    """Everything we can say of a published checkpoint's pretraining: the tag first, then timm's metadata for a name
    whose tag names no data (the metadata is keyed by older, untagged names: it cannot tell one tag from another),
    else `unknown`. open_clip checkpoints (`name/pretrained`) are image-text pretrained."""
    if publisher == "open_clip":
        return Pretraining("clip", f"image-text pairs ({checkpoint.partition('/')[2] or 'open_clip'})", "open_clip")
    found = pretraining_from_tag(checkpoint)
    if found is None and metadata:
        found = pretraining_from_metadata(checkpoint, metadata)
    return found or Pretraining("unknown", "", "")


def read_metadata(folder: Path) -> dict[str, str]:
    """`model → pretrain` from `model_metadata-in1k.csv` in `folder` ({} where absent). Raises MetadataInvalid for
    a file without the publisher's columns."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    return dict(_read_metadata(str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=2)
def _read_metadata(path: str, _stamp: int) -> tuple[tuple[str, str], ...]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"model", "pretrain"} <= set(reader.fieldnames):
            raise MetadataInvalid(f"{path} lacks the columns model,pretrain: it is not timm's metadata table. "
                                    "Delete it and run: python -m core download timm-results")
        return tuple((row["model"].strip(), row["pretrain"].strip()) for row in reader if row.get("model"))


_PREFIXES = ("tf_", "gluon_", "legacy_", "tv_", "ig_", "ssl_", "swsl_", "timm_", "hf_", "dm_", "eca_", "nf_")
_FAMILY_ALIASES = {"regnetx": "regnet", "regnety": "regnet", "regnetz": "regnet", "resnetv": "resnet",
                   "resnetrs": "resnet", "resnetblur": "resnet", "seresnet": "resnet", "seresnext": "resnext",
                   "tiny": "tinyvit", "ecaresnet": "resnet", "ecaresnetlight": "resnet", "rn": "resnet", "rn50x": "resnet",
                   "regnetv": "regnet", "resnetaa": "resnet", "seresnextaa": "resnext", "wide": "resnet"}


def family_of(checkpoint: str) -> str:
    """The architecture family of a timm or open_clip name: the architecture's first word with its size digits and
    a version suffix folded (`convnext_base.fb_in1k` → `convnext`, `resnet50d` → `resnet`, `tf_efficientnetv2_s` →
    `efficientnet`, `deit3_base_patch16_224` → `deit`, `regnety_040` → `regnet`, `cs3darknet_m` → `cs3darknet`,
    open_clip `ViT-B-16/laion2b_s34b_b88k` → `vit`, `RN50x4/openai` → `resnet`, and an open_clip model named for
    its text tower with a ViT image tower, `xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k` or `coca_ViT-B-32/…` → `vit`)."""
    model, slash, _ = checkpoint.partition("/")
    if slash and re.search(r"(^|[_-])vit[_-]", model.lower()):
        return "vit"
    arch = split_name(model)[0].lower().replace("-", "_")
    for prefix in _PREFIXES:
        if arch.startswith(prefix):
            arch = arch[len(prefix):]
            break
    word = arch.split("_")[0]
    folded = re.sub(r"[0-9]+[a-z]{0,2}$", "", word) or word  # resnet50d → resnet, deit3 → deit, resnet33ts → resnet
    if folded.endswith("v") and re.search(r"v[0-9]", word):  # a version: swinv2 → swin, mobilevitv2 → mobilevit
        folded = folded[:-1]
    return _FAMILY_ALIASES.get(folded, folded) or "unknown"


def parse_sources(text: str) -> tuple[str, ...]:
    """`in1k,in22k,clip` → ("in1k", "in21k", "clip"); raises UserError naming the accepted words."""
    out: list[str] = []
    for word in (part.strip().lower() for part in text.split(",")):
        if not word:
            continue
        source = ALIASES.get(word, word)
        if source not in PRETRAINING:
            accepted = ", ".join([*PRETRAINING, *ALIASES])
            raise UserError(f"Unknown pretraining source `{word}`: use one or more of {accepted} (comma-separated).")
        if source not in out:
            out.append(source)
    return tuple(out)
