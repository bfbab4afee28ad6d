r"""Choosing the best of several candidates scored on the same images: a race that drops clearly worse ones
early, each candidate's chance of being the best, and how many images would separate a pair.

**The race** (`race_schedule`, `eliminate`). The candidates are scored on growing samples of the test images
(the looks of a schedule fixed before any image is scored). At each look the *leader* is the surviving
candidate with the highest mean score, and a survivor j is dropped when the one-sided upper confidence bound
of its paired difference to the leader lies below 0:

    d = mean_i (s_j,i − s_L,i),   se = sd_i(s_j,i − s_L,i) / sqrt(n),   drop j when d + z_{1−α'} se < 0,

with α' = α / (K (m − 1)) for K looks and m candidates: Bonferroni over every (look, candidate) comparison the
race can make (Bonferroni; Dunn, *JASA* 56, 1961, https://doi.org/10.1080/01621459.1961.10482090). The bound
is the Wald (normal) interval of a paired mean difference, the large-sample form of McNemar's comparison of
two accuracies on the same images (McNemar, *Psychometrika* 12, 1947,
https://doi.org/10.1007/BF02295996). Why this controls the chance of dropping the true best b at α: b is
dropped only when some bound for b − j (j the leader then) lies below 0, while its true value is ≥ 0, so one of
the K (m − 1) one-sided intervals for b − j missed; each misses with probability α' (asymptotically), so
P(drop b) ≤ K (m − 1) α' = α whatever the leader was and however the looks depend on each other. The leader
itself is never dropped (its difference to itself is 0). The price of a fixed Bonferroni schedule against an
anytime-valid confidence sequence (Howard, Ramdas, McAuliffe & Sekhon, *Ann. Statist.* 49(2), 2021,
https://doi.org/10.1214/20-AOS1991) is a few more images per look; its gain is a plain, checkable rule.
`bench/race_sim.py` measures the whole race (the dropped best, the forward passes saved) by simulation.

**P(best)** (`best_share`): for each candidate, the share of paired bootstrap replicates (one resample of the
images for every candidate, `core.metrics.paired.resample_weights`) in which its score is the highest; a
replicate with a tie at the top gives each tied candidate an equal share, so the shares sum to 1 in every
replicate. It is the bootstrap's answer to "how often would this candidate win on another sample of images
like these", not a posterior; `bench/race_sim.py` reports its reliability in bins.

**What would settle a tie** (`mcnemar_sample_size`): the number of images at which McNemar's test (two-sided,
level α) separates two candidates whose accuracies differ by δ = p10 − p01 with discordance ψ = p10 + p01
(the share of images where exactly one of them is right) with the given power (Connor, *Biometrics* 43(1),
1987, 207–211, p. 209, https://doi.org/10.2307/2531961):

    n = ( z_{1−α/2} sqrt(ψ) + z_{power} sqrt(ψ − δ²) )² / δ²,  rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["Drop", "race_schedule", "race_level", "eliminate", "best_share", "mcnemar_sample_size",
           "RACE_RULE", "SETTLE_RULE"]

RACE_RULE = ("The race drops a candidate after a round when the one-sided upper bound of its paired top-1 difference "
             "to the current leader lies below 0, at level α / (rounds × (candidates − 1)): Bonferroni over every "
             "comparison the race can make, so the chance of dropping the true best stays below α (5% unless set).")
"""The rule of `eliminate`, in one sentence for cards, reports and docs."""
SETTLE_RULE = ("Images needed for McNemar's test (two-sided 5%) to separate the observed difference with 80% power, "
               "from the pair's discordance (Connor, Biometrics 1987).")


@dataclass(frozen=True)
class Drop:
    """Candidate `candidate` dropped at look `look` (0-based) on `n` images: its difference to `leader` (the
    candidate's mean score minus the leader's) and the one-sided upper bound that lay below 0."""

    candidate: int
    look: int
    leader: int
    difference: float
    upper: float
    n: int


def race_schedule(n_images: int, *, first: int = 100, growth: float = 2.0) -> tuple[int, ...]:
    """The looks' sample sizes: `first` images, then × `growth` each look, the last look all `n_images`.

    A task with fewer than `first` images has no race: the schedule is empty (the caller says so).

    >>> race_schedule(1000, first=100)
    (100, 200, 400, 800, 1000)
    >>> race_schedule(150, first=100)
    (100, 150)
    >>> race_schedule(80, first=100)
    ()
    """
    if first < 2:
        raise ValueError(f"Expected `first` >= 2 images, got {first}.")
    if growth <= 1:
        raise ValueError(f"Expected `growth` > 1, got {growth}.")
    if n_images < first:
        return ()
    sizes, size = [], float(first)
    while round(size) < n_images:
        sizes.append(int(round(size)))
        size *= growth
    return tuple(sizes) + (int(n_images),)


def race_level(alpha: float, n_looks: int, n_candidates: int) -> float:
    """The one-sided level of each comparison: α / (looks × (candidates − 1)) (Bonferroni).

    >>> round(race_level(0.05, 5, 12), 6)
    0.000909
    """
    if not 0 < alpha < 1:
        raise ValueError(f"Expected 0 < alpha < 1, got {alpha}.")
    if n_looks < 1 or n_candidates < 2:
        raise ValueError(f"Expected at least one look and two candidates, got {n_looks} and {n_candidates}.")
    return alpha / (n_looks * (n_candidates - 1))


def eliminate(scores: np.ndarray, alive: np.ndarray, *, look: int, n_looks: int, n_candidates: int | None = None,
              alpha: float = 0.05) -> tuple[np.ndarray, list[Drop]]:
    """One look of the race: (survivors after it, the drops), from (candidates, images) per-image scores.

    `scores` are the candidates' per-image scores on this look's sample (top-1: 0/1; a k-shot candidate: its
    mean over draws), `alive` the survivors before the look. `n_candidates` (default: rows of `scores`) and
    `n_looks` set the Bonferroni level `race_level`. Candidates not alive are ignored; the leader is the alive
    candidate with the highest mean (the first on a tie) and is never dropped.

    >>> s = np.array([[1] * 90 + [0] * 10, [1] * 30 + [0] * 70, [1] * 88 + [0] * 12])
    >>> alive, drops = eliminate(s, np.ones(3, bool), look=0, n_looks=4)
    >>> alive.tolist(), [(d.candidate, round(d.difference, 2)) for d in drops]
    ([True, False, True], [(1, -0.6)])
    """
    scores = np.asarray(scores, dtype=np.float64)
    alive = np.asarray(alive, dtype=bool).copy()
    if scores.ndim != 2 or len(scores) != len(alive):
        raise ValueError(f"Expected (candidates, images) scores with one `alive` flag per row, got {scores.shape} "
                         f"and {alive.shape}.")
    if np.isnan(scores[alive]).any():
        raise ValueError("Expected a score for every surviving candidate on every image of the look, got NaN.")
    n = scores.shape[1]
    if not alive.any() or n < 2:
        return alive, []
    z = NormalDist().inv_cdf(1 - race_level(alpha, n_looks, n_candidates or len(scores)))
    means = np.where(alive, scores.mean(axis=1), -np.inf)
    leader = int(np.argmax(means))
    diffs = scores - scores[leader]
    d = diffs.mean(axis=1)
    se = diffs.std(axis=1, ddof=1) / math.sqrt(n)
    upper = d + z * se
    drops = []
    for j in np.flatnonzero(alive):
        if j != leader and upper[j] < 0:
            alive[j] = False
            drops.append(Drop(int(j), int(look), leader, float(d[j]), float(upper[j]), int(n)))
    return alive, drops


def best_share(replicates: np.ndarray) -> np.ndarray:
    """(candidates,) share of replicates in which each candidate's score is the highest, ties split equally.

    `replicates` is (candidates, R): each candidate's score in each paired bootstrap replicate (higher is
    better; NaN: not scored, never best). The shares sum to 1 over candidates (a replicate where every
    candidate is NaN counts for none).

    >>> best_share(np.array([[0.9, 0.5, 0.7], [0.8, 0.6, 0.7]])).tolist()
    [0.5, 0.5]
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    if replicates.ndim != 2 or replicates.shape[0] < 1:
        raise ValueError(f"Expected (candidates, replicates) scores, got shape {replicates.shape}.")
    filled = np.where(np.isnan(replicates), -np.inf, replicates)
    top = filled.max(axis=0)
    winners = (filled == top[None, :]) & np.isfinite(top)[None, :]
    counted = winners.sum(axis=0)
    shares = np.divide(winners, counted[None, :], out=np.zeros(winners.shape), where=counted[None, :] > 0)
    used = int((counted > 0).sum())
    return shares.sum(axis=1) / used if used else np.full(len(replicates), np.nan)


def mcnemar_sample_size(difference: float, discordance: float, *, power: float = 0.8, alpha: float = 0.05) -> float:
    r"""Images for McNemar's test (two-sided, level `alpha`) to separate an accuracy difference δ with `power`,
    given the discordance ψ = P(exactly one of the two is right) (Connor 1987, p. 209):

        n = ( z_{1−α/2} sqrt(ψ) + z_{power} sqrt(ψ − δ²) )² / δ², rounded up.

    NaN when δ = 0 (no number of images separates equal accuracies) or ψ = 0; δ must satisfy |δ| ≤ ψ ≤ 1.

    >>> mcnemar_sample_size(0.1, 0.2)
    155.0
    """
    delta, psi = abs(float(difference)), float(discordance)
    if not 0 <= psi <= 1 or delta > psi + 1e-12:
        raise ValueError(f"Expected 0 <= |difference| <= discordance <= 1, got difference {difference} and "
                         f"discordance {discordance}.")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError(f"Expected 0 < power < 1 and 0 < alpha < 1, got {power} and {alpha}.")
    if delta == 0 or psi == 0:
        return float("nan")
    normal = NormalDist()
    root = normal.inv_cdf(1 - alpha / 2) * math.sqrt(psi) + normal.inv_cdf(power) * math.sqrt(max(psi - delta ** 2, 0))
    return float(math.ceil(root ** 2 / delta ** 2 - 1e-9))
