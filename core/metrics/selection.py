r"""Choosing the best of several candidates scored on the same images: a race that drops clearly worse ones
early, each candidate's chance of being the best, and how many images would separate a pair.

**The race** (`race_schedule`, `race_bounds`, `eliminate`). The candidates are scored on growing samples of the
test images (the looks of a schedule fixed before any image is scored; each sample contains the previous one). At
look k, a survivor j is dropped when the one-sided upper confidence bound of its paired difference to the *leader*
(the surviving candidate with the highest mean score) lies below 0:

    d = mean_i (s_j,i − s_L,i),   se = sd_i(s_j,i − s_L,i) / sqrt(n_k),   drop j when d + c_k se < 0.

The critical values c_k come from an α-spending function (Lan & DeMets, *Biometrika* 70(3), 1983, 659–663,
https://doi.org/10.1093/biomet/70.3.659) of the power family α'(t) = α' t^ρ (Kim & DeMets, *Biometrics* 43(4),
1987, 857–864, https://doi.org/10.2307/2531539) at the information fractions t_k = n_k / n_K of the looks. Over
the m candidates, two multiplicities: **Bonferroni** (`race_bounds`, `eliminate(joint=False)`), α' = α / (m − 1)
per comparison (Dunn, *JASA* 56, 1961, https://doi.org/10.1080/01621459.1961.10482090); and, the default, the
**joint (Dunnett-type)** bounds of the m − 1 correlated comparisons with one candidate (`dunnett_bounds`; Dunnett,
*JASA* 50, 1955, https://doi.org/10.1080/01621459.1955.10501294, many-to-one; group-sequential with a spending
function: Follmann, Proschan & Geller, *Biometrics* 50(2), 1994, https://doi.org/10.2307/2533402; the comparisons
with the unknown best: Hsu, *Multiple Comparisons*, 1996, ch. 4). The differences (j − i) of the others j to one
candidate i share i's per-image scores, so they are positively correlated (0.5 when the discordances are equal);
the joint bound spends α on "the largest of them crosses" rather than α / (m − 1) on each, and is lower. Since the
true best is unknown, each candidate i gets its own bound, from the smallest estimated correlation between the
differences (j − i) over the other survivors j on the look's images (rounded down to `DUNNETT_GRID`, at most
`DUNNETT_CAP`; ≤ 0 or a single other candidate: Bonferroni), and i is dropped when d(i − leader) + c_k(i) se < 0.
For one pair, the standardised
paired differences at nested samples are jointly normal with corr(Z_k, Z_l) = sqrt(n_k / n_l) (the canonical joint
distribution; Jennison & Turnbull, *Group Sequential Methods*, 2000, Sec. 3.1), so c_k solves
P(Z_1 < c_1, …, Z_{k−1} < c_{k−1}, Z_k ≥ c_k) = α'(t_k) − α'(t_{k−1}), computed by the recursive numerical
integration of Armitage, McPherson & Rowe (*JRSS A* 132, 1969). ρ = 2 (`RACE_RHO`) was chosen on simulation seeds
apart from the ones `bench/race_sim.py` reports (`bench/race_tune.py`); it spends little α at the small first
looks and keeps the last look's c_K near the single-look Bonferroni value, where the close candidates are decided.
The paired bound is the Wald interval of a paired mean difference, the large-sample form of McNemar's comparison
of two accuracies on the same images (McNemar, *Psychometrika* 12, 1947, https://doi.org/10.1007/BF02295996).

Why this controls the chance of dropping the true best b at α: b is dropped only when, at some look, the bound
for b − j (j the leader then) lies below 0 while its true value is ≥ 0. For each fixed j the chance that this
happens at any look is at most α' (the spending function: the crossing probability over all looks is α'(1)),
and there are m − 1 such j, so P(drop b) ≤ (m − 1) α' = α whichever candidate led at each look. With the joint
bounds, b is dropped only if max_j Z(j − b) crosses b's bound at some look; under the least favourable case (all
tied with b) that chance is α when the Z's are equicorrelated at the r used, and smaller when their correlations
are all ≥ r (Slepian, *Bell Syst. Tech. J.* 41, 1962, https://doi.org/10.1002/j.1538-7305.1962.tb02419.x), hence the
smallest estimated correlation, rounded down and capped. This rests on the estimate: with few images it is noisy,
and the correlations with candidates dropped earlier are not re-estimated. The tests simulate 1,000 tied races
(equal and unequal error sharing) and check the true best's drop rate ≤ α (+ three standard errors); the bounds
themselves are checked against scipy's multivariate normal (one look) and fresh correlated Gaussian paths (four
looks). The leader itself is never dropped (its difference to itself is 0). Bonferroni over the looks as well
(c = z_{1 − α/(K(m−1))} at every look) is valid too and what the race used first; the spending function gives the same guarantee with a
lower bound at the last looks, because it uses the looks' known correlation. An anytime-valid confidence sequence
(Howard, Ramdas, McAuliffe & Sekhon, *Ann. Statist.* 49(2), 2021, https://doi.org/10.1214/20-AOS1991) would allow
looks chosen on the fly, at the price of wider bounds. `bench/race_sim.py` measures the whole race (the dropped
best, the forward passes saved) by simulation.

**P(best)** (`best_share`, `subsample_size`, `subsample_weights`): for each candidate, the share of paired
*m-out-of-n* bootstrap replicates in which its score is the highest (one resample of m of the n images, with
replacement, for every candidate; a tie at the top gives each tied candidate an equal share, so the shares sum to
1 in every replicate). The plain n-out-of-n bootstrap is inconsistent for a ranking with ties or near-ties and
overstates the observed leader (the winner's curse); the m-out-of-n bootstrap, m → ∞ and m / n → 0, repairs it
(Hall & Miller, "Using the bootstrap to quantify the authority of an empirical ranking", *Ann. Statist.* 37(6B),
2009, 3929–3959, https://doi.org/10.1214/09-AOS699). Here m = ⌈n^γ⌉ with γ = 0.75 (`PBEST_GAMMA`), chosen on
simulation seeds apart from the reported ones (`bench/race_tune.py`): the largest γ whose candidates with
P(best) ≥ 0.9 were the true best in ≥ 90% of cases in every simulated setting (0, 1 or 2 near-ties; 600 or 1,200
test images). With fewer images drawn than the sample has, P(best) is conservative for clear leaders: a
candidate well ahead gets a little less than its due. It is a resampling answer to "how
often would this candidate win on another sample of images like these", not a posterior; `bench/race_sim.py`
reports its reliability in bins on fresh seeds.

**What would settle a tie** (`mcnemar_sample_size`): the number of images at which McNemar's test (two-sided,
level α) separates two candidates whose accuracies differ by δ = p10 − p01 with discordance ψ = p10 + p01
(the share of images where exactly one of them is right) with the given power (Connor, *Biometrics* 43(1),
1987, 207–211, p. 209, https://doi.org/10.2307/2531961):

    n = ( z_{1−α/2} sqrt(ψ) + z_{power} sqrt(ψ − δ²) )² / δ²,  rounded up.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["Drop", "race_schedule", "race_bounds", "dunnett_bounds", "eliminate", "best_share", "subsample_size",
           "subsample_weights", "mcnemar_sample_size", "RACE_RULE", "RACE_RHO", "PBEST_GAMMA", "SETTLE_RULE",
           "DUNNETT_DRAWS", "DUNNETT_GRID", "DUNNETT_CAP"]

RACE_RHO = 2.0
"""Exponent of the race's α-spending function α t^ρ (Kim & DeMets 1987), chosen on tuning seeds (bench/race_tune.py)."""
PBEST_GAMMA = 0.75
"""P(best)'s m-out-of-n bootstrap draws m = ⌈n^γ⌉ of n images (Hall & Miller 2009), γ chosen on tuning seeds."""

RACE_RULE = ("The race drops a candidate after a round when the one-sided upper bound of its paired top-1 difference "
             "to the current leader lies below 0, at α spent over the rounds (Lan–DeMets spending α t²) on the "
             "largest of its correlated comparisons with the others (Dunnett-type joint bound, Follmann–Proschan–"
             "Geller 1994), so the chance of dropping the true best stays below α (5% unless set).")
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


def race_bounds(looks, alpha: float, n_candidates: int, *, rho: float = RACE_RHO) -> tuple[float, ...]:
    """The critical value c_k of each look: α / (m − 1) spent as α t^ρ over the information fractions t_k = n_k / n_K
    of the looks' sample sizes `looks` (Lan & DeMets 1983; Kim & DeMets 1987), by recursive numerical integration
    of the partial-sum process (Armitage, McPherson & Rowe 1969). One look: z_{1 − α/(m−1)} (Bonferroni).

    >>> [round(c, 2) for c in race_bounds((100, 200, 400, 600), 0.05, 12)]
    [3.66, 3.35, 2.94, 2.72]
    >>> round(race_bounds((600,), 0.05, 12)[0], 3)
    2.609
    """
    if not 0 < alpha < 1:
        raise ValueError(f"Expected 0 < alpha < 1, got {alpha}.")
    if n_candidates < 2:
        raise ValueError(f"Expected at least two candidates, got {n_candidates}.")
    if rho <= 0:
        raise ValueError(f"Expected a spending exponent rho > 0, got {rho}.")
    sizes = np.asarray(looks, dtype=np.float64)
    if sizes.ndim != 1 or not len(sizes) or (sizes <= 0).any() or (np.diff(sizes) <= 0).any():
        raise ValueError(f"Expected increasing positive look sizes, got {tuple(looks)}.")
    return _spending_bounds(tuple((sizes / sizes[-1]).tolist()), alpha / (n_candidates - 1), float(rho))


@functools.lru_cache(maxsize=64)
def _spending_bounds(fractions: tuple[float, ...], alpha: float, rho: float, grid: int = 2001) -> tuple[float, ...]:
    from scipy.optimize import brentq
    from scipy.special import ndtr, ndtri

    t = np.asarray(fractions)
    spent = alpha * t ** rho
    bounds = [float(ndtri(1 - spent[0]))]
    scale = math.sqrt(t[0])  # the density of the partial sum B(t_1) below its bound c_1 sqrt(t_1), on a grid
    x = np.linspace(-12 * scale, bounds[0] * scale, grid)
    density = np.exp(-0.5 * (x / scale) ** 2) / (scale * math.sqrt(2 * math.pi))
    for k in range(1, len(t)):
        step, scale = math.sqrt(t[k] - t[k - 1]), math.sqrt(t[k])
        increment = spent[k] - spent[k - 1]

        def crossing(c: float) -> float:
            return float(np.trapezoid(density * (1 - ndtr((c * scale - x) / step)), x)) - increment

        c = float(brentq(crossing, -5.0, 40.0, xtol=1e-9))
        bounds.append(c)
        y = np.linspace(-12 * scale, c * scale, grid)
        kernel = np.exp(-0.5 * ((y[:, None] - x[None, :]) / step) ** 2) / (step * math.sqrt(2 * math.pi))
        density, x = np.trapezoid(kernel * density[None, :], x, axis=1), y
    return tuple(bounds)


DUNNETT_DRAWS = 200_000
"""Monte Carlo paths behind `dunnett_bounds` (fixed seed): the crossing chance each bound spends is exact on these
paths and within about sqrt(α (1 − α) / 200,000) ≈ 0.0005 (one standard error, α = 5%) of it on fresh ones."""
DUNNETT_GRID = 0.05
"""The race's correlation estimate is rounded down to this grid (caching the bounds; rounding down is conservative)."""
DUNNETT_CAP = 0.5
"""The largest correlation the race uses: the exchangeable case's value (equal discordances), never more."""


def dunnett_bounds(looks, alpha: float, n_candidates: int, correlation: float, *, rho: float = RACE_RHO,
                   draws: int = DUNNETT_DRAWS, seed: int = 0) -> tuple[float, ...]:
    """The critical value c_k of each look for the m − 1 comparisons of one candidate i with the m − 1 others,
    jointly (Dunnett, *JASA* 50, 1955, https://doi.org/10.1080/01621459.1955.10501294; group-sequential:
    Follmann, Proschan & Geller, *Biometrics* 50(2), 1994, https://doi.org/10.2307/2533402): under the all-tied
    null, with the standardised differences Z_j = Z(j − i) equicorrelated at `correlation` r ≥ 0 across j and at
    sqrt(n_k / n_l) across looks, P(max_j Z_j first crosses c_k at look k) = α (t_k^ρ − t_{k−1}^ρ).

    By Monte Carlo of m − 1 Brownian paths W_j = sqrt(r) U + sqrt(1 − r) V_j at the looks' information fractions
    (`draws` paths, fixed `seed`). By Slepian's inequality (Slepian, *Bell Syst. Tech. J.* 41, 1962) the crossing
    chance falls as the correlations rise, so bounds computed at a lower bound of the true correlations keep it
    ≤ α. r ≤ 0, or a single comparison: `race_bounds` (Bonferroni, exact integration).

    >>> [round(c, 2) for c in dunnett_bounds((100, 200, 400, 600), 0.05, 12, 0.5)]
    [3.64, 3.3, 2.84, 2.57]
    """
    if correlation <= 0 or n_candidates <= 2:
        return race_bounds(looks, alpha, n_candidates, rho=rho)
    if correlation >= 1:
        raise ValueError(f"Expected a correlation below 1, got {correlation}.")
    race_bounds(looks, alpha, n_candidates, rho=rho)  # the same checks of the arguments
    sizes = np.asarray(looks, dtype=np.float64)
    return _dunnett_bounds(tuple((sizes / sizes[-1]).tolist()), float(alpha), int(n_candidates) - 1,
                           round(float(correlation), 6), float(rho), int(draws), int(seed))


@functools.lru_cache(maxsize=256)
def _dunnett_bounds(fractions: tuple[float, ...], alpha: float, comparisons: int, r: float, rho: float, draws: int,
                    seed: int) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    spent = alpha * t ** rho
    steps = np.sqrt(np.diff(t, prepend=0.0))
    paths = np.zeros((draws, comparisons))
    open_ = np.ones(draws, bool)  # paths that have not crossed yet
    bounds = []
    for k in range(len(t)):
        paths += steps[k] * (math.sqrt(r) * rng.standard_normal((draws, 1))
                             + math.sqrt(1 - r) * rng.standard_normal((draws, comparisons)))
        top = paths.max(axis=1) / math.sqrt(t[k])
        crossings = int(round((spent[k] - (spent[k - 1] if k else 0.0)) * draws))
        candidates = np.sort(top[open_])[::-1]
        if crossings <= 0 or not len(candidates):
            c = float(candidates[0]) + 1e-9 if len(candidates) else float("inf")
        else:  # the open paths' crossings-th largest maximum: exactly `crossings` of them reach it
            c = float(candidates[min(crossings, len(candidates)) - 1])
        bounds.append(c)
        open_ &= top < c
    return tuple(bounds)


def _least_correlation(differences: np.ndarray) -> float:
    """The smallest correlation between two rows of (comparisons, images) paired differences; NaN if none."""
    if len(differences) < 2:
        return float("nan")
    varying = differences.std(axis=1) > 0
    if varying.sum() < 2:
        return float("nan")
    r = np.corrcoef(differences[varying])
    return float(r[~np.eye(len(r), dtype=bool)].min())


def eliminate(scores: np.ndarray, alive: np.ndarray, *, look: int, looks, n_candidates: int | None = None,
              alpha: float = 0.05, rho: float = RACE_RHO, joint: bool = True) -> tuple[np.ndarray, list[Drop]]:
    """One look of the race: (survivors after it, the drops), from (candidates, images) per-image scores.

    `scores` are the candidates' per-image scores on this look's sample (top-1: 0/1; a k-shot candidate: its
    mean over draws), `alive` the survivors before the look, `looks` the schedule's sample sizes (this look's is
    `looks[look]`). `n_candidates` (default: rows of `scores`), `alpha` and `rho` set the critical value
    `race_bounds(looks, alpha, n_candidates, rho=rho)[look]` (`joint=False`: Bonferroni over the candidates) or,
    by default, each candidate i's `dunnett_bounds(looks, alpha, n_candidates, r_i, rho=rho)[look]`, r_i the
    smallest correlation of the differences (j − i) over the other survivors j, rounded down to `DUNNETT_GRID` and
    at most `DUNNETT_CAP` (Bonferroni when r_i ≤ 0 or undefined). Candidates not alive are ignored; the leader is
    the alive candidate with the highest mean (the first on a tie) and is never dropped.

    >>> s = np.array([[1] * 90 + [0] * 10, [1] * 30 + [0] * 70, [1] * 88 + [0] * 12])
    >>> alive, drops = eliminate(s, np.ones(3, bool), look=0, looks=(100, 200, 400))
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
    m = n_candidates or len(scores)
    bonferroni = race_bounds(looks, alpha, m, rho=rho)[look]
    means = np.where(alive, scores.mean(axis=1), -np.inf)
    leader = int(np.argmax(means))
    diffs = scores - scores[leader]
    d = diffs.mean(axis=1)
    se = diffs.std(axis=1, ddof=1) / math.sqrt(n)
    drops, racing = [], np.flatnonzero(alive)
    for j in racing:
        if j == leader:
            continue
        z = bonferroni
        if joint:  # j's own boundary as the potential true best: the correlations of (k − j) over the others k
            others = racing[racing != j]
            r = _least_correlation(scores[others] - scores[j])
            r = min(DUNNETT_CAP, math.floor(r / DUNNETT_GRID + 1e-9) * DUNNETT_GRID) if np.isfinite(r) else 0.0
            if r > 0:
                z = dunnett_bounds(looks, alpha, m, r, rho=rho)[look]
        upper = d[j] + z * se[j]
        if upper < 0:
            drops.append(Drop(int(j), int(look), leader, float(d[j]), float(upper), int(n)))
    for drop in drops:
        alive[drop.candidate] = False
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


def subsample_size(n: int, *, gamma: float = PBEST_GAMMA) -> int:
    """m of P(best)'s m-out-of-n bootstrap: ⌈n^γ⌉ (at least 2, at most n).

    >>> subsample_size(600), subsample_size(1200)
    (122, 204)
    """
    if n < 1:
        raise ValueError(f"Expected at least one image, got {n}.")
    if not 0 < gamma <= 1:
        raise ValueError(f"Expected 0 < gamma <= 1, got {gamma}.")
    return int(min(n, max(2, math.ceil(n ** gamma - 1e-9))))


def subsample_weights(n: int, *, n_resamples: int = 1000, seed: int | np.random.Generator = 0,
                      gamma: float = PBEST_GAMMA, dtype=np.float64) -> np.ndarray:
    """(n_resamples, n): how often each of n images is drawn when m = `subsample_size(n)` are drawn with replacement
    (Multinomial(m, 1/n) per replicate). Every statistic of `core.metrics.paired` divides by the weights' sum, so
    these rows give the m-out-of-n bootstrap of P(best) (Hall & Miller 2009) with the same functions.

    >>> subsample_weights(600, n_resamples=2).sum(axis=1).tolist()
    [122.0, 122.0]
    """
    if n_resamples < 1:
        raise ValueError(f"Expected `n_resamples` >= 1, got {n_resamples}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    m = subsample_size(n, gamma=gamma)
    return rng.multinomial(m, np.full(n, 1.0 / n), size=n_resamples).astype(dtype)


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
