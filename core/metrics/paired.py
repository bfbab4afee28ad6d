r"""Paired differences between models measured on the same images, and the verdict rule of the findings.

Every model of the study sees the same images, so a comparison of two models is paired: resampling
the *images* once per bootstrap replicate, and recomputing every model's statistic on that one
resample, keeps the per-image correlation between the models, and the interval of the difference
a − b is much narrower than two separate intervals suggest (two 95% intervals can overlap while the
difference is clearly not zero: Schenker & Gentleman, *The American Statistician* 55(3), 2001,
https://doi.org/10.1198/000313001317097960).

The pipeline, all numpy:

1. `resample_weights(n, ...)` draws an (R, n) matrix: how often each image is drawn in each of R
   replicates (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 6 and 16). The same
   matrix serves every model and every part of a claim measured on those images. Images with
   identical per-image values are interchangeable (`image_cells`): drawing counts per cell from a
   multinomial gives the same bootstrap distribution for a fraction of the work (ImageNet-C: 750,000
   images, a few dozen distinct rows).
2. A statistic is a function of weighted column sums, so one product gives all replicates:
   `weighted_accuracy`, `weighted_shape_bias`, `weighted_ece`, `weighted_error_ratios`. With the
   weights `np.ones((1, n))` (or the cell sizes) they give the point value. `stratified_accuracy`
   resamples each stratum (an ImageNet-C condition, an invariance setting) within itself and averages
   top-1 over strata; `kth_highest_margin` turns a rank claim ("among the three highest") into one
   number per replicate.
3. `difference(...)` takes the point values and replicates of the two sides (a side can be a pair of
   models: its value is the members' mean, its replicate the mean of their replicates in the same
   replicate — the pair-of-pairs difference) and returns a `Difference`: a − b, its percentile
   interval, a two-sided bootstrap p-value, the number of images and whether it was paired. An
   average over several benchmarks is the mean of per-benchmark replicates, each benchmark with its
   own weights over its own images. Sides that were not measured on the same images (a `--limit`
   sample, the humans against a model) are resampled independently, and the `Difference` says
   `paired=False`; with no per-image data at all, `difference_from_intervals` gives the unpaired
   difference of two estimates. `newcombe_paired_interval` is the closed-form check for a paired
   accuracy difference.

The verdict rule (`decide`), for one claim with parts 1..m, each "a is higher (lower) than b":

- a part is **reproduced** when its 95% interval of a − b lies entirely on the expected side of 0;
- a part is **contradicted** when its interval lies entirely on the other side *and* its two-sided
  bootstrap p-value stays below 0.05 after Holm's step-down correction over the claim's m parts
  (Holm, *Scand. J. Statist.* 6, 1979, https://www.jstor.org/stable/4615733);
- otherwise **inconclusive**; **not measured** when a side is missing.

The claim is reproduced only when *every* part is: that is an intersection–union test, whose size is
that of each part, so the 95% per part needs no correction (Berger & Hsu, *Statistical Science*
11(4), 1996, https://doi.org/10.1214/ss/1032280304). One contradicted part contradicts the claim: a
union of m tests, whose false-alarm rate Holm keeps at 5%. `combine_verdicts` orders the claim's
verdict contradicted > not measured > inconclusive > reproduced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

__all__ = ["Difference", "resample_weights", "image_cells", "weighted_accuracy", "weighted_shape_bias",
           "weighted_ece", "ece_columns", "weighted_error_ratios", "difference", "bootstrap_p_value", "holm_adjust",
           "part_verdict", "decide", "combine_verdicts", "shared_images", "newcombe_paired_interval",
           "stratified_accuracy", "kth_highest_margin", "difference_from_intervals", "COMBINATION_RULE",
           "two_level_accuracy"]

Expect = Literal["higher", "lower"]
COMBINATION_RULE = ("A part is reproduced when the 95% interval of its difference lies on the expected side of 0; "
                    "contradicted when it lies on the other side and its bootstrap p-value stays below 0.05 after "
                    "Holm's correction over the claim's parts; otherwise inconclusive. The claim is reproduced only "
                    "if every part is (an intersection-union test, no correction needed) and contradicted if any "
                    "part is.")
"""The rule of `decide`, in one paragraph for cards, reports and the docs."""


@dataclass(frozen=True)
class Difference:
    """a − b with its percentile interval over bootstrap replicates.

    `a` and `b` are the two sides' point values, `p_value` the two-sided bootstrap p-value of a − b = 0
    (`bootstrap_p_value`), `n` the images the difference was resampled over (the smaller side when
    unpaired), `paired` whether both sides were resampled together, over the same images, `basis`
    "images" (a bootstrap over images) or "intervals" (`difference_from_intervals`).
    """

    a: float
    b: float
    value: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    paired: bool
    level: float = 0.95
    basis: str = "images"

    @property
    def method(self) -> str:
        """How the interval was estimated, in words for cards and reports."""
        if self.basis == "intervals":
            return "unpaired, from the two estimates' intervals (no per-image results)"
        return (f"paired over {self.n:,} images" if self.paired
                else f"unpaired: the sides were not measured on the same images ({self.n:,} on the smaller)")


def _check_n(n_items: int) -> None:
    if int(n_items) < 1:
        raise ValueError(f"Expected at least one image, got {n_items}.")


def resample_weights(sizes: int | np.ndarray, *, n_resamples: int = 1000, seed: int | np.random.Generator = 0,
                     dtype=np.float64) -> np.ndarray:
    """(n_resamples, k): how often each image (or cell of identical images) is drawn per replicate.

    `sizes` is the number of images n (each image its own column: exactly the draws of
    `bootstrap_counts(n, seed=seed)`, one `rng.integers(0, n, n)` per replicate) or the sizes of
    `image_cells` (drawn as Multinomial(n, sizes / n) per replicate: the same distribution of the
    resampled sums, without touching each image). `seed` may be a Generator: successive calls then
    continue one stream, so replicates drawn in chunks equal those of one call (memory stays
    chunk × n). `dtype=np.float32` halves the memory of a large matrix (counts stay exact).

    >>> resample_weights(3, n_resamples=2, seed=0).sum(axis=1)
    array([3., 3.])
    """
    if n_resamples < 1:
        raise ValueError(f"Expected `n_resamples` >= 1, got {n_resamples}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if np.ndim(sizes) == 0:
        n = int(sizes)
        _check_n(n)
        weights = np.empty((n_resamples, n), dtype=dtype)
        for row in range(n_resamples):
            weights[row] = np.bincount(rng.integers(0, n, n), minlength=n)
        return weights
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.ndim != 1 or (sizes < 0).any():
        raise ValueError(f"Expected a 1-d array of non-negative cell sizes, got shape {sizes.shape}.")
    n = int(sizes.sum())
    _check_n(n)
    return rng.multinomial(n, sizes / n, size=n_resamples).astype(dtype)


def image_cells(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, their sizes) of an (n, m) per-image matrix: images with identical rows are
    interchangeable in the bootstrap, so statistics of weighted column sums can resample the cells.

    >>> rows, sizes = image_cells(np.array([[1, 0], [1, 0], [0, 1]]))
    >>> rows.tolist(), sizes.tolist()
    ([[0, 1], [1, 0]], [1, 2])
    """
    columns = np.asarray(columns)
    if columns.ndim != 2:
        raise ValueError(f"Expected an (images, columns) matrix, got shape {columns.shape}.")
    rows, sizes = np.unique(columns, axis=0, return_counts=True)
    return rows, sizes


def _weights(weights: np.ndarray, n: int) -> np.ndarray:
    weights = np.asarray(weights)
    if weights.dtype not in (np.float32, np.float64):
        weights = weights.astype(np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(f"Expected weights of shape (replicates, {n}), got {weights.shape}.")
    return weights


def weighted_accuracy(weights: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per replicate: sum_i w_i correct_i / sum_i w_i (top-1 accuracy; any per-image mean).

    >>> weighted_accuracy(np.array([[1, 1, 1], [0, 3, 0]]), np.array([1, 0, 1])).tolist()
    [0.6666666666666666, 0.0]
    """
    correct = np.asarray(correct, dtype=np.float64)
    weights = _weights(weights, len(correct))
    return (weights @ correct.astype(weights.dtype) / weights.sum(axis=1)).astype(np.float64)


def weighted_shape_bias(weights: np.ndarray, shape_hits: np.ndarray, texture_hits: np.ndarray) -> np.ndarray:
    """Per replicate: shape decisions / (shape + texture decisions) over cue-conflict images
    (Geirhos et al., ICLR 2019, https://arxiv.org/abs/1811.12231; `core.metrics.shape_bias` with all
    weights 1). NaN in a replicate with neither kind of hit.

    >>> weighted_shape_bias(np.ones((1, 3)), np.array([1, 0, 0]), np.array([0, 1, 0])).tolist()
    [0.5]
    """
    hits = np.stack([np.asarray(shape_hits, dtype=np.float64), np.asarray(texture_hits, dtype=np.float64)], axis=1)
    sums = _weights(weights, len(hits)) @ hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[:, 0] / (sums[:, 0] + sums[:, 1])


def ece_columns(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> np.ndarray:
    """(images, n_bins): each image's correct − confidence in the column of its confidence bin, so that
    |weights @ columns| summed over bins / sum(weights) is the ECE of any resample (`weighted_ece`).
    Several models' columns stacked side by side give all their ECEs from one matrix product."""
    from core.metrics.calibration import _bin_ids, _check

    confidence, correct = _check(np.asarray(confidence, dtype=np.float64), np.asarray(correct), n_bins)
    columns = np.zeros((len(confidence), n_bins))
    columns[np.arange(len(confidence)), _bin_ids(confidence, n_bins)] = correct - confidence
    return columns


def weighted_ece(weights: np.ndarray, confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> np.ndarray:
    r"""Per replicate: ECE = sum_b |sum_{i in b} w_i (correct_i − conf_i)| / sum_i w_i over equal-width
    bins (k/n, (k+1)/n] (Guo et al., ICML 2017, Sec. 2, https://arxiv.org/abs/1706.04599), the rule of
    `core.metrics.expected_calibration_error`, which it equals with all weights 1.

    >>> round(float(weighted_ece(np.ones((1, 2)), np.array([.9, .6]), np.array([1, 0]), n_bins=2)[0]), 6)
    0.25
    """
    columns = ece_columns(confidence, correct, n_bins=n_bins)
    weights = _weights(weights, len(columns))
    return (np.abs(weights @ columns.astype(weights.dtype)).sum(axis=1) / weights.sum(axis=1)).astype(np.float64)


def weighted_error_ratios(weights: np.ndarray, wrong: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(replicates, factors): ImageNet-X error ratio per factor, (1 − acc on the factor's images) /
    (1 − acc on all images), weighted (Idrissi et al., ICLR 2023, https://arxiv.org/abs/2211.01866;
    `core.metrics.imagenet_x_error_ratios` with all weights 1). `factors` is the (images, factors) 0/1
    annotation matrix; a factor without images in a replicate gives NaN, and its mean over factors is
    `np.nanmean(..., axis=1)`.
    """
    wrong = np.asarray(wrong, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 2 or len(factors) != len(wrong):
        raise ValueError(f"Expected an ({len(wrong)}, factors) annotation matrix, got {factors.shape}.")
    weights = _weights(weights, len(wrong))
    overall = weights @ wrong / weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ (factors * wrong[:, None])) / (weights @ factors) / overall[:, None]


def stratified_accuracy(correct: np.ndarray, sizes: np.ndarray, strata: np.ndarray | None = None, *,
                        n_resamples: int = 1000, seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
    """(point (models,), replicates (models, R)) of top-1 averaged over strata, from cells of images.

    `correct` is (cells, models) 0/1: one row per distinct outcome pattern of the models on an image,
    `sizes` how many images share it, `strata` the stratum of each cell (an ImageNet-C corruption ×
    severity, an invariance setting; None: one stratum). Each stratum's images are resampled within it
    (Multinomial(n_s, sizes / n_s), the bootstrap of its images: `resample_weights`), once per replicate
    for all models, and a replicate's value is the mean over strata of its accuracy — the paper's
    ImageNet-C score (mean over conditions) and a plain top-1 alike.

    >>> point, reps = stratified_accuracy(np.array([[1, 0], [1, 1]]), np.array([3, 1]), n_resamples=5)
    >>> point.tolist(), reps.shape
    ([1.0, 0.25], (2, 5))
    """
    correct = np.asarray(correct, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if correct.ndim != 2 or len(correct) != len(sizes):
        raise ValueError(f"Expected (cells, models) outcomes and one size per cell, got {correct.shape} and "
                         f"{sizes.shape}.")
    strata = np.zeros(len(sizes), dtype=np.int64) if strata is None else np.unique(strata, return_inverse=True)[1]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    points, replicates = [], []
    for stratum in range(int(strata.max()) + 1 if len(strata) else 0):
        rows = strata == stratum
        weights = resample_weights(sizes[rows], n_resamples=n_resamples, seed=rng)
        points.append(sizes[rows] @ correct[rows] / sizes[rows].sum())
        replicates.append(weights @ correct[rows] / sizes[rows].sum())
    if not points:
        raise ValueError("Expected at least one cell of images, got none.")
    return np.mean(points, axis=0), np.mean(replicates, axis=0).T


def kth_highest_margin(values: np.ndarray, column: int, k: int) -> np.ndarray:
    """Per row: values[column] minus the k-th highest of the other columns (NaN columns ignored).

    Positive exactly when fewer than k other columns lie above `column`, so "texture is among a model's
    three highest error ratios" is margin(k=3) > 0, one number per bootstrap replicate whose interval
    decides the claim.

    >>> kth_highest_margin(np.array([[0.5, 0.9, 0.75, 0.25]]), 0, 2).tolist()
    [-0.25]
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    others = np.delete(values, column, axis=1)
    if not 1 <= k <= others.shape[1]:
        raise ValueError(f"Expected 1 <= k <= {others.shape[1]}, got {k}.")
    ranked = -np.sort(-np.where(np.isnan(others), -np.inf, others), axis=1)
    kth = ranked[:, k - 1]
    return np.where(np.isinf(kth), np.nan, values[:, column] - kth)


def difference_from_intervals(a: Sequence[tuple[float, float, float]], b: Sequence[tuple[float, float, float]], *,
                              n: int, level: float = 0.95) -> Difference:
    """a − b from summary estimates only (value, low, high), each side the mean of its members, treated as
    independent normal estimates: se = (high − low) / (2 z), se(a − b) = sqrt(sum of the members' se²
    / members²), p two-sided from the normal. The fallback where no per-image data exist (linear-probe
    accuracies); the result is `paired=False`.

    >>> d = difference_from_intervals([(0.8, 0.78, 0.82)], [(0.7, 0.68, 0.72)], n=2000)
    >>> round(d.ci_low, 3), round(d.ci_high, 3), d.paired
    (0.072, 0.128, False)
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - level) / 2)

    def side(members):
        members = np.asarray(members, dtype=np.float64).reshape(-1, 3)
        se = (members[:, 2] - members[:, 1]) / (2 * z)
        return float(members[:, 0].mean()), float(np.sqrt(np.sum(se ** 2)) / len(members))

    (value_a, se_a), (value_b, se_b) = side(a), side(b)
    value, se = value_a - value_b, math.hypot(se_a, se_b)
    if math.isnan(value) or math.isnan(se):
        return Difference(value_a, value_b, value, float("nan"), float("nan"), float("nan"), int(n), False, level,
                          "intervals")
    p = 2 * (1 - NormalDist().cdf(abs(value) / se)) if se > 0 else (0.0 if value else 1.0)
    return Difference(value_a, value_b, value, value - z * se, value + z * se, float(p), int(n), False, level,
                      "intervals")


def _side(value, replicates) -> tuple[float, np.ndarray]:
    """A side's point value and replicates; several members (a pair) are averaged replicate by replicate."""
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    replicates = np.asarray(replicates, dtype=np.float64)
    if replicates.ndim == 1:
        replicates = replicates[None, :]
    if len(values) != len(replicates):
        raise ValueError(f"Expected one replicate row per value, got {len(values)} values and {len(replicates)} rows.")
    return float(values.mean()), replicates.mean(axis=0)


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference = 0: twice the smaller share of replicates at or beyond
    0 on either side, with the +1 correction (Davison & Hinkley, *Bootstrap Methods*, 1997, eq. 4.11), so
    never 0; at most 1. It is below 1 − level exactly when 0 is (nearly) outside the percentile interval.

    >>> bootstrap_p_value(np.array([0.1, 0.2, 0.3]))
    0.5
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    replicates = replicates[~np.isnan(replicates)]
    if replicates.size == 0:
        return float("nan")
    total = replicates.size + 1
    below = (1 + np.sum(replicates <= 0)) / total
    above = (1 + np.sum(replicates >= 0)) / total
    return float(min(1.0, 2 * min(below, above)))


def difference(a, b, replicates_a, replicates_b, *, n: int, paired: bool = True,
               level: float = 0.95) -> Difference:
    """a − b, its central `level` percentile interval over the replicates of a − b, and its p-value.

    `a`/`b` are a side's point value (or its members' values: a pair's value is their mean) and
    `replicates_a`/`replicates_b` its (R,) replicates (or (members, R)); paired sides must come from the
    same `resample_weights`, unpaired ones from independent draws. An average over benchmarks enters as
    the mean of each benchmark's replicates. The interval is widened to contain the point value (a
    skewed replicate distribution can leave it outside).

    >>> d = difference(0.6, 0.5, np.array([.58, .6, .62]), np.array([.5, .5, .5]), n=100)
    >>> round(d.value, 3), d.ci_low > 0, d.paired
    (0.1, True, True)
    """
    from core.metrics.bootstrap import percentile_interval

    if not 0 < level < 1:
        raise ValueError(f"Expected 0 < level < 1, got {level}.")
    value_a, reps_a = _side(a, replicates_a)
    value_b, reps_b = _side(b, replicates_b)
    if reps_a.shape != reps_b.shape:
        raise ValueError(f"Expected as many replicates on both sides, got {reps_a.shape} and {reps_b.shape}.")
    reps = reps_a - reps_b
    value = value_a - value_b
    if np.isnan(reps).all() or math.isnan(value):
        return Difference(value_a, value_b, value, float("nan"), float("nan"), float("nan"), int(n), paired, level)
    low, high = percentile_interval(reps, level=level)
    return Difference(value_a, value_b, value, min(low, value), max(high, value), bootstrap_p_value(reps), int(n),
                      paired, level)


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: sorted ascending, p_(j) × (m − j + 1), running maximum, capped
    at 1 (Holm 1979); NaN entries (parts not measured) are left out of m and stay NaN.

    >>> holm_adjust([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    m = len(known)
    order = known[np.argsort(p[known], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, p[index] * (m - rank)))
        adjusted[index] = running
    return adjusted


def part_verdict(diff: Difference | None, *, expect: Expect, adjusted_p: float | None = None,
                 alpha: float = 0.05) -> str:
    """One part's verdict on "a is `expect` than b" from its difference a − b (the rule of `decide`).

    `adjusted_p` (Holm over the claim's parts; the part's own p-value when None) gates *contradicted*.

    >>> d = Difference(.6, .5, .1, .02, .18, .01, 100, True)
    >>> part_verdict(d, expect="higher"), part_verdict(d, expect="lower")
    ('reproduced', 'contradicted')
    >>> part_verdict(Difference(.6, .5, .1, -.02, .18, .2, 100, True), expect="higher")
    'inconclusive'
    """
    if expect not in ("higher", "lower"):
        raise ValueError(f"Expected `expect` to be 'higher' or 'lower', got {expect!r}.")
    if diff is None or any(math.isnan(v) for v in (diff.value, diff.ci_low, diff.ci_high)):
        return "not measured"
    sign = 1 if expect == "higher" else -1
    low, high = sorted((sign * diff.ci_low, sign * diff.ci_high))
    if low > 0:
        return "reproduced"
    p = diff.p_value if adjusted_p is None else adjusted_p
    if high < 0 and not math.isnan(p) and p < alpha:
        return "contradicted"
    return "inconclusive"


def decide(parts: Sequence[tuple[Difference | None, Expect]], *, alpha: float = 0.05) -> tuple[list[str], str]:
    """Every part's verdict and the claim's (the module's rule): reproduced per part at its own interval,
    contradicted only at Holm-adjusted p < `alpha` over the measured parts, the claim by `combine_verdicts`.

    >>> strong = Difference(.6, .5, .1, .02, .18, .001, 100, True)
    >>> decide([(strong, "higher"), (None, "lower")])
    (['reproduced', 'not measured'], 'not measured')
    """
    p = [d.p_value if d is not None else float("nan") for d, _ in parts]
    adjusted = holm_adjust(p) if parts else np.array([])
    verdicts = [part_verdict(d, expect=expect, adjusted_p=float(q), alpha=alpha)
                for (d, expect), q in zip(parts, adjusted)]
    return verdicts, combine_verdicts(verdicts)


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """A claim's verdict from its parts': contradicted > not measured > inconclusive > reproduced (so
    reproduced only when every part is); 'not measured' for no parts.

    >>> combine_verdicts(["reproduced", "inconclusive"])
    'inconclusive'
    """
    known = ("reproduced", "contradicted", "inconclusive", "not measured")
    unknown = set(verdicts) - set(known)
    if unknown:
        raise ValueError(f"Expected verdicts among {known}, got {sorted(unknown)}.")
    if not verdicts:
        return "not measured"
    for verdict in ("contradicted", "not measured", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "reproduced"


def shared_images(*image_ids: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """(common ids sorted, each side's positions of them, whether every side holds exactly those ids).

    The last value decides pairing: sides measured on the same image set are paired over it; otherwise
    each side keeps its own images and the comparison is unpaired (a `--limit` sample compared on the
    common subset would be a different quantity than the one the card shows).

    >>> ids, positions, same = shared_images(np.array(["b", "a"]), np.array(["a", "b", "c"]))
    >>> ids.tolist(), [p.tolist() for p in positions], same
    (['a', 'b'], [[1, 0], [0, 1]], False)
    """
    if not image_ids:
        raise ValueError("Expected at least one array of image ids.")
    arrays = [np.asarray(ids) for ids in image_ids]
    common = arrays[0]
    for ids in arrays[1:]:
        common = np.intersect1d(common, ids)
    common = np.unique(common)
    positions = []
    for ids in arrays:
        order = np.argsort(ids, kind="stable")
        positions.append(order[np.searchsorted(ids, common, sorter=order)])
    same = all(len(ids) == len(common) and len(np.unique(ids)) == len(ids) for ids in arrays)
    return common, positions, same


def newcombe_paired_interval(both: int, only_a: int, only_b: int, neither: int, *,
                             level: float = 0.95) -> tuple[float, float]:
    r"""Interval of p_a − p_b for paired proportions (two models' accuracy on the same images) from the
    2×2 table of outcomes: Newcombe's method 10, Wilson score limits of each proportion combined with
    the correlation phi of the pairs (Newcombe, *Statistics in Medicine* 17, 1998, 2635–2650,
    https://doi.org/10.1002/(SICI)1097-0258(19981215)17:23<2635::AID-SIM954>3.0.CO;2-C):

    L = d − sqrt((p_a − l_a)² − 2 phi (p_a − l_a)(u_b − p_b) + (u_b − p_b)²),
    U = d + sqrt((u_a − p_a)² − 2 phi (u_a − p_a)(p_b − l_b) + (p_b − l_b)²),

    d = (only_a − only_b)/n, phi = (both·neither − only_a·only_b) / sqrt of the four margins' product
    (0 when a margin is empty). A closed-form alternative to the paired bootstrap for accuracy.

    >>> low, high = newcombe_paired_interval(40, 10, 2, 48)
    >>> round(low, 4), round(high, 4)
    (0.0141, 0.1439)
    """
    from statistics import NormalDist

    counts = np.array([both, only_a, only_b, neither], dtype=np.float64)
    if (counts < 0).any() or counts.sum() < 1:
        raise ValueError(f"Expected non-negative counts with at least one pair, got {counts.tolist()}.")
    n = counts.sum()
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)

    def wilson(k: float) -> tuple[float, float, float]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, centre - half, centre + half

    p_a, l_a, u_a = wilson(both + only_a)
    p_b, l_b, u_b = wilson(both + only_b)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins > 0 else 0.0
    d = (only_a - only_b) / n
    low = d - math.sqrt(max(0.0, (p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2))
    high = d + math.sqrt(max(0.0, (u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2))
    return float(max(-1.0, low)), float(min(1.0, high))


def two_level_accuracy(weights: np.ndarray, correct_draws: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Per replicate: the mean over resampled draws of each draw's accuracy on the resampled images — the
    two-level bootstrap of a k-shot probe (test images and draws both resampled; Davison & Hinkley, *Bootstrap
    Methods*, 1997, Sec. 3.8, hierarchical data), so the interval counts which training images were
    drawn as well as which were tested.

    `weights` (R, n) is the image resample shared with every other candidate (`resample_weights`), which pairs
    this candidate with them; `correct_draws` (draws, n) each draw's 0/1 correctness. Replicate r draws its
    D draws with `default_rng(seed).integers(0, D, (R, D))[r]`: the same seed gives the same draws for every
    caller, and the first R rows of a larger R' (the first rows of `resample_weights` too), so a table and a
    card built with the same seed show the same interval.

    >>> two_level_accuracy(np.ones((2, 3)), np.array([[1, 1, 0], [1, 1, 0]])).round(3).tolist()
    [0.667, 0.667]
    """
    correct_draws = np.atleast_2d(np.asarray(correct_draws, dtype=np.float64))
    weights = _weights(weights, correct_draws.shape[1])
    per_draw = weights @ correct_draws.T.astype(weights.dtype) / weights.sum(axis=1, keepdims=True)  # (R, draws)
    n_draws = correct_draws.shape[0]
    chosen = np.random.default_rng(seed).integers(0, n_draws, (len(weights), n_draws))
    return np.take_along_axis(per_draw, chosen, axis=1).mean(axis=1).astype(np.float64)
