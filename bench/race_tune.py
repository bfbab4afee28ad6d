"""Choose the race's spending exponent ρ and P(best)'s m = ⌈n^γ⌉ on simulation seeds apart from the reported ones.

Usage:
    bash scripts/dev python bench/race_tune.py [--tasks 100] [--seed 1000]

The simulated tasks are `bench/race_sim.py`'s (12 candidates, correlated errors, 0, 1 or 2 near-ties within 1.5 pp
of the best, 600 or 1,200 test images), drawn from seeds `--seed` + setting (1000 and up by default);
`race_sim.py` reports on seed 0 and its neighbours, which this script never uses.

- ρ (`core.metrics.selection.RACE_RHO`): the race's forward passes and dropped-best rate with the bounds of the
  spending function α t^ρ for ρ = 1, 2, 3 and with Bonferroni over the looks (the first rule). Rule of choice:
  the fewest forward passes with two near-ties at 600 images, the dropped best within α in every setting.
- γ (`core.metrics.selection.PBEST_GAMMA`): P(best) by the m-out-of-n bootstrap at γ = 1 (the plain bootstrap),
  0.9, 0.85, 0.8, 0.75, 0.7. Rule of choice: the largest γ (the least conservative) whose candidates with
  P(best) ≥ 0.9 were the true best in ≥ 90% of cases in every setting; the Brier score is printed beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder
sys.path.insert(0, str(Path(__file__).resolve().parent))

from race_sim import _accuracies, _outcomes  # noqa: E402

from core.metrics.selection import best_share, race_bounds, race_schedule, subsample_weights  # noqa: E402
from core.task.race import RACE_DRAWS  # noqa: E402

SETTINGS = [(ties, per_class) for ties in (0, 1, 2) for per_class in (100, 200)]  # 600 and 1,200 test images
GAMMAS = (1.0, 0.9, 0.85, 0.8, 0.75, 0.7)
RULES = ("bonferroni", 1.0, 2.0, 3.0)


def _race(correct: np.ndarray, looks, bounds) -> tuple[np.ndarray, np.ndarray]:
    """(survivors, look that dropped each candidate or −1): `core.metrics.selection.eliminate` with given bounds."""
    m = len(correct)
    alive, dropped_at = np.ones(m, bool), np.full(m, -1)
    for look, size in enumerate(looks):
        scores = correct[:, :size]
        leader = int(np.argmax(np.where(alive, scores.mean(axis=1), -np.inf)))
        diffs = scores - scores[leader]
        upper = diffs.mean(axis=1) + bounds[look] * diffs.std(axis=1, ddof=1) / np.sqrt(size)
        drop = alive & (upper < 0)
        drop[leader] = False
        alive &= ~drop
        dropped_at[drop] = look
    return alive, dropped_at


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    m, classes = 12, 20
    print(f"Tuning seeds {args.seed}+ ({args.tasks} tasks per setting; race_sim.py reports on other seeds)\n")
    print("ρ: forward passes race / full (mean) and the true best dropped, per setting (near-ties, test images)")
    gamma_rows = {}
    for setting, (ties, per_class) in enumerate(SETTINGS):
        rng = np.random.default_rng(args.seed + setting)
        n_test = int(round(per_class * 0.3)) * classes
        train_per_class = (per_class - n_test // classes) * 0.8
        kshot = classes * train_per_class * (1 - (1 - min(16, train_per_class) / train_per_class) ** RACE_DRAWS)
        full = classes * per_class - n_test + n_test * 16
        looks = race_schedule(n_test, first=100)
        bounds = {rule: ([NormalDist().inv_cdf(1 - 0.05 / (len(looks) * (m - 1)))] * len(looks)
                         if rule == "bonferroni" else race_bounds(looks, 0.05, m, rho=rule)) for rule in RULES}
        costs, dropped_best = {rule: [] for rule in RULES}, {rule: 0 for rule in RULES}
        shares = {gamma: [] for gamma in GAMMAS}
        truth = []
        for _ in range(args.tasks):
            correct = _outcomes(rng, _accuracies(rng, m, ties), n_test)
            for rule in RULES:
                alive, dropped_at = _race(correct, looks, bounds[rule])
                cost = np.where(alive, full, kshot + np.array(looks)[np.maximum(dropped_at, 0)])
                costs[rule].append(cost.sum() / (m * full))
                dropped_best[rule] += not alive[0]
            for gamma in GAMMAS:
                weights = subsample_weights(n_test, n_resamples=1000, seed=rng, gamma=gamma)
                shares[gamma] += list(best_share((weights @ correct.T / weights.sum(axis=1, keepdims=True)).T))
            truth += [j == 0 for j in range(m)]
        print(f"  {ties} near-ties, {n_test:,} images: " + "; ".join(
            f"{rule if rule == 'bonferroni' else f'ρ={rule:g}'} {np.mean(costs[rule]):.1%} "
            f"({dropped_best[rule]}/{args.tasks})" for rule in RULES))
        truth_array = np.array(truth)
        for gamma in GAMMAS:
            values = np.array(shares[gamma])
            top = values >= 0.9
            gamma_rows.setdefault(gamma, []).append((int(top.sum()), int(truth_array[top].sum()),
                                                     float(np.mean((values - truth_array) ** 2))))
    print("\nγ: candidates with P(best) ≥ 0.9 and how many were the true best, per setting; mean Brier score")
    chosen = None
    for gamma in GAMMAS:
        rows = gamma_rows[gamma]
        passed = all(shown == 0 or best / shown >= 0.9 for shown, best, _ in rows)
        chosen = chosen if chosen is not None or not passed else gamma
        print(f"  γ = {gamma:<5g}" + "  ".join(f"{best}/{shown}" for shown, best, _ in rows)
              + f"   Brier {np.mean([b for _, _, b in rows]):.4f}" + ("" if passed else "   (misses the 90%)"))
    print(f"\nlargest γ meeting ≥ 90% in every setting: {chosen}")
    print(f"{time.perf_counter() - began:,.0f} s")


if __name__ == "__main__":
    main()
