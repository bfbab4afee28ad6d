"""The paper's claims and the verdict rules that decide them from evidence frames.

A claim is a few directional parts, each "a is higher (lower) than b" between two of the paper's four
models, two pairs of them, or a model's two numbers. Each part is decided on the interval of the
difference a − b it states (`core.metrics.paired`), estimated the way the data were collected: a
bootstrap over images, paired (the same resampled images for every model) wherever both sides were
measured on the same images (`core.analysis.differences` computes these from the store); unpaired
from the two estimates' intervals where no per-image difference exists (linear probes, or frames
handed in without one), and the part says so.

- *reproduced*: the difference's 95% interval lies on the expected side of 0;
- *contradicted*: it lies on the other side and the part's bootstrap p-value stays below 0.05 after
  Holm's correction over the claim's parts;
- *inconclusive*: otherwise (this sample cannot tell);
- *not measured*: a side is missing.

A claim is reproduced only when every part is (an intersection-union test: no correction needed),
contradicted when any part is (`combine`: contradicted > not measured > inconclusive > reproduced).
`core.metrics.COMBINATION_RULE` states the rule for the cards, reports and docs.

Everything here is pure (tidy frames in, results out): `core.analysis.evidence` reads the store and
feeds these rules; `core.analysis.findings` turns their results into tables and charts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.metrics.paired import Difference, combine_verdicts, decide, difference_from_intervals, holm_adjust

__all__ = ["PAPER_MODELS", "SUPERVISED", "CLIP", "Estimate", "Part", "ClaimResult", "CLAIMS", "Claim", "compare",
           "combine", "pair_estimate", "estimates_from", "claim_mistakes", "claim_texture", "claim_calibration",
           "claim_robustness", "claim_shape_bias", "claim_pug", "claim_transfer", "claim_invariance", "VERDICTS",
           "TRANSFER_MARGIN", "robustness_sets"]

Verdict = Literal["reproduced", "contradicted", "inconclusive", "not measured"]
VERDICTS: tuple[str, ...] = ("reproduced", "contradicted", "inconclusive", "not measured")

PAPER_MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")
SUPERVISED = ("vit_sup", "convnext_sup")
CLIP = ("vit_clip", "convnext_clip")
_ALL = ",".join(PAPER_MODELS)


@dataclass(frozen=True)
class Estimate:
    """One number with its 95% interval (`source`: ours, authors, or a mix for a pair)."""

    label: str
    value: float
    ci_low: float
    ci_high: float
    n: int = 0
    source: str = "ours"

    def __post_init__(self) -> None:
        if not (self.ci_low <= self.value <= self.ci_high) and not any(map(math.isnan, (self.value, self.ci_low,
                                                                                           self.ci_high))):
            raise ValueError(f"Expected ci_low <= value <= ci_high for {self.label}, got {self.ci_low}, {self.value}, "
                             f"{self.ci_high}.")

    def shifted(self, offset: float, label: str) -> "Estimate":
        return Estimate(label, self.value + offset, self.ci_low + offset, self.ci_high + offset, self.n, self.source)


@dataclass(frozen=True)
class Part:
    """One comparison of a claim: `a` expected `expect` (higher/lower) than `b`, decided on `difference`
    (a − b with its interval; None when a side is missing), `adjusted_p` its Holm-adjusted p-value
    within the claim, `sides` the names of a and b where they are not the estimates' labels."""

    text: str
    verdict: str
    a: Estimate | None
    b: Estimate | None
    expect: str
    missing: tuple[str, ...] = ()
    difference: Difference | None = None
    adjusted_p: float = float("nan")
    sides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Claim:
    key: str
    number: int
    title: str
    sentence: str
    benchmark: str
    command: str
    analysis_page: str


@dataclass
class ClaimResult:
    """A claim with its verdict, parts, the numbers per model and what fed them."""

    claim: Claim
    verdict: str
    parts: list[Part]
    numbers: object  # DataFrame: model, value, ci_low, ci_high, n, source (+ claim-specific columns)
    measure: str
    note: str = ""
    missing_models: tuple[str, ...] = ()
    runs: object = None  # DataFrame of the runs that fed the card (run_id, model, source, …)
    chart_table: object = None
    extra: dict = field(default_factory=dict)

    @property
    def command(self) -> str:
        if not self.missing_models or set(self.missing_models) == set(PAPER_MODELS):
            return self.claim.command
        return self.claim.command.replace(_ALL, ",".join(self.missing_models))


CLAIMS: tuple[Claim, ...] = (
    Claim("mistakes", 1, "CLIP models make fewer mistakes relative to their accuracy",
          "CLIP models have a lower mean ImageNet-X error ratio than the supervised pair: relative to their "
          "ImageNet accuracy, they make fewer mistakes on unusual images.", "imagenet-val",
          f"python -m core evaluate --models {_ALL} --benchmark imagenet-val --data PATH", "mistakes"),
    Claim("texture", 2, "All models find texture hardest",
          "For every model, texture has the highest ImageNet-X error ratio, or one of the three highest.",
          "imagenet-val", f"python -m core evaluate --models {_ALL} --benchmark imagenet-val --data PATH",
          "mistakes"),
    Claim("calibration", 3, "Supervised models are better calibrated; CLIP models are over-confident",
          "On ImageNet val the supervised models have a lower expected calibration error than the CLIP models, "
          "and the CLIP models' mean confidence exceeds their accuracy.", "imagenet-val",
          f"python -m core evaluate --models {_ALL} --benchmark imagenet-val --data PATH", "calibration"),
    Claim("robustness", 4, "Supervised models are more robust",
          "The supervised pair has a higher top-1 averaged over the ImageNet robustness benchmarks (the shifted "
          "sets) than the CLIP pair.", "imagenet-v2",
          f"python -m core evaluate --models {_ALL} --benchmark imagenet-v2 --data PATH  (and imagenet-a, -r, "
          "-sketch, -hard, -c; ReaL comes from imagenet-val)", "robustness"),
    Claim("shape_bias", 5, "ConvNeXt is more texture-biased than ViT; CLIP more shape-biased than supervised",
          "ConvNeXt has a lower shape bias than ViT in both paradigms, and the CLIP models have a higher shape "
          "bias than the supervised ones.", "cue-conflict",
          f"python -m core download cue-conflict  (the authors' decisions), or python -m core evaluate --models "
          f"{_ALL} --benchmark cue-conflict", "shape-texture"),
    Claim("pug", 6, "On synthetic data, ConvNeXt beats ViT",
          "On PUG-ImageNet (photorealistic renders), ConvNeXt has a higher top-1 than ViT in both paradigms.",
          "pug-imagenet", f"python -m core evaluate --models {_ALL} --benchmark pug-imagenet --data PATH", "pug"),
    Claim("transfer", 7, "Supervised ConvNeXt transfers nearly as well as CLIP",
          "With linear probes on frozen features, supervised ConvNeXt beats supervised ViT and comes within "
          "2 points of the CLIP pair's mean accuracy.", "probe",
          f"python -m core probe --models {_ALL} --data PATH", "transfer"),
    Claim("invariance", 8, "Supervised ConvNeXt is more invariant than supervised ViT; the order flips for CLIP",
          "Under scale, shift and resolution changes, supervised ConvNeXt keeps a higher accuracy than supervised "
          "ViT, while CLIP ViT keeps a higher accuracy than CLIP ConvNeXt.", "imagenet-val",
          f"python -m core evaluate --models {_ALL} --benchmark imagenet-val --data PATH --limit 5000 "
          "--variant scale=1.5  (each scale, shift and resolution setting)", "invariance"),
)
TRANSFER_MARGIN = 0.02
"""'Nearly as well' in claim 7: within 2 points of top-1."""


# --- verdict rules ---------------------------------------------------------------------------------

def compare(a: Estimate | None, b: Estimate | None, *, expect: Literal["higher", "lower"]) -> str:
    """Verdict on "`a` is `expect` than `b`" from whether two separate 95% intervals are apart.

    The rule before issue 18, kept for contrast: it is far stricter than a 95% test of the difference
    (Schenker & Gentleman 2001) and ignores pairing, so the findings decide with `decide` on the
    difference instead. Touching intervals count as overlapping. A missing estimate gives 'not measured'.

    >>> compare(Estimate("a", .6, .55, .65), Estimate("b", .4, .35, .45), expect="higher")
    'reproduced'
    >>> compare(Estimate("a", .6, .55, .65), Estimate("b", .4, .35, .45), expect="lower")
    'contradicted'
    >>> compare(Estimate("a", .6, .40, .65), Estimate("b", .4, .35, .45), expect="higher")
    'inconclusive'
    """
    if expect not in ("higher", "lower"):
        raise ValueError(f"Expected `expect` to be 'higher' or 'lower', got {expect!r}.")
    if a is None or b is None or any(math.isnan(v) for e in (a, b) for v in (e.value, e.ci_low, e.ci_high)):
        return "not measured"
    if a.ci_low > b.ci_high:
        above = True
    elif b.ci_low > a.ci_high:
        above = False
    else:
        return "inconclusive"
    return "reproduced" if above == (expect == "higher") else "contradicted"


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its parts': contradicted > not measured > inconclusive > reproduced.

    >>> combine(["reproduced", "inconclusive"])
    'inconclusive'
    >>> combine([])
    'not measured'
    """
    return combine_verdicts(verdicts)


def pair_estimate(estimates: list[Estimate | None], label: str) -> Estimate | None:
    """Mean of several estimates, for display; interval = mean of the interval ends (wider than the pair
    mean's own). None if any is missing. Verdicts use the pair difference, never these ends."""
    if not estimates or any(e is None for e in estimates):
        return None
    sources = sorted({e.source for e in estimates})
    return Estimate(label, float(np.mean([e.value for e in estimates])), float(np.mean([e.ci_low for e in estimates])),
                    float(np.mean([e.ci_high for e in estimates])), int(sum(e.n for e in estimates)),
                    "+".join(sources))


def estimates_from(numbers, value: str = "value") -> dict[str, Estimate]:
    """{model: Estimate} from a tidy frame with model, `value`, ci_low, ci_high (optional n, source)."""
    found = {}
    if numbers is None or len(numbers) == 0:
        return found
    for row in numbers.to_dict("records"):
        if any(row.get(c) is None or (isinstance(row.get(c), float) and math.isnan(row[c]))
               for c in (value, "ci_low", "ci_high")):
            continue
        found[row["model"]] = Estimate(row["model"], float(row[value]), float(row["ci_low"]), float(row["ci_high"]),
                                       int(row.get("n", 0) or 0), str(row.get("source", "ours") or "ours"))
    return found


def _members(estimate: Estimate | None, members: tuple[Estimate | None, ...] = ()) -> list[Estimate] | None:
    """The estimates a side averages: a pair's members, else the estimate itself; None if one is missing."""
    chosen = list(members) if members else [estimate]
    return None if any(e is None for e in chosen) else chosen


def _part(text: str, a: Estimate | None, b: Estimate | None, expect: str, needs: tuple[str, ...], have: dict,
          diff: Difference | None = None, *, a_members: tuple = (), b_members: tuple = (),
          sides: tuple[str, ...] = ()) -> Part:
    """A part decided later (`_result`) on `diff`; without one (no per-image data), on the unpaired
    difference of the two sides' estimates (`difference_from_intervals`, a pair as its members' mean)."""
    missing = tuple(model for model in needs if model not in have)
    if diff is None and a is not None and b is not None and not missing:
        left, right = _members(a, a_members), _members(b, b_members)
        if left and right:
            diff = difference_from_intervals([(e.value, e.ci_low, e.ci_high) for e in left],
                                             [(e.value, e.ci_low, e.ci_high) for e in right],
                                             n=min(e.n for e in (*left, *right)))
    if missing:
        diff = None
    return Part(text, "not measured", a, b, expect, missing, diff, float("nan"), sides)


def _paradigm_parts(found: dict[str, Estimate], expect_convnext: str, what: str,
                    differences: dict | None = None) -> list[Part]:
    """ConvNeXt vs ViT within each paradigm (difference ConvNeXt − ViT)."""
    differences = differences or {}
    return [_part(f"{paradigm}: ConvNeXt {'above' if expect == 'higher' else 'below'} ViT in {what}",
                  found.get(convnext), found.get(vit), expect, (convnext, vit), found,
                  differences.get(f"{convnext}-{vit}"))
            for paradigm, convnext, vit, expect in (("supervised", "convnext_sup", "vit_sup", expect_convnext[0]),
                                                   ("CLIP", "convnext_clip", "vit_clip", expect_convnext[1]))]


def _pairs(found: dict[str, Estimate]) -> tuple[Estimate | None, Estimate | None]:
    return (pair_estimate([found.get(m) for m in SUPERVISED], "supervised pair"),
            pair_estimate([found.get(m) for m in CLIP], "CLIP pair"))


def _pair_part(text: str, first: str, found: dict, expect: str, diff: Difference | None) -> Part:
    """The CLIP pair against the supervised pair (or the reverse, `first`), on the difference of the means."""
    supervised, clip = _pairs(found)
    sup_members, clip_members = tuple(found.get(m) for m in SUPERVISED), tuple(found.get(m) for m in CLIP)
    if first == "clip":
        return _part(text, clip, supervised, expect, PAPER_MODELS, found, diff, a_members=clip_members,
                     b_members=sup_members)
    return _part(text, supervised, clip, expect, PAPER_MODELS, found, diff, a_members=sup_members,
                 b_members=clip_members)


def _result(key: str, parts: list[Part], numbers, measure: str, note: str = "", **extra) -> ClaimResult:
    """The claim's result: every part decided by `core.metrics.decide` (Holm within the claim)."""
    from dataclasses import replace

    claim = next(c for c in CLAIMS if c.key == key)
    verdicts, verdict = decide([(part.difference, part.expect) for part in parts])
    adjusted = holm_adjust([p.difference.p_value if p.difference is not None else float("nan") for p in parts]) \
        if parts else []
    parts = [replace(part, verdict=v, adjusted_p=float(q)) for part, v, q in zip(parts, verdicts, adjusted)]
    missing = tuple(dict.fromkeys(model for part in parts for model in part.missing))
    return ClaimResult(claim, verdict, parts, numbers, measure, note, missing, **extra)


def _empty_numbers():
    import pandas as pd

    return pd.DataFrame(columns=["model", "value", "ci_low", "ci_high", "n", "source"])


# --- one function per claim: tidy frames in, ClaimResult out -----------------------------------------

def claim_mistakes(ratios, differences: dict | None = None) -> ClaimResult:
    """Claim 1 from `ratios` (model, factor, error_ratio, ci_low, ci_high, n, source), whose factor 'mean'
    rows hold the mean error ratio over the 16 factors; `differences["clip-supervised"]`: the CLIP pair's
    mean minus the supervised pair's, paired over the annotated val images."""
    numbers = _numbers(ratios[ratios["factor"] == "mean"], "error_ratio") if ratios is not None and len(ratios) \
        else _empty_numbers()
    found = estimates_from(numbers)
    part = _pair_part("CLIP pair's mean error ratio below the supervised pair's", "clip", found, "lower",
                      (differences or {}).get("clip-supervised"))
    return _result("mistakes", [part], numbers, "mean ImageNet-X error ratio over the 16 factors (1 = average)",
                   chart_table=ratios)


def claim_texture(ratios, differences: dict | None = None, *, top: int = 3) -> ClaimResult:
    """Claim 2: per model, texture among the `top` highest error ratios, i.e. texture's error ratio above
    the `top`-th highest of the other factors. `differences[model]` is that margin with its interval,
    recomputed in each bootstrap replicate (paired: the same images for every factor); without it, the
    unpaired difference of texture's estimate and that factor's."""
    import pandas as pd

    differences = differences or {}
    parts, records = [], []
    for model in PAPER_MODELS:
        frame = ratios[(ratios["model"] == model) & (ratios["factor"] != "mean")] if ratios is not None and len(ratios) \
            else pd.DataFrame()
        frame = frame.dropna(subset=["error_ratio"]) if len(frame) else frame
        texture = frame[frame["factor"] == "texture"] if len(frame) else frame
        if texture.empty or len(frame) < 2:
            parts.append(Part(f"{model}: texture among its {top} highest error ratios", "not measured", None, None,
                              "higher", (model,)))
            continue
        t = texture.iloc[0]
        others = frame[frame["factor"] != "texture"].sort_values("error_ratio", ascending=False, kind="stable")
        rival = others.iloc[min(top, len(others)) - 1]  # fewer factors than `top` (a test frame): the lowest
        rank = int((others["error_ratio"] > t["error_ratio"]).sum()) + 1
        estimate = Estimate(model, float(t["error_ratio"]), float(t["ci_low"]), float(t["ci_high"]), int(t.get("n", 0)),
                            str(t.get("source", "ours")))
        ordinal = {1: "highest", 2: "2nd-highest", 3: "3rd-highest"}.get(top, f"{top}th-highest")
        rival_estimate = Estimate(f"{ordinal} other factor ({rival['factor']})", float(rival["error_ratio"]),
                                  float(rival["ci_low"]), float(rival["ci_high"]), int(rival.get("n", 0)))
        parts.append(_part(f"{model}: texture ranks {rank} of {len(frame)} factors; its error ratio above the "
                           f"{ordinal} of the others", estimate, rival_estimate, "higher", (model,), {model: True},
                           differences.get(model), sides=("texture", f"{ordinal} other factor")))
        records.append({"model": model, "value": float(t["error_ratio"]), "ci_low": float(t["ci_low"]),
                        "ci_high": float(t["ci_high"]), "n": int(t.get("n", 0)), "source": t.get("source", "ours"),
                        "rank": rank})
    numbers = pd.DataFrame(records) if records else _empty_numbers()
    return _result("texture", parts, numbers, "texture's error ratio and its rank among the 16 factors",
                   chart_table=ratios)


def claim_calibration(ece, gap, differences: dict | None = None) -> ClaimResult:
    """Claim 3 from `ece` (model, value=ECE, ci_low, ci_high, n) and `gap` (model, value = mean confidence −
    accuracy, ci_low, ci_high): supervised pair's ECE below CLIP's (`differences["supervised-clip"]`);
    each CLIP model's mean confidence above its accuracy (`differences["gap:<model>"]`, paired over its
    images)."""
    differences = differences or {}
    found = estimates_from(ece)
    gaps = estimates_from(gap)
    parts = [_pair_part("supervised pair's ECE below the CLIP pair's", "supervised", found, "lower",
                        differences.get("supervised-clip"))]
    zero = Estimate("0", 0.0, 0.0, 0.0)
    for model in CLIP:
        parts.append(_part(f"{model}: mean confidence above accuracy (over-confident)", gaps.get(model),
                           zero if model in gaps else None, "higher", (model,), gaps, differences.get(f"gap:{model}"),
                           sides=("mean confidence", "accuracy")))
    numbers = ece.copy() if ece is not None and len(ece) else _empty_numbers()
    if len(numbers) and gap is not None and len(gap):
        numbers = numbers.merge(gap[["model", "value"]].rename(columns={"value": "confidence − accuracy"}),
                                on="model", how="left")
    return _result("calibration", parts, numbers, "expected calibration error on ImageNet val (15 bins)",
                   chart_table=ece)


def robustness_sets(table, shifted: tuple[str, ...]) -> list[str]:
    """The shifted sets that all four models have in the robustness table: what claim 4 averages."""
    if table is None or len(table) == 0:
        return []
    table = table[table["benchmark"].isin(shifted)]
    return [b for b in shifted if set(table.loc[table["benchmark"] == b, "model"]) >= set(PAPER_MODELS)]


def claim_robustness(table, shifted: tuple[str, ...], differences: dict | None = None) -> ClaimResult:
    """Claim 4 from the robustness table (model, benchmark, accuracy, ci_low, ci_high, n): the average over
    the shifted sets that all four models have (`robustness_sets`); `differences["supervised-clip"]`: the
    pair difference of those averages, each set resampling its own images."""
    import pandas as pd

    note = ""
    numbers = _empty_numbers()
    present = robustness_sets(table, shifted)
    if table is not None and len(table):
        table = table[table["benchmark"].isin(shifted)]
        if present:
            used = table[table["benchmark"].isin(present) & table["model"].isin(PAPER_MODELS)]
            numbers = used.groupby("model", sort=False).agg(value=("accuracy", "mean"), ci_low=("ci_low", "mean"),
                                                             ci_high=("ci_high", "mean"), n=("n", "sum")).reset_index()
            numbers["source"] = "ours"
            lacking = [b for b in shifted if b not in present]
            note = f"Average over {', '.join(present)}" + (f"; not yet measured for all four models: "
                                                            f"{', '.join(lacking)}" if lacking else "") + "."
        else:
            numbers = pd.DataFrame(columns=["model", "value", "ci_low", "ci_high", "n", "source"])
    found = estimates_from(numbers)
    parts = [_pair_part("supervised pair's shifted-set average above the CLIP pair's", "supervised", found, "higher",
                        (differences or {}).get("supervised-clip"))]
    return _result("robustness", parts, numbers, "top-1 averaged over the shifted sets", note, chart_table=table,
                   extra={"shifted": tuple(shifted)})


def claim_shape_bias(table, differences: dict | None = None) -> ClaimResult:
    """Claim 5 from shape bias per model (model, value, ci_low, ci_high, n, source); `differences`: ConvNeXt
    − ViT per paradigm and the CLIP pair − the supervised pair, paired over the cue-conflict images."""
    found = estimates_from(table)
    parts = _paradigm_parts(found, ("lower", "lower"), "shape bias", differences)
    parts.append(_pair_part("CLIP pair's shape bias above the supervised pair's", "clip", found, "higher",
                            (differences or {}).get("clip-supervised")))
    return _result("shape_bias", parts, table if table is not None and len(table) else _empty_numbers(),
                   "shape bias on the 1,280 cue-conflict images (share of shape decisions)", chart_table=table)


def claim_pug(table, differences: dict | None = None) -> ClaimResult:
    """Claim 6 from PUG-ImageNet top-1 per model over all factors (model, value, ci_low, ci_high, n);
    `differences`: ConvNeXt − ViT per paradigm, paired over the renders."""
    from core.data.pug import PUG_SCORING

    found = estimates_from(table)
    return _result("pug", _paradigm_parts(found, ("higher", "higher"), "PUG-ImageNet top-1", differences),
                   table if table is not None and len(table) else _empty_numbers(), "top-1 on PUG-ImageNet (all factors)",
                   note=PUG_SCORING)


def claim_transfer(table, *, margin: float = TRANSFER_MARGIN) -> ClaimResult:
    """Claim 7 from linear-probe accuracy per model, averaged over the datasets all four were probed on.
    'Nearly as well': supervised ConvNeXt + `margin` above the CLIP pair's mean. The store keeps each
    probe's accuracy and interval, not its per-image results, so both parts are unpaired differences of
    the estimates (`difference_from_intervals`)."""
    found = estimates_from(table)
    _, clip = _pairs(found)
    convnext = found.get("convnext_sup")
    shifted = convnext.shifted(margin, f"convnext_sup + {margin:.0%}") if convnext else None
    parts = [_part("supervised ConvNeXt above supervised ViT", convnext, found.get("vit_sup"), "higher",
                   ("convnext_sup", "vit_sup"), found),
             _part(f"supervised ConvNeXt within {margin:.0%} of the CLIP pair (ConvNeXt + {margin:.0%} above CLIP)",
                   shifted, clip, "higher", ("convnext_sup", *CLIP), found,
                   b_members=tuple(found.get(m) for m in CLIP))]
    return _result("transfer", parts, table if table is not None and len(table) else _empty_numbers(),
                   "linear-probe test top-1 (mean over the datasets probed for all four)")


def claim_invariance(table, differences: dict | None = None) -> ClaimResult:
    """Claim 8 from mean top-1 per model and transform kind (model, kind, value, ci_low, ci_high, n);
    `differences["<kind>:<a>-<b>"]`: a − b of the mean over the kind's settings, paired over the images
    both variant runs share (each setting resampled on its own)."""
    import pandas as pd

    differences = differences or {}
    parts = []
    for kind in ("scale", "shift", "resolution"):
        frame = table[table["kind"] == kind] if table is not None and len(table) else pd.DataFrame()
        found = estimates_from(frame) if len(frame) else {}
        parts += [_part(f"{kind}: supervised ConvNeXt above supervised ViT", found.get("convnext_sup"),
                        found.get("vit_sup"), "higher", SUPERVISED, found,
                        differences.get(f"{kind}:convnext_sup-vit_sup")),
                  _part(f"{kind}: CLIP ViT above CLIP ConvNeXt", found.get("vit_clip"), found.get("convnext_clip"),
                        "higher", CLIP, found, differences.get(f"{kind}:vit_clip-convnext_clip"))]
    numbers = table if table is not None and len(table) else _empty_numbers()
    return _result("invariance", parts, numbers, "mean top-1 over each transform's settings", chart_table=table)


def _numbers(frame, value: str):
    keep = [c for c in ("model", value, "ci_low", "ci_high", "n", "source") if c in frame]
    return frame[keep].rename(columns={value: "value"}).reset_index(drop=True)
