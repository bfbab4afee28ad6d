"""The paper's claims, and verdicts on them computed from the results store.

A claim is a few directional comparisons between the paper's four models (or pairs of them), each
between two estimates with 95% intervals. One comparison's verdict (`compare`):

- *reproduced*: the expected direction, intervals apart;
- *contradicted*: the opposite direction, intervals apart;
- *inconclusive*: the intervals overlap (this sample cannot tell);
- *not measured*: an estimate is missing.

A claim's verdict combines its parts (`combine`): contradicted if any part is; otherwise not measured
if any part is missing; otherwise inconclusive if any part is; otherwise reproduced.

The interval of a pair's mean (the "CLIP pair") is the mean of the members' interval ends: wider
than the interval of a mean of independent estimates (widths add linearly, not in quadrature), so a
pair comparison errs towards *inconclusive*, never towards a verdict the data do not support.

Everything here is pure (tidy frames in, results out) except `collect_evidence`, the one place that
reads the store for the findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["PAPER_MODELS", "SUPERVISED", "CLIP", "Estimate", "Part", "ClaimResult", "CLAIMS", "Claim", "compare",
           "combine", "pair_estimate", "estimates_from", "claim_mistakes", "claim_texture", "claim_calibration",
           "claim_robustness", "claim_shape_bias", "claim_pug", "claim_transfer", "claim_invariance",
           "error_ratio_intervals", "ece_interval", "collect_evidence", "assess", "VERDICTS"]

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
    """One comparison of a claim: `a` expected `expect` (higher/lower) than `b`."""

    text: str
    verdict: str
    a: Estimate | None
    b: Estimate | None
    expect: str
    missing: tuple[str, ...] = ()


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
    """Verdict on "`a` is `expect` than `b`" from two estimates with 95% intervals.

    Touching intervals count as overlapping (inconclusive). A missing estimate gives 'not measured'.

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
    unknown = set(verdicts) - set(VERDICTS)
    if unknown:
        raise ValueError(f"Expected verdicts among {VERDICTS}, got {sorted(unknown)}.")
    if not verdicts:
        return "not measured"
    for verdict in ("contradicted", "not measured", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "reproduced"


def pair_estimate(estimates: list[Estimate | None], label: str) -> Estimate | None:
    """Mean of several estimates; interval = mean of the interval ends (conservative). None if any is missing."""
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


def _part(text: str, a: Estimate | None, b: Estimate | None, expect: str, needs: tuple[str, ...],
          have: dict) -> Part:
    missing = tuple(model for model in needs if model not in have)
    return Part(text, compare(a, b, expect=expect), a, b, expect, missing)


def _paradigm_parts(found: dict[str, Estimate], expect_convnext: str, what: str) -> list[Part]:
    """ConvNeXt vs ViT within each paradigm."""
    return [_part(f"{paradigm}: ConvNeXt {'above' if expect == 'higher' else 'below'} ViT in {what}",
                  found.get(convnext), found.get(vit), expect, (convnext, vit), found)
            for paradigm, convnext, vit, expect in (("supervised", "convnext_sup", "vit_sup", expect_convnext[0]),
                                                   ("CLIP", "convnext_clip", "vit_clip", expect_convnext[1]))]


def _pairs(found: dict[str, Estimate]) -> tuple[Estimate | None, Estimate | None]:
    return (pair_estimate([found.get(m) for m in SUPERVISED], "supervised pair"),
            pair_estimate([found.get(m) for m in CLIP], "CLIP pair"))


def _result(key: str, parts: list[Part], numbers, measure: str, note: str = "", **extra) -> ClaimResult:
    claim = next(c for c in CLAIMS if c.key == key)
    missing = tuple(dict.fromkeys(model for part in parts for model in part.missing))
    return ClaimResult(claim, combine([p.verdict for p in parts]), parts, numbers, measure, note, missing, **extra)


def _empty_numbers():
    import pandas as pd

    return pd.DataFrame(columns=["model", "value", "ci_low", "ci_high", "n", "source"])


# --- one function per claim: tidy frames in, ClaimResult out -----------------------------------------

def claim_mistakes(ratios) -> ClaimResult:
    """Claim 1 from `ratios` (model, factor, error_ratio, ci_low, ci_high, n, source), whose factor 'mean'
    rows hold the mean error ratio over the 16 factors."""
    numbers = _numbers(ratios[ratios["factor"] == "mean"], "error_ratio") if ratios is not None and len(ratios) \
        else _empty_numbers()
    found = estimates_from(numbers)
    supervised, clip = _pairs(found)
    part = _part("CLIP pair's mean error ratio below the supervised pair's", clip, supervised, "lower", PAPER_MODELS,
                 found)
    return _result("mistakes", [part], numbers, "mean ImageNet-X error ratio over the 16 factors (1 = average)",
                   chart_table=ratios)


def claim_texture(ratios, *, top: int = 3) -> ClaimResult:
    """Claim 2: per model, texture among the `top` highest error ratios. Texture's rank is established when
    fewer than `top` factors lie above it with intervals apart (reproduced) or at least `top` do
    (contradicted); otherwise inconclusive."""
    import pandas as pd

    parts, records = [], []
    for model in PAPER_MODELS:
        frame = ratios[(ratios["model"] == model) & (ratios["factor"] != "mean")] if ratios is not None and len(ratios) \
            else pd.DataFrame()
        frame = frame.dropna(subset=["error_ratio"]) if len(frame) else frame
        texture = frame[frame["factor"] == "texture"] if len(frame) else frame
        if texture.empty:
            parts.append(Part(f"{model}: texture among its {top} highest error ratios", "not measured", None, None,
                              "higher", (model,)))
            continue
        t = texture.iloc[0]
        others = frame[frame["factor"] != "texture"]
        clearly_above = int((others["ci_low"] > t["ci_high"]).sum())
        clearly_below = int((others["ci_high"] < t["ci_low"]).sum())
        rank = int((others["error_ratio"] > t["error_ratio"]).sum()) + 1
        if clearly_above >= top:
            verdict = "contradicted"
        elif clearly_below >= len(others) - (top - 1):
            verdict = "reproduced"
        else:
            verdict = "inconclusive"
        estimate = Estimate(model, float(t["error_ratio"]), float(t["ci_low"]), float(t["ci_high"]), int(t.get("n", 0)),
                            str(t.get("source", "ours")))
        parts.append(Part(f"{model}: texture ranks {rank} of {len(frame)} factors ({clearly_above} clearly above, "
                          f"{clearly_below} clearly below)", verdict, estimate, None, "higher"))
        records.append({"model": model, "value": float(t["error_ratio"]), "ci_low": float(t["ci_low"]),
                        "ci_high": float(t["ci_high"]), "n": int(t.get("n", 0)), "source": t.get("source", "ours"),
                        "rank": rank})
    numbers = pd.DataFrame(records) if records else _empty_numbers()
    return _result("texture", parts, numbers, "texture's error ratio and its rank among the 16 factors",
                   chart_table=ratios)


def claim_calibration(ece, gap) -> ClaimResult:
    """Claim 3 from `ece` (model, value=ECE, ci_low, ci_high, n) and `gap` (model, value = mean confidence −
    accuracy, ci_low, ci_high): supervised pair's ECE below CLIP's; each CLIP model's gap above 0."""
    found = estimates_from(ece)
    gaps = estimates_from(gap)
    supervised, clip = _pairs(found)
    parts = [_part("supervised pair's ECE below the CLIP pair's", supervised, clip, "lower", PAPER_MODELS, found)]
    zero = Estimate("0", 0.0, 0.0, 0.0)
    for model in CLIP:
        parts.append(_part(f"{model}: mean confidence above accuracy (over-confident)", gaps.get(model),
                           zero if model in gaps else None, "higher", (model,), gaps))
    numbers = ece.copy() if ece is not None and len(ece) else _empty_numbers()
    if len(numbers) and gap is not None and len(gap):
        numbers = numbers.merge(gap[["model", "value"]].rename(columns={"value": "confidence − accuracy"}),
                                on="model", how="left")
    return _result("calibration", parts, numbers, "expected calibration error on ImageNet val (15 bins)",
                   chart_table=ece)


def claim_robustness(table, shifted: tuple[str, ...]) -> ClaimResult:
    """Claim 4 from the robustness table (model, benchmark, accuracy, ci_low, ci_high, n): the average over
    the shifted sets that all four models have (interval: mean of the interval ends)."""
    import pandas as pd

    note = ""
    numbers = _empty_numbers()
    if table is not None and len(table):
        table = table[table["benchmark"].isin(shifted)]
        present = [b for b in shifted if set(table.loc[table["benchmark"] == b, "model"]) >= set(PAPER_MODELS)]
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
    supervised, clip = _pairs(found)
    parts = [_part("supervised pair's shifted-set average above the CLIP pair's", supervised, clip, "higher",
                   PAPER_MODELS, found)]
    return _result("robustness", parts, numbers, "top-1 averaged over the shifted sets", note, chart_table=table,
                   extra={"shifted": tuple(shifted)})


def claim_shape_bias(table) -> ClaimResult:
    """Claim 5 from shape bias per model (model, value, ci_low, ci_high, n, source)."""
    found = estimates_from(table)
    supervised, clip = _pairs(found)
    parts = _paradigm_parts(found, ("lower", "lower"), "shape bias")
    parts.append(_part("CLIP pair's shape bias above the supervised pair's", clip, supervised, "higher", PAPER_MODELS,
                       found))
    return _result("shape_bias", parts, table if table is not None and len(table) else _empty_numbers(),
                   "shape bias on the 1,280 cue-conflict images (share of shape decisions)", chart_table=table)


def claim_pug(table) -> ClaimResult:
    """Claim 6 from PUG-ImageNet top-1 per model over all factors (model, value, ci_low, ci_high, n)."""
    found = estimates_from(table)
    return _result("pug", _paradigm_parts(found, ("higher", "higher"), "PUG-ImageNet top-1"),
                   table if table is not None and len(table) else _empty_numbers(), "top-1 on PUG-ImageNet (all factors)")


def claim_transfer(table, *, margin: float = TRANSFER_MARGIN) -> ClaimResult:
    """Claim 7 from linear-probe accuracy per model, averaged over the datasets all four were probed on.
    'Nearly as well': supervised ConvNeXt + `margin` is above the CLIP pair's mean (intervals apart)."""
    found = estimates_from(table)
    _, clip = _pairs(found)
    convnext = found.get("convnext_sup")
    parts = [_part("supervised ConvNeXt above supervised ViT", convnext, found.get("vit_sup"), "higher",
                   ("convnext_sup", "vit_sup"), found),
             _part(f"supervised ConvNeXt within {margin:.0%} of the CLIP pair (ConvNeXt + {margin:.0%} above CLIP)",
                   convnext.shifted(margin, f"convnext_sup + {margin:.0%}") if convnext else None, clip, "higher",
                   ("convnext_sup", *CLIP), found)]
    return _result("transfer", parts, table if table is not None and len(table) else _empty_numbers(),
                   "linear-probe test top-1 (mean over the datasets probed for all four)")


def claim_invariance(table) -> ClaimResult:
    """Claim 8 from mean top-1 per model and transform kind (model, kind, value, ci_low, ci_high, n)."""
    import pandas as pd

    parts = []
    for kind in ("scale", "shift", "resolution"):
        frame = table[table["kind"] == kind] if table is not None and len(table) else pd.DataFrame()
        found = estimates_from(frame) if len(frame) else {}
        parts += [_part(f"{kind}: supervised ConvNeXt above supervised ViT", found.get("convnext_sup"),
                        found.get("vit_sup"), "higher", SUPERVISED, found),
                  _part(f"{kind}: CLIP ViT above CLIP ConvNeXt", found.get("vit_clip"), found.get("convnext_clip"),
                        "higher", CLIP, found)]
    numbers = table if table is not None and len(table) else _empty_numbers()
    return _result("invariance", parts, numbers, "mean top-1 over each transform's settings", chart_table=table)


def _numbers(frame, value: str):
    keep = [c for c in ("model", value, "ci_low", "ci_high", "n", "source") if c in frame]
    return frame[keep].rename(columns={value: "value"}).reset_index(drop=True)


# --- intervals that the analyses do not compute yet --------------------------------------------------

def error_ratio_intervals(file_names, predicted_classes, annotations=None, *, n_resamples: int = 200,
                          seed: int = 0):
    """ImageNet-X error ratios per factor, plus their mean ('mean'), with 95% bootstrap intervals over images.

    Point values are `core.metrics.imagenet_x_error_ratios`; the resamples recompute the same ratio,
    (1 − acc on factor) / (1 − acc overall), vectorised over factors.
    """
    import pandas as pd

    from core.data.imagenet_x import FACTORS
    from core.metrics import imagenet_x_error_ratios

    if annotations is None:
        from core.data.imagenet_x import imagenet_x_annotations

        annotations = imagenet_x_annotations()
    point = imagenet_x_error_ratios(file_names, predicted_classes, annotations)
    merged = annotations.merge(pd.DataFrame({"file_name": np.asarray(file_names, dtype=object),
                                             "pred": np.asarray(predicted_classes)}), on="file_name", how="inner")
    wrong = (merged["pred"].to_numpy() != merged["class"].to_numpy()).astype(np.float64)
    masks = merged[list(FACTORS)].to_numpy().astype(np.float64)
    # images with the same factors and outcome are interchangeable: resample counts per such cell
    code = (masks.astype(np.int64) @ (1 << np.arange(masks.shape[1], dtype=np.int64))) * 2 + wrong.astype(np.int64)
    cell_codes, first, cell_of = np.unique(code, return_index=True, return_inverse=True)
    cell_masks, cell_wrong = masks[first], wrong[first]
    cells = cell_codes
    rng = np.random.default_rng(seed)
    samples = np.full((n_resamples, len(FACTORS) + 1), np.nan)
    for i in range(n_resamples):
        weights = np.bincount(cell_of[rng.integers(0, len(wrong), len(wrong))], minlength=len(cells))
        weights = weights.astype(np.float64)
        overall = (weights * cell_wrong).sum() / weights.sum()
        counts = weights @ cell_masks
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = ((weights * cell_wrong) @ cell_masks / counts) / overall
        samples[i, :-1] = ratios
        samples[i, -1] = np.nanmean(ratios) if np.isfinite(ratios).any() else np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanpercentile(samples, 2.5, axis=0)
            high = np.nanpercentile(samples, 97.5, axis=0)
    rows = point[["factor", "error_ratio", "count"]].to_dict("records")
    rows.append({"factor": "mean", "error_ratio": float(np.nanmean(point["error_ratio"])), "count": len(merged)})
    table = pd.DataFrame(rows)
    table["ci_low"] = np.minimum(low, table["error_ratio"])
    table["ci_high"] = np.maximum(high, table["error_ratio"])
    table["n"] = len(merged)
    return table


def ece_interval(confidence, correct, *, n_bins: int = 15, n_resamples: int = 300, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """95% bootstrap interval of `core.metrics.expected_calibration_error`, equal to
    `bootstrap_interval(lambda i: expected_calibration_error(confidence[i], correct[i]), …)` with the same
    seed (the same resamples), computed from per-bin sums: ECE = sum_b |sum correct − sum confidence| / N.
    """
    from core.metrics.calibration import _bin_ids, _check

    confidence, correct = _check(confidence, correct, n_bins)
    ids = _bin_ids(confidence, n_bins)
    n = len(confidence)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        index = rng.integers(0, n, n)
        picked = ids[index]
        gap = (np.bincount(picked, weights=correct[index], minlength=n_bins)
               - np.bincount(picked, weights=confidence[index], minlength=n_bins))
        values[i] = np.abs(gap).sum() / n
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


# --- the one place that reads the store for the findings -----------------------------------------------

def _latest(runs, benchmark: str, *, source: str = "ours", protocol: str = "paper"):
    """One run per paper model (the latest under `protocol`, else under any protocol)."""
    chosen = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == "") & (runs["source"] == source)
                  & runs["model"].isin(PAPER_MODELS)]
    preferred = chosen[chosen["protocol"] == protocol]
    chosen = preferred if not preferred.empty else chosen
    return chosen.drop_duplicates("model", keep="last")


def _predictions(store, run_ids, columns: tuple[str, ...]):
    import pandas as pd

    if not len(run_ids):
        return pd.DataFrame(columns=["run_id", *columns])
    marks = ", ".join("?" for _ in run_ids)
    return store.query(f"SELECT run_id, {', '.join(columns)} FROM predictions WHERE run_id IN ({marks}) "
                       "AND error IS NULL", list(run_ids))


def collect_evidence(store=None, *, n_resamples: int = 300) -> dict:
    """Tidy evidence frames per claim from the results store, through core.analyses and core.metrics.

    Returns {claim key: (frames..., runs used)} in the shape `assess` takes. Only the paper's four model
    keys count; our runs under the `paper` protocol first; for cue-conflict, a model we have not run
    falls back to the authors' released decisions (labelled as such).
    """
    import pandas as pd

    from core.analyses import (SHIFTED, accuracy_with_interval, condition_accuracy_table, file_names,
                               robustness_table, shape_bias_table)
    from core.metrics import bootstrap_interval, expected_calibration_error
    from core.models.preprocess import parse_variant
    from core.store import ResultsStore

    store = store or ResultsStore()
    runs = store.runs()
    evidence: dict = {}
    if runs.empty:
        return evidence
    runs = runs[runs["status"] == "done"] if "status" in runs else runs

    # ImageNet val: claims 1-3
    val = _latest(runs, "imagenet-val")
    rows = _predictions(store, tuple(val["run_id"]), ("image_id", "pred", "conf", "correct"))
    ratio_frames, ece_rows, gap_rows = [], [], []
    for run in val.itertuples():
        mine = rows[rows["run_id"] == run.run_id]
        if mine.empty:
            continue
        try:
            ratios = error_ratio_intervals(list(file_names(mine["image_id"])), mine["pred"].to_numpy(),
                                           n_resamples=n_resamples)
            ratio_frames.append(ratios.assign(model=run.model, source="ours", run_id=run.run_id))
        except ValueError:
            pass  # not the official val file names: ImageNet-X cannot annotate them
        confidence = mine["conf"].to_numpy(dtype=np.float64)
        correct = mine["correct"].to_numpy(dtype=bool)
        ece = expected_calibration_error(confidence, correct, n_bins=15)
        low, high = ece_interval(confidence, correct, n_bins=15, n_resamples=n_resamples)
        ece_rows.append({"model": run.model, "value": ece, "ci_low": min(low, ece), "ci_high": max(high, ece),
                         "n": len(confidence), "source": "ours", "run_id": run.run_id})
        difference = confidence - correct
        gap = float(difference.mean())
        low, high = bootstrap_interval(lambda i: float(difference[i].mean()), len(difference),
                                       n_resamples=n_resamples)
        gap_rows.append({"model": run.model, "value": gap, "ci_low": min(low, gap), "ci_high": max(high, gap),
                         "n": len(difference), "source": "ours"})
    ratios = pd.concat(ratio_frames, ignore_index=True) if ratio_frames else None
    evidence["mistakes"] = {"ratios": ratios, "runs": val}
    evidence["texture"] = {"ratios": ratios, "runs": val}
    evidence["calibration"] = {"ece": pd.DataFrame(ece_rows) if ece_rows else None,
                               "gap": pd.DataFrame(gap_rows) if gap_rows else None, "runs": val}

    # robustness: claim 4
    robust_runs = pd.concat([_latest(runs, b) for b in ("imagenet-val", *SHIFTED)], ignore_index=True)
    robust_ids = tuple(robust_runs["run_id"])
    robust_counts = store.accuracy_counts(robust_ids, by_condition=True) if robust_ids else None
    real_counts = store.accuracy_counts(robust_ids, real=True) if robust_ids else None
    evidence["robustness"] = {"table": robustness_table(robust_runs, robust_counts, real_counts,
                                                        n_resamples=n_resamples)
                              if robust_counts is not None and len(robust_counts) else None,
                              "shifted": SHIFTED, "runs": robust_runs}

    # cue-conflict: claim 5 (ours first, else the authors' release, per model)
    ours = _latest(runs, "cue-conflict")
    authors = _latest(runs, "cue-conflict", source="authors")
    cue = pd.concat([ours, authors[~authors["model"].isin(ours["model"])]], ignore_index=True)
    decisions = _predictions(store, tuple(cue["run_id"]), ("image_id", "shape", "texture", "decision16"))
    shape = None
    if len(decisions):
        decisions = decisions.merge(cue[["run_id", "model", "source"]], on="run_id")
        decisions = decisions.assign(maker=decisions["model"])
        shape = shape_bias_table(decisions, n_resamples=n_resamples).rename(
            columns={"maker": "model", "shape_bias": "value"})
        shape["n"] = shape["decisions"]
        shape = shape.merge(cue[["model", "source", "run_id"]], on="model")
    evidence["shape_bias"] = {"table": shape, "runs": cue}

    # PUG: claim 6
    pug = _latest(runs, "pug-imagenet")
    pug_rows = _predictions(store, tuple(pug["run_id"]), ("condition", "correct"))
    pug_numbers, pug_chart = None, None
    if len(pug_rows):
        pug_rows = pug_rows.merge(pug[["run_id", "model"]], on="run_id")
        pug_numbers = pd.DataFrame([{"model": model, **accuracy_with_interval(group["correct"].astype(float),
                                                                              n_resamples=n_resamples)}
                                    for model, group in pug_rows.groupby("model", sort=False)])
        pug_numbers = pug_numbers.rename(columns={"accuracy": "value"}).assign(source="ours")
        pug_counts = store.accuracy_counts(tuple(pug["run_id"]), by_condition=True)
        pug_chart = condition_accuracy_table(pug_counts, dict(zip(pug["run_id"], pug["model"])),
                                             n_resamples=n_resamples).rename(columns={"label": "model"})
    evidence["pug"] = {"table": pug_numbers, "chart": pug_chart, "runs": pug}

    # linear probes: claim 7
    probes = store.probes() if "probes" in _tables(store) else pd.DataFrame()
    transfer = None
    if len(probes):
        probes = probes[probes["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "dataset", "convention"],
                                                                           keep="last")
        settings = probes.groupby(["dataset", "convention"])["model"].nunique()
        common = settings[settings == len(PAPER_MODELS)].index
        if len(common):
            used = probes.set_index(["dataset", "convention"]).loc[list(common)].reset_index()
        else:
            used = probes
        transfer = used.groupby("model", sort=False).agg(value=("test_accuracy", "mean"), ci_low=("ci_low", "mean"),
                                                          ci_high=("ci_high", "mean"), n=("n_test", "sum")).reset_index()
        transfer["source"] = "ours"
        evidence["transfer_detail"] = used
    evidence["transfer"] = {"table": transfer, "runs": probes if len(probes) else None}

    # invariance: claim 8 (variant runs of imagenet-val, mean accuracy over each kind's settings)
    variant_runs = runs[(runs["benchmark"] == "imagenet-val") & (runs["variant"] != "") & (runs["source"] == "ours")
                        & runs["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "variant", "protocol"],
                                                                           keep="last")
    invariance = None
    if len(variant_runs):
        variant_rows = _predictions(store, tuple(variant_runs["run_id"]), ("correct",))
        records = []
        for run in variant_runs.itertuples():
            correct = variant_rows.loc[variant_rows["run_id"] == run.run_id, "correct"].astype(float)
            parsed = parse_variant(run.variant)
            if correct.empty or not parsed:
                continue
            records.append({"model": run.model, "kind": parsed[0], "setting": parsed[1],
                            **accuracy_with_interval(correct, n_resamples=n_resamples)})
        if records:
            per_setting = pd.DataFrame(records)
            invariance = per_setting.groupby(["model", "kind"], sort=False).agg(
                value=("accuracy", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                n=("n", "sum"), settings=("setting", "count")).reset_index().assign(source="ours")
    evidence["invariance"] = {"table": invariance, "runs": variant_runs}
    return evidence


def _tables(store) -> set[str]:
    frame = store.query("SELECT table_name FROM information_schema.tables")
    return set(frame["table_name"]) if len(frame) else set()


def assess(evidence: dict) -> list[ClaimResult]:
    """Every claim's result from `collect_evidence`'s frames (missing frames give 'not measured')."""
    get = lambda key, name: (evidence.get(key) or {}).get(name)  # noqa: E731
    results = [claim_mistakes(get("mistakes", "ratios")), claim_texture(get("texture", "ratios")),
               claim_calibration(get("calibration", "ece"), get("calibration", "gap")),
               claim_robustness(get("robustness", "table"), get("robustness", "shifted") or ()),
               claim_shape_bias(get("shape_bias", "table")), claim_pug(get("pug", "table")),
               claim_transfer(get("transfer", "table")), claim_invariance(get("invariance", "table"))]
    for result in results:
        result.runs = get(result.claim.key, "runs")
        if result.claim.key == "pug":
            result.chart_table = get("pug", "chart")
        if result.claim.key == "transfer":
            result.chart_table = evidence.get("transfer_detail")
    return results


def paper_reference(claim_key: str):
    """The paper's value per model for a claim's measure (model, paper, tag, paper_source); empty if it
    published none. Means over figure-estimated values keep the [E] tag and say so."""
    import pandas as pd

    from core.paper import paper_values

    def mean_of(metric: str, what: str):
        values = paper_values(metric)
        if values.empty:
            return pd.DataFrame(columns=["model", "paper", "tag", "paper_source"])
        grouped = values.groupby("model", sort=False).agg(paper=("value", "mean"), tag=("tag", "first")).reset_index()
        return grouped.assign(paper_source=f"mean of the paper's {what} (each {values['source'].iloc[0]})")

    def single(metric: str, key: str):
        values = paper_values(metric)
        values = values[values["key"] == key]
        return values.rename(columns={"value": "paper", "source": "paper_source"})[["model", "paper", "tag",
                                                                                    "paper_source"]]

    if claim_key == "mistakes":
        return mean_of("imagenet_x_error_ratio", "16 per-factor error ratios")
    if claim_key == "texture":
        return single("imagenet_x_error_ratio", "texture")
    if claim_key == "calibration":
        return single("ece", "imagenet-val")
    if claim_key == "robustness":
        return single("robustness_top1", "average")
    if claim_key == "shape_bias":
        return single("shape_bias", "cue-conflict")
    if claim_key == "pug":
        return mean_of("pug_top1", "per-factor top-1")
    return pd.DataFrame(columns=["model", "paper", "tag", "paper_source"])


# --- presentation helpers shared by the Findings page and the exports -------------------------------

SOURCE_LABELS = {"ours": "our run", "authors": "authors' released decisions", "humans": "human observers"}


def model_labels() -> dict[str, str]:
    """{model key: display label} from the registry (keys for anything it does not list)."""
    from core.models import registry

    specs, _ = registry()
    return {spec.name: spec.display for spec in specs}


def _ordered(frame, column: str = "model"):
    order = {m: i for i, m in enumerate(PAPER_MODELS)}
    return frame.assign(_o=frame[column].map(order).fillna(99)).sort_values("_o", kind="stable").drop(columns="_o")


def numbers_table(result: ClaimResult, labels: dict[str, str] | None = None):
    """Our number per model with its 95% interval, what fed it, and the paper's value with its tag."""
    import pandas as pd

    labels = labels or model_labels()
    numbers = result.numbers
    columns = ["model", "ours", "95% interval", "n", "from", "paper", "paper tag"]
    if numbers is None or len(numbers) == 0:
        return pd.DataFrame(columns=columns)
    if "kind" in numbers:
        numbers = numbers.assign(model_key=numbers["model"])
    paper = paper_reference(result.claim.key)
    merged = _ordered(numbers).merge(paper, on="model", how="left")
    rows = []
    for row in merged.to_dict("records"):
        name = labels.get(row["model"], row["model"]) + (f" · {row['kind']}" if "kind" in row else "")
        rows.append({"model": name, "ours": round(float(row["value"]), 4),
                     "95% interval": f"{row['ci_low']:.4f} – {row['ci_high']:.4f}", "n": int(row.get("n", 0) or 0),
                     "from": SOURCE_LABELS.get(row.get("source", "ours"), row.get("source", "ours")),
                     "paper": None if pd.isna(row.get("paper")) else round(float(row["paper"]), 4),
                     "paper tag": None if pd.isna(row.get("tag")) else f"[{row['tag']}]"})
    return pd.DataFrame(rows, columns=columns)


def runs_table(result: ClaimResult):
    """The runs that fed a card: run id, model, benchmark, source (ours vs authors), protocol, weights."""
    import pandas as pd

    runs = result.runs
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=["run_id", "model", "benchmark", "source"])
    if "probe_id" in runs:
        keep = [c for c in ("probe_id", "model", "dataset", "convention", "protocol", "data_fingerprint") if c in runs]
        return runs[keep].assign(source="ours").reset_index(drop=True)
    keep = [c for c in ("run_id", "model", "benchmark", "variant", "source", "protocol", "weights_key",
                        "preprocess_key", "data_fingerprint", "packages") if c in runs]
    return runs[keep].reset_index(drop=True)


def evidence_chart(result: ClaimResult, labels: dict[str, str] | None = None):
    """The claim's evidence, drawn by the analysis page's own chart builder; None when there is no data."""
    from core import charts
    from core.data.imagenet_x import FACTORS
    from core.paper import paper_values

    labels = labels or model_labels()
    key = result.claim.key
    table = result.chart_table if result.chart_table is not None else result.numbers
    if table is None or len(table) == 0:
        return None
    table = _ordered(table.copy())
    table["label"] = table["model"].map(lambda m: labels.get(m, m))

    def reference(metric, column, keys=None):
        ref = paper_values(metric)
        ref = ref[ref["model"].isin(set(table["model"]))]
        if keys is not None:
            ref = ref[ref["key"].isin(keys)]
        return ref.assign(label=ref["model"].map(lambda m: labels.get(m, m)), **{column: ref["key"]})

    if key in ("mistakes", "texture"):
        return charts.grouped_bars(table, x="factor", order=[*FACTORS, "mean"], value="error_ratio",
                                   title="error ratio", reference=reference("imagenet_x_error_ratio", "factor"),
                                   percent=False, label_angle=-40, baseline=1.0)
    if key == "calibration":
        ref = reference("ece", "measure", ["imagenet-val"]).assign(measure="ECE, ImageNet val")
        return charts.grouped_bars(table.assign(measure="ECE, ImageNet val"), x="measure", order=None, value="value",
                                   title="expected calibration error", reference=ref, percent=False)
    if key == "robustness":
        present = [b for b in ("imagenet-val", *result.extra.get("shifted", ())) if b in set(table["benchmark"])] \
            or list(dict.fromkeys(table["benchmark"]))
        return charts.grouped_bars(table, x="benchmark", order=present, value="accuracy", title="top-1",
                                   reference=reference("robustness_top1", "benchmark", present))
    if key == "shape_bias":
        overall = table.rename(columns={"value": "shape_bias"})
        overall["label"] = [labels.get(m, m) + (" · authors' release" if s == "authors" else " · measured")
                            for m, s in zip(overall["model"], overall["source"])]
        by_model = dict(zip(overall["model"], overall["label"]))
        ref = paper_values("shape_bias")
        ref = ref[ref["model"].isin(by_model)]
        ref = ref.assign(label=ref["model"].map(by_model))
        return charts.shape_bias_overall(overall, ref)
    if key == "pug":
        from core.data.pug import PUG_FACTORS

        return charts.grouped_bars(table, x="condition", order=list(PUG_FACTORS), value="accuracy", title="top-1",
                                   reference=reference("pug_top1", "condition"), label_angle=-30)
    if key == "transfer":
        table = table.assign(setting=table["dataset"] + table["convention"].fillna("").str.startswith("VTAB").map(
            {True: " · VTAB-1k", False: ""}))
        return charts.grouped_bars(table, x="setting", order=None, value="test_accuracy", title="test accuracy")
    if key == "invariance":
        return charts.grouped_bars(table, x="kind", order=["scale", "shift", "resolution"], value="value",
                                   title="mean top-1 over the settings")
    return None
