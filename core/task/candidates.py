"""From hundreds of published checkpoints to a shortlist for the user's task: constraints, a prior, variety.

The user states constraints (parameters, published speed on a named machine, pretraining data, library); a prior
ranks what meets them; the shortlist keeps at most a few per architecture family and per pretraining source, so it
spans supervised ImageNet-1k, ImageNet-21k/12k and image-text (CLIP) pretraining instead of the twelve largest ViTs.
A static ranking by ImageNet accuracy or size is the baseline that most transferability estimators fail to beat
(Agostinelli, Uijlings, Mensink & Ferrari, "How stable are Transferability Metrics evaluations?", ECCV 2022,
https://arxiv.org/abs/2204.01403; Kornblith, Shlens & Le, "Do Better ImageNet Models Transfer Better?", CVPR 2019,
https://arxiv.org/abs/1805.08974): the shortlist is what the user's own images are then compared on, and the card
says where they depart from the prior.

`select` is pure (rows in, shortlist out: the same input gives the same list); `shortlist` reads the published
tables (core/data/catalogue.py) and calls it. No torch, no pandas: the CLI answers in well under a second.

Variety, in order: walk the checkpoints from the best prior down; take one while its family has fewer than
`per_family` and its pretraining source fewer than `per_source` picks, and no pick yet has its architecture and
source (one checkpoint at two resolutions, `convnextv2_huge.fcmae_ft_in22k_in1k` and `…_384`, is one candidate). If that leaves the list short (the
constraints allow few sources), fill it again with the family cap only, then with no cap, and say so (`relaxed`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from core.data.catalogue import MACHINES, Published, Speed
from core.data.pretraining import PRETRAINING, Pretraining
from core.errors import UserError

__all__ = ["PRIORS", "Constraints", "Candidate", "Shortlist", "NoCandidates", "select", "shortlist", "model_key",
           "spec_for", "architecture_of", "add_candidates", "registered_checkpoints", "DEFAULT_MACHINE", "LIBRARIES"]

Prior = Literal["imagenet", "shifted", "zero_shot"]
PRIORS: dict[str, str] = {
    "imagenet": "ImageNet top-1 ([T] timm's results-imagenet.csv; [O] open_clip's zero-shot `ImageNet 1k`)",
    "shifted": "mean top-1 over ImageNet-V2, -Sketch, -R and -A ([T] timm's results-*.csv; [O] open_clip's "
               "zero-shot columns)",
    "zero_shot": "open_clip's zero-shot average over its 35 datasets ([O] `Average perf. on 35 datasets`; CLIP "
                 "models only)",
}
"""What ranks the candidates, and where its numbers come from ([T] timm, [O] open_clip: core.paper.TAGS)."""
LIBRARIES = ("timm", "open_clip")
DEFAULT_MACHINE = "rtx4090"
"""The machine whose published speed a row shows when the user names none."""
_VIT_FAMILIES = frozenset((
    "vit", "deit", "beit", "eva", "swin", "cait", "xcit", "levit", "maxvit", "maxxvit", "coat", "coatnet",
    "coatnext", "crossvit", "pit", "tnt", "twins", "pvt", "mvit", "efficientformer", "mobilevit", "hiera", "davit",
    "flexivit", "naflexvit", "gcvit", "nextvit", "tinyvit", "volo", "convit", "nest", "visformer", "efficientvit",
    "swiftformer", "shvit", "caformer", "botnet", "sebotnet", "halonet", "sehalonet", "halo2botnet", "lamhalobotnet",
    "coca", "nllb"))
"""Families with self-attention stages (transformers and hybrids): a model entry's `family = "vit"`; the rest
(convolutional, MLP-Mixer, modulation networks) is `convnet`. The entry's family only groups charts."""


@dataclass(frozen=True)
class Constraints:
    """What the user asks of a candidate, and how the shortlist is drawn.

    Attributes:
        max_params: at most this many parameters, in millions (timm's `param_count` unit: 30 is 30 M).
        min_speed: at least this many images per second in timm's published benchmark on `machine`.
        machine: a `MACHINES` key: whose speed a row shows (and `min_speed` is read on).
        pretraining: the allowed pretraining sources (`PRETRAINING` keys); () allows any.
        library: the allowed publishers (`timm`, `open_clip`); () allows both.
        prior: what ranks them (`PRIORS`).
        top: how many to propose.
        per_family, per_source: the variety caps (per_source None: a third of `top`, at least 2).
        varied: False ranks by the prior alone (the static baseline).
    """

    max_params: float | None = None
    min_speed: float | None = None
    machine: str = DEFAULT_MACHINE
    pretraining: tuple[str, ...] = ()
    library: tuple[str, ...] = ()
    prior: Prior = "imagenet"
    top: int = 12
    per_family: int = 2
    per_source: int | None = None
    varied: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.max_params is not None and not self.max_params > 0:
            problems.append(f"Expected --max-params in millions > 0 (30 means 30 M), got {self.max_params:g}.")
        if self.min_speed is not None and not self.min_speed > 0:
            problems.append(f"Expected --min-speed in images per second > 0, got {self.min_speed:g}.")
        if self.machine not in MACHINES:
            problems.append(f"Unknown machine `{self.machine}`: use one of {', '.join(MACHINES)}.")
        unknown = [source for source in self.pretraining if source not in PRETRAINING]
        if unknown:
            problems.append(f"Unknown pretraining source {unknown[0]!r}: use {', '.join(PRETRAINING)}.")
        if any(library not in LIBRARIES for library in self.library):
            problems.append(f"Expected --library among {', '.join(LIBRARIES)}, got {','.join(self.library)}.")
        if self.prior not in PRIORS:
            problems.append(f"Expected --prior among {', '.join(PRIORS)}, got {self.prior!r}.")
        if self.top < 1 or self.per_family < 1 or (self.per_source is not None and self.per_source < 1):
            problems.append(f"Expected --top and the variety caps >= 1, got top {self.top}, per family "
                            f"{self.per_family}, per source {self.per_source}.")
        if problems:
            raise UserError(" ".join(problems))

    @property
    def source_cap(self) -> int:
        return self.per_source if self.per_source is not None else max(2, math.ceil(self.top / 3))


@dataclass(frozen=True)
class Candidate:
    """One proposed checkpoint: the published row, its prior value, its speed, and the entry it would add.

    Attributes:
        published: the catalogue row.
        prior: the prior's value (a top-1 fraction).
        speed: the published speed on the chosen machine at the checkpoint's size (or the next size up, never
            faster than it runs), None where timm publishes none.
        licence: as the publisher's registry states it ("" where it states none or was not noted).
        model: the `models.toml` key it would be added as.
        present: the key of a model already registered for this very checkpoint ("" when none).
    """

    published: Published
    prior: float
    speed: Speed | None
    licence: str
    model: str
    present: str = ""

    @property
    def checkpoint(self) -> str:
        return self.published.checkpoint

    @property
    def tag(self) -> str:
        return "T" if self.published.publisher == "timm" else "O"


@dataclass(frozen=True)
class Shortlist:
    """The proposed candidates, best prior first, and how they were drawn.

    Attributes:
        candidates: the shortlist.
        constraints: what was asked.
        considered: published checkpoints with a value of the prior.
        feasible: those meeting every constraint.
        relaxed: the variety caps that had to be lifted to fill `top` ("per source", "per family").
        baseline: the `top` feasible checkpoints by the prior alone (what a static ranking would propose).
    """

    candidates: tuple[Candidate, ...]
    constraints: Constraints
    considered: int
    feasible: int
    relaxed: tuple[str, ...] = ()
    baseline: tuple[str, ...] = field(default=())

    @property
    def prior_text(self) -> str:
        return PRIORS[self.constraints.prior]

    def sources(self) -> set[str]:
        return {candidate.published.pretraining.source for candidate in self.candidates}

    def families(self) -> set[str]:
        return {candidate.published.family for candidate in self.candidates}


class NoCandidates(UserError):
    """No published checkpoint meets the constraints; the message names the one that emptied the list."""


def architecture_of(published: Published) -> str:
    """`vit` (self-attention stages) or `convnet`: the family a model entry records."""
    return "vit" if published.family in _VIT_FAMILIES else "convnet"


def model_key(checkpoint: str) -> str:
    """The snake_case `models.toml` key of a checkpoint: `convnext_base.fb_in22k_ft_in1k` →
    `convnext_base_fb_in22k_ft_in1k`; `ViT-B-16/laion2b_s34b_b88k` → `vit_b_16_laion2b_s34b_b88k`."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", checkpoint.lower())).strip("_")


def spec_for(candidate: Candidate):
    """The ModelSpec a candidate is added as (timm: its `arch.tag`; open_clip: zero-shot with its tag)."""
    from core.models.registry import ModelSpec

    published = candidate.published
    family = architecture_of(published)
    if published.publisher == "timm":
        return ModelSpec(candidate.model, "timm", published.checkpoint, family=family, label=published.checkpoint)
    arch, _, tag = published.checkpoint.partition("/")
    return ModelSpec(candidate.model, "open_clip", arch, family=family, pretrained=tag, head="zero_shot",
                     label=f"{arch} {tag} (zero-shot)")


def _prior(published: Published, prior: str) -> float | None:
    return {"imagenet": published.imagenet, "shifted": published.shifted, "zero_shot": published.zero_shot_35}[prior]


def _speed(published: Published, speeds: dict[tuple[str, int], Speed], sizes: dict[str, list[int]]) -> Speed | None:
    """The published speed at the checkpoint's own size, else at the smallest larger size benchmarked (a bound:
    it runs no slower than that); None where neither is published (open_clip models, unbenchmarked sizes).
    `sizes`: architecture → its benchmarked sizes, ascending."""
    if published.publisher != "timm":
        return None
    arch = published.architecture
    larger = [size for size in sizes.get(arch, ()) if size >= published.img_size]
    return speeds[(arch, larger[0])] if larger else None


def _checks(constraints: Constraints) -> list[tuple[str, object]]:
    """(the constraint as typed, test(row, speed) -> bool), in the order the message names them."""
    checks: list[tuple[str, object]] = []
    if constraints.library:
        checks.append((f"--library {','.join(constraints.library)}",
                       lambda row, _: row.publisher in constraints.library))
    if constraints.pretraining:
        checks.append((f"--pretraining {','.join(constraints.pretraining)}",
                       lambda row, _: row.pretraining.source in constraints.pretraining))
    if constraints.max_params is not None:
        checks.append((f"--max-params {constraints.max_params:g}",
                       lambda row, _: row.params_m is not None and row.params_m <= constraints.max_params))
    if constraints.min_speed is not None:
        checks.append((f"--min-speed {constraints.min_speed:g} --on {constraints.machine}",
                       lambda _, speed: speed is not None and speed.samples_per_sec >= constraints.min_speed))
    return checks


def select(catalogue: tuple[Published, ...], constraints: Constraints, *,
           speeds: dict[tuple[str, int], Speed] | None = None, licences: dict[str, str] | None = None,
           registered: dict[tuple[str, str, str], str] | None = None) -> Shortlist:
    """The shortlist from `catalogue` (pure: no I/O).

    Args:
        catalogue: the published rows (core.data.catalogue.read_catalogue()).
        constraints: what the user asks.
        speeds: (architecture, img_size) → Speed on `constraints.machine` (core.data.catalogue.read_speeds);
            None shows no speed (and then `min_speed` cannot be met).
        licences: timm checkpoint → licence, where noted.
        registered: (library, source, pretrained) → model key of what is already registered
            (`registered_checkpoints`).

    Raises:
        NoCandidates: nothing meets the constraints; names the constraint that emptied the list and what the
            nearest checkpoints would need.
    """
    speeds, licences, registered = speeds or {}, licences or {}, registered or {}
    rows = [row for row in catalogue if _prior(row, constraints.prior) is not None]
    if not rows:
        raise NoCandidates(f"No published checkpoint has a value of the prior `{constraints.prior}` here "
                           f"({PRIORS[constraints.prior]}). Run: python -m core download timm-results openclip-results")
    sizes: dict[str, list[int]] = {}
    for arch, size in sorted(speeds):
        sizes.setdefault(arch, []).append(size)
    speed_of = {row.checkpoint: _speed(row, speeds, sizes) for row in rows}
    checks = _checks(constraints)
    feasible = [row for row in rows if all(test(row, speed_of[row.checkpoint]) for _, test in checks)]
    if not feasible:
        raise NoCandidates(_why_empty(rows, checks, speed_of, constraints))
    ranked = sorted(feasible, key=lambda row: (-_prior(row, constraints.prior), row.checkpoint))
    picked, relaxed = _varied(ranked, constraints) if constraints.varied else (ranked[:constraints.top], ())
    candidates = tuple(_candidate(row, constraints, speed_of[row.checkpoint], licences, registered) for row in picked)
    return Shortlist(candidates, constraints, len(rows), len(feasible), relaxed,
                     tuple(row.checkpoint for row in ranked[:constraints.top]))


def _varied(ranked: list[Published], constraints: Constraints) -> tuple[list[Published], tuple[str, ...]]:
    picked: list[Published] = []
    relaxed: list[str] = []
    for stage, (family_cap, source_cap) in enumerate(((constraints.per_family, constraints.source_cap),
                                                      (constraints.per_family, None), (None, None))):
        if len(picked) >= constraints.top:
            break
        if stage:
            relaxed.append("per source" if stage == 1 else "per family")
        families: dict[str, int] = {}
        sources: dict[str, int] = {}
        for row in picked:
            families[row.family] = families.get(row.family, 0) + 1
            sources[row.pretraining.source] = sources.get(row.pretraining.source, 0) + 1
        chosen = {row.checkpoint for row in picked}
        variants = {(row.architecture, row.pretraining.source) for row in picked}
        for row in ranked:
            if len(picked) >= constraints.top:
                break
            if row.checkpoint in chosen or (family_cap is not None and (row.architecture, row.pretraining.source)
                                            in variants):
                continue
            if family_cap is not None and families.get(row.family, 0) >= family_cap:
                continue
            if source_cap is not None and sources.get(row.pretraining.source, 0) >= source_cap:
                continue
            picked.append(row)
            chosen.add(row.checkpoint)
            variants.add((row.architecture, row.pretraining.source))
            families[row.family] = families.get(row.family, 0) + 1
            sources[row.pretraining.source] = sources.get(row.pretraining.source, 0) + 1
    picked.sort(key=lambda row: (-_prior(row, constraints.prior), row.checkpoint))
    return picked, tuple(relaxed)


def _candidate(row: Published, constraints: Constraints, speed: Speed | None, licences: dict[str, str],
               registered: dict[tuple[str, str, str], str]) -> Candidate:
    arch, _, tag = row.checkpoint.partition("/")
    identity = ("timm", row.checkpoint, "") if row.publisher == "timm" else ("open_clip", arch, tag)
    return Candidate(row, float(_prior(row, constraints.prior)), speed, licences.get(row.checkpoint, ""),
                     model_key(row.checkpoint), registered.get(identity, ""))


def _why_empty(rows: list[Published], checks: list, speed_of: dict, constraints: Constraints) -> str:
    """Which constraint emptied the list (the first, in order, after which nothing is left), and what the
    checkpoints meeting all the others would need."""
    left = rows
    for index, (text, test) in enumerate(checks):
        after = [row for row in left if test(row, speed_of[row.checkpoint])]
        if not after:
            others = [row for row in rows
                      if all(other(row, speed_of[row.checkpoint]) for j, (_, other) in enumerate(checks) if j != index)]
            return f"No published checkpoint meets {text}" + (
                f" (after {', '.join(t for t, _ in checks[:index])}: {len(left):,} left)" if index else "") + \
                f". {_nearest(text, others, speed_of, constraints)}"
        left = after
    return "No published checkpoint meets the constraints."  # not reached: some check emptied the list


def _nearest(text: str, others: list[Published], speed_of: dict, constraints: Constraints) -> str:
    if not others:
        return "Nothing meets the other constraints either: loosen them one at a time."
    if text.startswith("--max-params"):
        smallest = min((row for row in others if row.params_m is not None), key=lambda row: (row.params_m, row.checkpoint))
        return (f"The smallest of the {len(others):,} meeting the others is {smallest.checkpoint} "
                f"({smallest.params_m:g} M parameters): it would need --max-params {math.ceil(smallest.params_m)}.")
    if text.startswith("--min-speed"):
        timed = [row for row in others if speed_of[row.checkpoint] is not None]
        if not timed:
            return (f"None of the {len(others):,} meeting the others has a published speed on "
                    f"{MACHINES[constraints.machine][1]} (timm benchmarks its own architectures only).")
        fastest = max(timed, key=lambda row: (speed_of[row.checkpoint].samples_per_sec, row.checkpoint))
        speed = speed_of[fastest.checkpoint]
        return (f"The fastest of the {len(others):,} meeting the others is {fastest.checkpoint} "
                f"({speed.samples_per_sec:,.1f} images/s at {speed.img_size} px): it would need --min-speed "
                f"{math.floor(speed.samples_per_sec * 10) / 10:g}.")
    field_name = "publisher" if text.startswith("--library") else "source"
    counts: dict[str, int] = {}
    for row in others:
        key = row.publisher if field_name == "publisher" else row.pretraining.source
        counts[key] = counts.get(key, 0) + 1
    listed = ", ".join(f"{key} ({count:,})" for key, count in sorted(counts.items(), key=lambda item: -item[1]))
    flag = "--library" if field_name == "publisher" else "--pretraining"
    return f"The {len(others):,} meeting the others are {listed}: choose {flag} among those."


def shortlist(constraints: Constraints) -> Shortlist:
    """The shortlist from the downloaded published tables (catalogue, the machine's speeds, licences noted, and
    the models already registered). Raises PopulationMissing naming the download when a table is absent."""
    from core.data.catalogue import read_catalogue, read_speeds
    from core.models.hub_cfg import licences
    from core.models.registry import registry

    from core.data.population import PopulationMissing

    catalogue = read_catalogue()
    try:
        speeds = read_speeds(constraints.machine)
    except PopulationMissing:
        if constraints.min_speed is not None:
            raise
        speeds = {}  # not downloaded: the speed column stays empty, nothing was asked of it
    models, _ = registry()
    return select(catalogue, constraints, speeds=speeds, licences=licences(), registered=registered_checkpoints(models))


def registered_checkpoints(models) -> dict[tuple[str, str, str], str]:
    """(library, source, pretrained) → model key, for every hub model of a registry: what a candidate is matched on."""
    return {(spec.library, spec.source, spec.pretrained or ""): spec.name for spec in models
            if spec.library in LIBRARIES}


def add_candidates(candidates: tuple[Candidate, ...] | list[Candidate]) -> tuple[list[str], list[str]]:
    """Write a `[[model]]` table to models.toml for each candidate not registered yet (the registry's own
    `append_user_model`, which refuses in view mode). Returns the keys added and one line per candidate skipped:
    its checkpoint already registered (under any key), or its key taken by another model. Nothing downloads."""
    from core.config import refuse_in_view_mode
    from core.models.registry import append_user_model, registry

    refuse_in_view_mode("adding models to models.toml")
    added, skipped = [], []
    for candidate in candidates:
        models, _ = registry()  # read again: each write changes it
        spec = spec_for(candidate)
        present = registered_checkpoints(models).get((spec.library, spec.source, spec.pretrained or ""))
        if present:
            skipped.append(f"{candidate.checkpoint}: already registered as `{present}`.")
        elif spec.name in models:
            skipped.append(f"{candidate.checkpoint}: the key `{spec.name}` is taken by another model; add it by hand "
                           "under another name.")
        else:
            append_user_model(spec)
            added.append(spec.name)
    return added, skipped
