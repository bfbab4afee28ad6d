r"""Effective robustness: how far a model's accuracy on a shifted test set sits above the line that a
population of models traces against ImageNet accuracy.

Across hundreds of models, top-1 on a shifted set (ImageNet-V2, -Sketch, -R, -A, …) follows ImageNet
top-1 along a straight line once both axes are transformed by a logit (or probit): Recht et al., *Do
ImageNet Classifiers Generalize to ImageNet?*, ICML 2019, Sec. 4 (https://arxiv.org/abs/1902.10811);
Taori et al., *Measuring Robustness to Natural Distribution Shifts in Image Classification*, NeurIPS
2020, Sec. 3 (https://arxiv.org/abs/2007.00644), who define a model's **effective robustness** as its
shifted accuracy minus the line's prediction at its own ImageNet accuracy; Miller et al., *Accuracy on
the Line*, ICML 2021 (https://arxiv.org/abs/2107.04649).

    z = T(acc),  T = logit (ln p/(1-p)) or probit (Φ⁻¹(p))
    T(acc_shift) ≈ intercept + slope · T(acc_imagenet)      (least squares over the population)
    ER = acc_shift − T⁻¹(intercept + slope · T(acc_imagenet))   (in accuracy units, as Taori et al.)

Conventions: accuracies are fractions in [0, 1]; they are clipped to [`EPS`, 1 − `EPS`] before the
transform (a model at 0% or 100% would otherwise sit at ±∞). Taori et al. and Miller et al. use the
probit; the logit gives nearly the same line (the two differ by a factor of about 1.7 in scale), and is
the default here.

The interval of ER has three sources, drawn together in each of R replicates: the line itself (refit on
a bootstrap resample of the population's checkpoints: each published checkpoint is one point), and the model's
own two accuracies (binomial draws of k/n: the bootstrap of a proportion's images). The 95% interval is
the percentile interval of the R values of ER. Where the shifted set relabels ImageNet val's own images
(ImageNet-ReaL: Beyer et al., *Are we done with ImageNet?*, 2020, https://arxiv.org/abs/2006.07159), both
accuracies come from one resample of those images (`paired_relabelled_accuracy`), not two independent ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["EPS", "Transform", "LineFit", "transform_accuracy", "inverse_transform", "fit_line", "bootstrap_lines",
           "line_band", "EffectiveRobustness", "effective_robustness", "effective_robustness_replicates",
           "paired_relabelled_accuracy"]

EPS = 1e-4
Transform = Literal["logit", "probit"]


def _check_transform(transform: str) -> None:
    if transform not in ("logit", "probit"):
        raise ValueError(f"Expected `transform` to be 'logit' or 'probit', got {transform!r}.")


def transform_accuracy(accuracy, *, transform: Transform = "logit") -> np.ndarray:
    """T(accuracy), accuracy clipped to [EPS, 1 − EPS].

    >>> float(transform_accuracy(0.5))
    0.0
    """
    _check_transform(transform)
    accuracy = np.clip(np.asarray(accuracy, dtype=np.float64), EPS, 1 - EPS)
    if transform == "logit":  # numpy's: a page that only needs the logit need not import scipy (~0.2 s)
        return np.log(accuracy) - np.log1p(-accuracy)
    from scipy import special

    return special.ndtri(accuracy)


def inverse_transform(z, *, transform: Transform = "logit") -> np.ndarray:
    """T⁻¹(z): the accuracy at transformed value z."""
    _check_transform(transform)
    z = np.asarray(z, dtype=np.float64)
    if transform == "logit":
        return 0.5 * (1 + np.tanh(0.5 * z))  # expit, stable at both tails
    from scipy import special

    return special.ndtr(z)


@dataclass(frozen=True)
class LineFit:
    """T(shifted) = intercept + slope · T(imagenet), fitted by least squares on `n` population models."""

    slope: float
    intercept: float
    n: int
    transform: Transform = "logit"

    def predict(self, imagenet_accuracy) -> np.ndarray:
        """The shifted-set accuracy the line predicts at `imagenet_accuracy` (a fraction)."""
        z = self.intercept + self.slope * transform_accuracy(imagenet_accuracy, transform=self.transform)
        return inverse_transform(z, transform=self.transform)


def _validate(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"Expected `x` and `y` to be 1-d arrays of one length, got shapes {x.shape} and {y.shape}.")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        raise ValueError(f"Expected at least 3 population models with both accuracies, got {len(x)}.")
    if np.nanmax(np.r_[x, y]) > 1 or np.nanmin(np.r_[x, y]) < 0:
        raise ValueError("Expected accuracies as fractions in [0, 1]; divide percentages by 100 first.")
    if np.ptp(x) == 0:
        raise ValueError("Expected population models with different ImageNet accuracies, got one value for all.")
    return x, y


def fit_line(x, y, *, transform: Transform = "logit") -> LineFit:
    """Least-squares line of T(`y`) on T(`x`) (`x`: ImageNet top-1, `y`: shifted top-1, fractions).

    >>> fit = fit_line(np.array([.5, .6, .7]), np.array([.5, .6, .7]))
    >>> round(fit.slope, 6), round(fit.intercept, 6)
    (1.0, 0.0)
    """
    x, y = _validate(x, y)
    zx, zy = transform_accuracy(x, transform=transform), transform_accuracy(y, transform=transform)
    dx = zx - zx.mean()
    slope = float((dx * (zy - zy.mean())).sum() / (dx * dx).sum())
    return LineFit(slope, float(zy.mean() - slope * zx.mean()), len(x), transform)


def bootstrap_lines(x, y, *, n_resamples: int = 1000, seed: int = 0,
                    transform: Transform = "logit") -> tuple[np.ndarray, np.ndarray]:
    """(slopes, intercepts), each of length `n_resamples`: the line refit on resamples of the population's
    models (rows drawn with replacement), all replicates in one vectorised pass."""
    x, y = _validate(x, y)
    if n_resamples < 1:
        raise ValueError(f"Expected `n_resamples` >= 1, got {n_resamples}.")
    zx, zy = transform_accuracy(x, transform=transform), transform_accuracy(y, transform=transform)
    rng = np.random.default_rng(seed)
    slopes, intercepts = np.empty(n_resamples), np.empty(n_resamples)
    chunk = max(1, 2_000_000 // len(x))  # bounded memory: ~16 MB of indices per step
    for start in range(0, n_resamples, chunk):
        index = rng.integers(0, len(x), size=(min(chunk, n_resamples - start), len(x)))
        bx, by = zx[index], zy[index]
        mx, my = bx.mean(axis=1, keepdims=True), by.mean(axis=1, keepdims=True)
        sxx = ((bx - mx) ** 2).sum(axis=1)
        # a resample of identical x values has no slope; it keeps the full fit's (vanishingly rare with >3 models)
        sxy = ((bx - mx) * (by - my)).sum(axis=1)
        slope = np.divide(sxy, sxx, out=np.full_like(sxx, np.nan), where=sxx > 0)
        slopes[start:start + len(slope)] = slope
        intercepts[start:start + len(slope)] = my[:, 0] - slope * mx[:, 0]
    if np.isnan(slopes).any():
        fit = fit_line(x, y, transform=transform)
        intercepts[np.isnan(slopes)] = fit.intercept
        slopes[np.isnan(slopes)] = fit.slope
    return slopes, intercepts


def _predict(slopes, intercepts, imagenet_accuracy, transform: Transform) -> np.ndarray:
    """Predictions of every replicate line: shape (len(slopes), *imagenet_accuracy.shape)."""
    zx = transform_accuracy(imagenet_accuracy, transform=transform)
    return inverse_transform(intercepts[:, None] + slopes[:, None] * np.atleast_1d(zx)[None, :], transform=transform)


def line_band(x, y, at, *, level: float = 0.95, n_resamples: int = 1000, seed: int = 0,
              transform: Transform = "logit", lines: tuple[np.ndarray, np.ndarray] | None = None):
    """The fitted line and its `level` band (percentiles over refits on resampled population models) at the
    ImageNet accuracies `at`: a DataFrame with columns `imagenet`, `predicted`, `low`, `high` (fractions).
    `lines`: precomputed `bootstrap_lines(...)` of the same population."""
    import pandas as pd

    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    fit = fit_line(x, y, transform=transform)
    slopes, intercepts = lines if lines is not None else bootstrap_lines(
        x, y, n_resamples=n_resamples, seed=seed, transform=transform)
    draws = _predict(slopes, intercepts, at, transform)
    tail = (1 - level) / 2 * 100
    return pd.DataFrame({"imagenet": at, "predicted": fit.predict(at),
                         "low": np.percentile(draws, tail, axis=0), "high": np.percentile(draws, 100 - tail, axis=0)})


@dataclass(frozen=True)
class EffectiveRobustness:
    """A model's effective robustness on one shifted set, with its 95% interval.

    Attributes:
        value: measured shifted top-1 minus `predicted`.
        ci_low, ci_high: percentile interval over joint replicates (line refits × binomial draws of both
            of the model's accuracies).
        predicted: the line's shifted top-1 at the model's ImageNet top-1; `predicted_low/high` its band.
    """

    value: float
    ci_low: float
    ci_high: float
    predicted: float
    predicted_low: float
    predicted_high: float


def effective_robustness_replicates(imagenet_replicates, shifted_replicates, slopes, intercepts, *,
                                    transform: Transform = "logit") -> np.ndarray:
    """ER in each replicate r: shifted[r] − T⁻¹(intercepts[r] + slopes[r] · T(imagenet[r])). All four arrays
    have one entry per replicate; pass the same (slopes, intercepts) to every model, so that differences of
    two models' replicates share the line's draw (a paired comparison)."""
    imagenet = np.asarray(imagenet_replicates, dtype=np.float64)
    shifted = np.asarray(shifted_replicates, dtype=np.float64)
    slopes, intercepts = np.asarray(slopes, dtype=np.float64), np.asarray(intercepts, dtype=np.float64)
    if not (imagenet.shape == shifted.shape == slopes.shape == intercepts.shape):
        raise ValueError(f"Expected one entry per replicate in every argument, got shapes {imagenet.shape}, "
                         f"{shifted.shape}, {slopes.shape} and {intercepts.shape}.")
    z = intercepts + slopes * transform_accuracy(imagenet, transform=transform)
    return shifted - inverse_transform(z, transform=transform)


def effective_robustness(imagenet: float, shifted: float, *, n_imagenet: int, n_shifted: int, population_imagenet,
                         population_shifted, level: float = 0.95, n_resamples: int = 1000, seed: int = 0,
                         transform: Transform = "logit", lines: tuple[np.ndarray, np.ndarray] | None = None
                         ) -> EffectiveRobustness:
    """Effective robustness of one model (Taori et al. 2020, Sec. 3) against a published population.

    Args:
        imagenet, shifted: the model's top-1 (fractions) on ImageNet val and on the shifted set.
        n_imagenet, n_shifted: the images behind each (the binomial draws of its interval).
        population_imagenet, population_shifted: one entry per population model (fractions).
        lines: precomputed `bootstrap_lines(...)` of the population (a page computes them once per set).

    >>> x = np.linspace(.6, .9, 20); on_line = fit_line(x, x - .2).predict(.8).item()
    >>> er = effective_robustness(.8, on_line, n_imagenet=50_000, n_shifted=10_000, population_imagenet=x,
    ...                           population_shifted=x - .2)
    >>> round(er.value, 12)
    0.0
    """
    for name, n in (("n_imagenet", n_imagenet), ("n_shifted", n_shifted)):
        if int(n) < 1:
            raise ValueError(f"Expected `{name}` >= 1, got {n}.")
    for name, value in (("imagenet", imagenet), ("shifted", shifted)):
        if not 0 <= value <= 1:
            raise ValueError(f"Expected `{name}` as a fraction in [0, 1], got {value}.")
    fit = fit_line(population_imagenet, population_shifted, transform=transform)
    slopes, intercepts = lines if lines is not None else bootstrap_lines(
        population_imagenet, population_shifted, n_resamples=n_resamples, seed=seed, transform=transform)
    rng = np.random.default_rng(seed + 1)
    draws = len(slopes)
    imagenet_draws = rng.binomial(int(n_imagenet), imagenet, size=draws) / int(n_imagenet)
    shifted_draws = rng.binomial(int(n_shifted), shifted, size=draws) / int(n_shifted)
    replicates = effective_robustness_replicates(imagenet_draws, shifted_draws, slopes, intercepts, transform=transform)
    line_draws = _predict(slopes, intercepts, np.array([imagenet]), transform)[:, 0]
    tail = (1 - level) / 2 * 100
    predicted = float(fit.predict(imagenet))
    return EffectiveRobustness(float(shifted - predicted), float(np.percentile(replicates, tail)),
                               float(np.percentile(replicates, 100 - tail)), predicted,
                               float(np.percentile(line_draws, tail)), float(np.percentile(line_draws, 100 - tail)))


def paired_relabelled_accuracy(correct, relabelled, sizes, *, n_resamples: int = 1000, seed=0):
    """Top-1 under the original labels and under new labels of the same images, from one bootstrap of the images.

    `correct` (cells, models) 0/1 under the original labels; `relabelled` (cells, models) 0/1 under the new ones,
    NaN on a cell whose images have no new label (ImageNet-ReaL leaves 3,163 val images unlabelled); `sizes` how
    many images share each cell. Each replicate draws the images once (Multinomial(N, sizes / N), the bootstrap of
    the images: `core.metrics.paired.resample_weights`); both accuracies are read from that draw, the relabelled
    one as the ratio over the drawn images that have new labels (Efron & Tibshirani, *An Introduction to the
    Bootstrap*, 1993, Ch. 6: a statistic of two measurements on one sample is bootstrapped by resampling the sample).
    So the two are paired: their difference's spread carries only where the labels disagree.

    Returns (points (models,), replicates (models, R)) of the original and of the relabelled accuracy.

    >>> c = np.array([[1.], [0.]]); p, r, rp, rr = paired_relabelled_accuracy(c, c, np.array([3, 1]), n_resamples=4)
    >>> p.tolist(), rp.tolist(), bool((r == rr).all())
    ([0.75], [0.75], True)
    """
    from core.metrics.paired import resample_weights

    correct = np.asarray(correct, dtype=np.float64)
    relabelled = np.asarray(relabelled, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if correct.ndim != 2 or correct.shape != relabelled.shape or len(sizes) != len(correct):
        raise ValueError(f"Expected `correct` and `relabelled` of one (cells, models) shape and one size per cell, got "
                         f"{correct.shape}, {relabelled.shape} and {sizes.shape}.")
    if np.isnan(correct).any():
        raise ValueError("Expected every model scored on every cell under the original labels, got NaN.")
    labelled = ~np.isnan(relabelled).any(axis=1)
    if not labelled.any():
        raise ValueError("Expected some cells with new labels, got none.")
    weights = resample_weights(sizes, n_resamples=n_resamples, seed=seed)
    total = sizes.sum()
    points = sizes @ correct / total
    replicates = (weights @ correct / total).T
    new = np.nan_to_num(relabelled[labelled])
    drawn = weights[:, labelled].sum(axis=1)
    new_points = sizes[labelled] @ new / sizes[labelled].sum()
    new_replicates = (weights[:, labelled] @ new / np.maximum(drawn, 1)[:, None]).T
    return points, replicates, new_points, new_replicates
