"""The race's elimination rule, P(best) and the McNemar sample size (core/metrics/selection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics import (best_share, dunnett_bounds, eliminate, mcnemar_sample_size, race_bounds, race_schedule,
                          subsample_size, subsample_weights)


def _scores(rng, accuracies, n, shared=1.0):
    """(candidates, n) 0/1 with a shared per-image difficulty, marginal accuracy `accuracies` (probit model);
    `shared`: the difficulty's loading, one for all or one per candidate."""
    from statistics import NormalDist

    shared = np.broadcast_to(np.asarray(shared, float), (len(accuracies),))[:, None]
    a = np.array([NormalDist().inv_cdf(p) for p in accuracies])[:, None] * np.sqrt(1 + shared ** 2)
    z = rng.standard_normal(n)
    return (a + shared * z[None, :] + rng.standard_normal((len(accuracies), n)) > 0).astype(float)


def test_eliminate_never_drops_the_leader():
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = int(rng.integers(2, 13))
        scores = (rng.random((m, int(rng.integers(2, 200)))) < rng.uniform(0.05, 0.95, (m, 1))).astype(float)
        alive = rng.random(m) < 0.8
        alive[int(rng.integers(m))] = True
        leader = int(np.argmax(np.where(alive, scores.mean(axis=1), -np.inf)))
        after, drops = eliminate(scores, alive, look=0, looks=(scores.shape[1],))
        assert after[leader]
        assert all(d.leader == leader and d.candidate != leader and d.upper < 0 for d in drops)
        assert not (after & ~alive).any()  # a dropped candidate never comes back


def test_far_behind_is_dropped_in_round_one_and_a_near_tie_never():
    rng = np.random.default_rng(1)
    looks = race_schedule(800, first=100)
    for _ in range(50):
        scores = _scores(rng, [0.90, 0.90, 0.55] + [0.7] * 9, 800)
        # the near-tie: the leader's outcomes with 2 of its rights swapped for wrongs among 40 discordant images
        leader = scores[0]
        right, wrong = np.flatnonzero(leader == 1), np.flatnonzero(leader == 0)
        near = leader.copy()
        near[rng.choice(right, 21, replace=False)] = 0
        near[rng.choice(wrong, 19, replace=False)] = 1
        scores[1] = near
        alive = np.ones(12, bool)
        for look, size in enumerate(looks):
            alive, drops = eliminate(scores[:, :size], alive, look=look, looks=looks)
            if look == 0:
                assert 2 in [d.candidate for d in drops]  # 35 pp behind: gone after the first 100 images
            assert alive[1]  # 2 images behind on 800: never dropped, at any look


def test_eliminate_hand_case():
    # leader 90/100 right; the other right on 30 of them: d = −0.6, sd of the differences by hand
    a = np.array([1.0] * 90 + [0] * 10)
    b = np.array([1.0] * 30 + [0] * 70)
    diffs = b - a  # 60 × −1, 40 × 0
    se = np.sqrt(((diffs - diffs.mean()) ** 2).sum() / 99) / 10
    from statistics import NormalDist

    looks = (25, 50, 100, 200)
    z = race_bounds(looks, 0.05, 2)[2]
    _, drops = eliminate(np.stack([a, b]), np.ones(2, bool), look=2, looks=looks)
    assert drops[0].difference == pytest.approx(-0.6)
    assert drops[0].upper == pytest.approx(-0.6 + z * se)
    assert drops[0].look == 2 and drops[0].n == 100


@pytest.mark.parametrize("joint", [False, True])
def test_race_drops_a_true_best_at_most_alpha_of_the_time(joint):
    """All 12 candidates equally good (the least favourable case: every one is a true best): how often is
    candidate 0 dropped over the whole schedule? Both multiplicities (Bonferroni over the candidates, and the joint
    Dunnett-type bounds at the estimated correlation) promise ≤ 5%."""
    rng = np.random.default_rng(2)
    looks = race_schedule(600, first=100)
    dropped = 0
    runs = 1000
    for _ in range(runs):
        scores = _scores(rng, [0.8] * 12, 600)
        alive = np.ones(12, bool)
        for look, size in enumerate(looks):
            alive, _ = eliminate(scores[:, :size], alive, look=look, looks=looks, joint=joint)
        dropped += not alive[0]
    assert dropped / runs <= 0.05 + 0.02  # 0.05 plus about three binomial standard errors over 1,000 runs


def test_joint_race_keeps_alpha_when_the_correlations_differ():
    """Tied candidates whose errors share the image difficulty unequally (loadings 0.2 to 2; candidate 0, the fixed
    true best, the least): the differences (j − 0) are far from equicorrelated, and the joint rule, which uses the
    smallest estimated correlation, still drops candidate 0 in ≤ 5% of races (+ three standard errors)."""
    rng = np.random.default_rng(3)
    looks = race_schedule(600, first=100)
    runs, dropped = 1000, 0
    for _ in range(runs):
        scores = _scores(rng, [0.8] * 12, 600, shared=np.linspace(0.2, 2.0, 12))
        alive = np.ones(12, bool)
        for look, size in enumerate(looks):
            alive, _ = eliminate(scores[:, :size], alive, look=look, looks=looks)
        dropped += not alive[0]
    assert dropped / runs <= 0.05 + 0.02


def test_dunnett_bounds_one_look_against_the_multivariate_normal():
    """One look: P(max of 11 standard normals equicorrelated at r ≥ c) = α, by scipy's multivariate normal CDF
    (Genz's integration; no shared code with the Monte Carlo). Also: r ≤ 0 gives Bonferroni, and the bound falls
    as r rises (Slepian)."""
    from scipy.stats import multivariate_normal

    for r in (0.25, 0.5):
        (c,) = dunnett_bounds((600,), 0.05, 12, r)
        cov = np.full((11, 11), r) + (1 - r) * np.eye(11)
        below = multivariate_normal(np.zeros(11), cov, maxpts=2_000_000, abseps=1e-6, seed=0).cdf(np.full(11, c))
        assert 1 - below == pytest.approx(0.05, abs=0.0015)  # 3 Monte Carlo standard errors of 200,000 draws
    assert dunnett_bounds((100, 600), 0.05, 12, 0.0) == race_bounds((100, 600), 0.05, 12)
    assert dunnett_bounds((100, 600), 0.05, 2, 0.5) == race_bounds((100, 600), 0.05, 2)  # one other: no multiplicity
    low, high = dunnett_bounds((600,), 0.05, 12, 0.1)[0], dunnett_bounds((600,), 0.05, 12, 0.6)[0]
    assert high < low < race_bounds((600,), 0.05, 12)[0]


def test_dunnett_bounds_spend_alpha_over_the_looks():
    """By look k the chance that the largest of 11 correlated paths has crossed is α t_k^ρ: checked on fresh
    Gaussian vectors drawn from the full covariance (comparisons × looks, by Cholesky: no shared code)."""
    looks = (100, 200, 400, 600)
    t = np.array(looks) / 600
    r, m = 0.5, 11
    bounds = dunnett_bounds(looks, 0.2, m + 1, r)  # α = 0.2: large enough for the first look's check
    across_looks = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    cov = np.kron(np.full((m, m), r) + (1 - r) * np.eye(m), across_looks)  # index j * looks + k
    rng = np.random.default_rng(11)
    z = (rng.standard_normal((200_000, m * len(t))) @ np.linalg.cholesky(cov).T).reshape(-1, m, len(t))
    crossed = np.maximum.accumulate(z.max(axis=1) >= np.asarray(bounds), axis=1).mean(axis=0)
    np.testing.assert_allclose(crossed, 0.2 * t ** 2, atol=0.004)


def test_race_schedule_and_bounds():
    from statistics import NormalDist

    assert race_schedule(1000, first=100) == (100, 200, 400, 800, 1000)
    assert race_schedule(100, first=100) == (100,)
    assert race_schedule(99, first=100) == ()
    # one look: the one-sided Bonferroni value z_{1 − α/(m−1)}
    assert race_bounds((600,), 0.05, 12)[0] == pytest.approx(NormalDist().inv_cdf(1 - 0.05 / 11), abs=1e-6)
    with pytest.raises(ValueError, match="two candidates"):
        race_bounds((100,), 0.05, 1)
    with pytest.raises(ValueError, match="increasing"):
        race_bounds((200, 100), 0.05, 3)
    with pytest.raises(ValueError, match="growth"):
        race_schedule(100, growth=1)


def _reference_monte_carlo_crossing(looks, bounds, n_paths=400_000, seed=0):
    """Brownian paths at the looks' information fractions, by independent increments: the share of paths whose
    standardised value crosses the bound at some look, and the share crossing by each look."""
    t = np.asarray(looks, float) / looks[-1]
    rng = np.random.default_rng(seed)
    paths = (rng.standard_normal((n_paths, len(t))) * np.sqrt(np.diff(t, prepend=0.0))).cumsum(axis=1)
    crossed = np.maximum.accumulate(paths / np.sqrt(t) >= np.asarray(bounds), axis=1)
    return crossed.mean(axis=0)


@pytest.mark.parametrize("rho", [1.0, 2.0, 3.0])
def test_race_bounds_spend_alpha_as_the_power_family(rho):
    """By look k the chance of crossing for one pair is α' t_k^ρ (α' = α/(m−1)), checked against Brownian paths
    simulated by independent increments (no shared code with the numerical integration)."""
    looks = (100, 200, 400, 600)
    bounds = race_bounds(looks, 0.25, 11, rho=rho)  # α' = 0.025, large enough for a Monte Carlo check
    crossing = _reference_monte_carlo_crossing(looks, bounds)
    expected = 0.025 * (np.array(looks) / 600) ** rho
    np.testing.assert_allclose(crossing, expected, atol=0.0015)


def _reference_loop_best_share(replicates):
    """One replicate at a time: 1/t to each of the t candidates at the top."""
    m, r = replicates.shape
    shares = np.zeros(m)
    for column in replicates.T:
        top = np.flatnonzero(column == column.max())
        shares[top] += 1 / len(top)
    return shares / r


def test_best_share_matches_a_loop_and_sums_to_one_per_replicate():
    rng = np.random.default_rng(3)
    replicates = rng.integers(0, 5, (6, 400)) / 4  # many ties
    shares = best_share(replicates)
    np.testing.assert_allclose(shares, _reference_loop_best_share(replicates))
    assert shares.sum() == pytest.approx(1)
    for column in replicates.T[:50]:  # within each replicate the shares sum to 1
        assert best_share(column[:, None]).sum() == pytest.approx(1)
    assert best_share(np.array([[0.5, np.nan], [0.5, 0.2]])).tolist() == [0.25, 0.75]


def test_m_out_of_n_best_share_sums_to_one_in_every_replicate():
    rng = np.random.default_rng(6)
    scores = _scores(rng, [0.8, 0.795, 0.79, 0.7, 0.6], 600)
    weights = subsample_weights(600, n_resamples=300, seed=1)
    assert subsample_size(600) == 122 and (weights.sum(axis=1) == 122).all()  # ⌈600^0.75⌉
    replicates = (weights @ scores.T / weights.sum(axis=1, keepdims=True)).T
    for column in replicates.T:  # each replicate's shares sum to 1, ties split
        assert best_share(column[:, None]).sum() == pytest.approx(1)
    shares = best_share(replicates)
    np.testing.assert_allclose(shares, _reference_loop_best_share(replicates))
    assert shares.sum() == pytest.approx(1)


def test_m_out_of_n_is_less_sure_of_a_near_tie_than_the_plain_bootstrap():
    """The winner's curse of the plain bootstrap (Hall & Miller 2009): among near-ties the observed leader's share
    shrinks when m < n images are drawn per replicate."""
    from core.metrics.paired import resample_weights

    rng = np.random.default_rng(7)
    scores = _scores(rng, [0.80, 0.80, 0.80], 1200)
    leader = int(np.argmax(scores.mean(axis=1)))
    plain = resample_weights(1200, n_resamples=1000, seed=0)
    subsampled = subsample_weights(1200, n_resamples=1000, seed=0)
    shares = [best_share((w @ scores.T / w.sum(axis=1, keepdims=True)).T)[leader] for w in (plain, subsampled)]
    assert shares[1] < shares[0]


def test_best_share_from_paired_bootstrap_is_near_one_for_a_clear_winner():
    from core.metrics.paired import resample_weights

    rng = np.random.default_rng(4)
    scores = _scores(rng, [0.9, 0.6, 0.88], 500)
    weights = resample_weights(500, n_resamples=500, seed=0)
    shares = best_share((weights @ scores.T / 500).T)
    assert shares[1] == 0 and shares.sum() == pytest.approx(1)


def test_mcnemar_sample_size_hand_and_published():
    # by hand: (1.959964 × √0.2 + 0.841621 × √0.19)² / 0.01 = 154.6 → 155
    assert mcnemar_sample_size(0.1, 0.2) == 155
    # the calculator citing Connor (1987, p. 209): p10 = 0.05, p01 = 0.45, two-sided 5%, 80% power → 23
    assert mcnemar_sample_size(0.05 - 0.45, 0.5) == 23
    assert np.isnan(mcnemar_sample_size(0.0, 0.2))
    with pytest.raises(ValueError, match="discordance"):
        mcnemar_sample_size(0.3, 0.2)


@pytest.mark.parametrize("p10,p01", [(0.06, 0.035), (0.15, 0.08), (0.10, 0.05)])
def test_mcnemar_sample_size_gives_its_power_in_simulation(p10, p01):
    """At the stated n, McNemar's chi-square test (no continuity correction, > 3.841) rejects in ≈ 80% (at n under
    ~150 the normal approximation makes it conservative: 0.84 at n = 108)."""
    n = int(mcnemar_sample_size(p10 - p01, p10 + p01))
    rng = np.random.default_rng(5)
    counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=6000)
    b, c = counts[:, 0], counts[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(b + c > 0, (b - c) ** 2 / (b + c), 0.0)
    assert (statistic > 3.841459).mean() == pytest.approx(0.8, abs=0.03)
