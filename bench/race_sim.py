"""Simulate the task race, P(best) and the settle sentence on tasks with a known best candidate.

Usage:
    bash scripts/dev python bench/race_sim.py [--tasks 200] [--candidates 12] [--per-class 100] [--classes 20]

Each simulated task is the default folder task of `--classes` × `--per-class` images (30% test, the rest
train + validation: `core.task.folder`'s split), scored by `--candidates` candidates, each its own model:

- accuracies spread like real candidates on a small task: the best in U(0.70, 0.95); `--near-ties` (2) candidates
  0–1.5 pp behind it, which no run of this size separates; the others 1.5–30 pp behind (uniform);
- correlated errors: candidate j is right on image i when a_j + z_i + e_ij > 0 (z_i ~ N(0, 1) the image's
  shared difficulty, e_ij ~ N(0, 1) the candidate's own noise; a_j = Φ⁻¹(p_j) √2 gives accuracy p_j), so
  candidates fail on the same hard images (error consistency κ ≈ 0.3–0.5);
- forward passes per model, as `core.task.race` computes them: the full run computes every clean image (train +
  val + test) and the test images under 15 corrupted conditions; a dropped model computed only the race's k-shot
  training images (`RACE_DRAWS` draw(s) of 16 per class; no CLIP zero-shot head, the dearer case) and the test
  sample of the look that dropped it.

It measures, against the goals of issue 31:
(a) the race (`core.metrics.selection.eliminate` on `race_schedule(n_test, first=100)`, its bounds
    `dunnett_bounds` at each candidate's estimated correlation, or with `--bonferroni` `race_bounds`): its pick
    (the best survivor on every test image) is the full run's pick, or one whose paired 95% bootstrap interval
    against it includes 0 (the card's "cannot separate"), in ≥ 95% of tasks, with ≤ 35% of the full run's forward passes;
    also how often the true best was dropped (the rule's α = 5%);
(b) the reliability of P(best) on the full run's card (`best_share` over 1,000 paired m-out-of-n bootstrap
    replicates, `subsample_weights`, as `core.task.decision` computes it; and, for comparison, over the plain
    n-out-of-n bootstrap) in bins: among candidates with P(best) ≥ 0.9, the true best in ≥ 90%;
(c) the settle sentence: for each pair the full run cannot separate, `mcnemar_sample_size` at the observed
    difference and discordance; `--power-sims` fresh tasks of that many images with those true rates, each
    decided by the card's rule (paired 95% percentile bootstrap interval excludes 0): separated in 80% ± 5%.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder

from core.metrics.paired import resample_weights  # noqa: E402
from core.metrics.selection import (DUNNETT_CAP, PBEST_GAMMA, RACE_RHO, best_share, dunnett_bounds,  # noqa: E402
                                    eliminate, mcnemar_sample_size, race_bounds, race_schedule, subsample_weights)
from core.task.race import RACE_DRAWS  # noqa: E402

CONDITIONS = 15  # 5 corruptions × 3 severities
SHOT, DRAWS = 16, 5


def _accuracies(rng, m: int, near_ties: int) -> np.ndarray:
    best = rng.uniform(0.70, 0.95)
    gaps = np.concatenate([rng.uniform(0.0, 0.015, near_ties), rng.uniform(0.015, 0.30, m - 1 - near_ties)])
    return np.concatenate([[best], best - gaps])


def _outcomes(rng, accuracies: np.ndarray, n: int) -> np.ndarray:
    """(candidates, images) 0/1 with a shared per-image difficulty."""
    a = np.array([NormalDist().inv_cdf(p) for p in accuracies]) * np.sqrt(2)
    z = rng.standard_normal(n)
    return (a[:, None] + z[None, :] + rng.standard_normal((len(a), n)) > 0).astype(np.float64)


def _separated(n10: np.ndarray, n01: np.ndarray, n: np.ndarray, rng, replicates: int = 1000) -> np.ndarray:
    """The card's rule for paired 0/1 outcomes: the 95% percentile interval of the bootstrap difference
    (n10* − n01*) / n excludes 0. Resampling the n images is Multinomial(n, (n10, n01, rest) / n) of the cells."""
    n10, n01, n = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (n10, n01, n))
    cells = np.stack([n10, n01, n - n10 - n01], axis=-1) / n[:, None]
    draws = rng.multinomial(np.broadcast_to(n[:, None], (len(n), replicates)), cells[:, None, :])
    diff = (draws[..., 0] - draws[..., 1]) / n[..., None]
    low, high = np.percentile(diff, [2.5, 97.5], axis=-1)
    return (low > 0) | (high < 0)  # (tasks,)


def simulate(args) -> dict:
    rng = np.random.default_rng(args.seed)
    n_images = args.classes * args.per_class
    n_test = int(round(args.per_class * 0.3)) * args.classes
    n_fit = n_images - n_test
    train_per_class = (args.per_class - n_test // args.classes) * 0.8
    kshot_images = args.classes * train_per_class * (1 - (1 - min(SHOT, train_per_class) / train_per_class)
                                                     ** min(RACE_DRAWS, DRAWS))
    full_cost = n_fit + n_test * (1 + CONDITIONS)
    looks = race_schedule(n_test, first=args.first, growth=args.growth)
    m = args.candidates
    same = dropped_best = 0
    fractions, survivors, pbest, plain, settle = [], [], [], [], []
    for _ in range(args.tasks):
        acc = _accuracies(rng, m, args.near_ties)
        correct = _outcomes(rng, acc, n_test)
        alive, cost = np.ones(m, bool), np.zeros(m)
        for look, size in enumerate(looks):  # the test images come in a random order: a sample is a prefix
            alive, drops = eliminate(correct[:, :size], alive, look=look, looks=looks, rho=args.rho,
                                     joint=not args.bonferroni)
            for drop in drops:
                cost[drop.candidate] = kshot_images + size
        cost[alive] = full_cost
        fractions.append(cost.sum() / (m * full_cost))
        survivors.append(int(alive.sum()))
        dropped_best += not alive[0]
        means = correct.mean(axis=1)
        full_pick = int(np.argmax(means))
        race_pick = int(np.flatnonzero(alive)[np.argmax(means[alive])])
        if race_pick == full_pick:
            same += 1
        else:
            n10 = int(((correct[full_pick] == 1) & (correct[race_pick] == 0)).sum())
            n01 = int(((correct[full_pick] == 0) & (correct[race_pick] == 1)).sum())
            same += not bool(_separated(np.array(n10), np.array(n01), np.array(n_test), rng))
        # the full run's card: P(best) of every candidate over paired m-out-of-n resamples of the test images (and
        # the plain n-out-of-n bootstrap, which the card used before)
        weights = subsample_weights(n_test, n_resamples=1000, seed=rng, gamma=args.gamma)
        shares = best_share((weights @ correct.T / weights.sum(axis=1, keepdims=True)).T)
        pbest += [(share, j == 0, acc[0] - acc[j]) for j, share in enumerate(shares)]
        weights = resample_weights(n_test, n_resamples=1000, seed=rng)
        plain += [(share, j == 0) for j, share in enumerate(best_share((weights @ correct.T / n_test).T))]
        for j in range(m):  # pairs (full pick, j) the card cannot separate: the settle sentence
            if j == full_pick:
                continue
            n10 = int(((correct[full_pick] == 1) & (correct[j] == 0)).sum())
            n01 = int(((correct[full_pick] == 0) & (correct[j] == 1)).sum())
            if n10 > n01 and not _separated(np.array(n10), np.array(n01), np.array(n_test), rng):
                settle.append((n10 / n_test, n01 / n_test))
    return {"n_test": n_test, "looks": looks, "full_cost": full_cost, "kshot_images": kshot_images,
            "same": same, "dropped_best": dropped_best, "fractions": np.array(fractions),
            "survivors": np.array(survivors), "pbest": pbest, "plain": plain, "settle": settle,
            "bounds": race_bounds(looks, 0.05, m, rho=args.rho),
            "joint": dunnett_bounds(looks, 0.05, m, DUNNETT_CAP, rho=args.rho)}


def power_check(settle: list, sims: int, rng) -> tuple[int, float, list]:
    """Each stated (p10, p01): `sims` tasks of the stated size with those rates, decided by the card's rule."""
    separated, rows = [], []
    for p10, p01 in settle:
        n = int(mcnemar_sample_size(p10 - p01, p10 + p01))
        counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=sims)
        hits = _separated(counts[:, 0], counts[:, 1], np.full(sims, n), rng)
        separated.append(hits.mean())
        rows.append((p10 - p01, p10 + p01, n, hits.mean()))
    return len(settle), float(np.mean(separated)) if separated else float("nan"), rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--first", type=int, default=100, help="images at the race's first look")
    parser.add_argument("--near-ties", type=int, default=2, help="candidates 0-1.5 pp behind the best, per task")
    parser.add_argument("--growth", type=float, default=2.0, help="each look's sample over the previous one's")
    parser.add_argument("--power-sims", type=int, default=200)
    parser.add_argument("--rho", type=float, default=RACE_RHO, help="the race's spending exponent (core's default)")
    parser.add_argument("--gamma", type=float, default=PBEST_GAMMA, help="P(best)'s m = n^gamma (core's default)")
    parser.add_argument("--bonferroni", action="store_true",
                        help="the race's multiplicity over candidates: Bonferroni, not the joint (Dunnett) bounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    found = simulate(args)
    tasks = args.tasks
    fractions = found["fractions"]
    print(f"{tasks} simulated tasks × {args.candidates} candidates; {found['n_test']} test images, looks "
          f"{found['looks']} ({'Bonferroni' if args.bonferroni else 'joint, Dunnett-type'} over candidates; bounds: "
          f"Bonferroni {', '.join(f'{c:.2f}' for c in found['bounds'])}, joint at r = {DUNNETT_CAP:g} "
          f"{', '.join(f'{c:.2f}' for c in found['joint'])}); a model's full run = "
          f"{found['full_cost']:,.0f} forward passes, a dropped one's k-shot images ≈ {found['kshot_images']:,.0f} + "
          f"its looks' sample; {args.near_ties} near-tie(s) per task; seed {args.seed}")
    print("\n(a) race vs full run")
    print(f"  {'race pick = full pick, or not separable from it':<52}{found['same']:>5}/{tasks} = "
          f"{found['same'] / tasks:.1%}   goal ≥ 95%")
    print(f"  {'forward passes, race / full run (mean)':<52}{fractions.mean():>14.1%}   goal ≤ 35%  "
          f"(median {np.median(fractions):.1%}, max {fractions.max():.1%})")
    print(f"  {'survivors per task (mean; min–max)':<52}{found['survivors'].mean():>14.2f}   "
          f"({found['survivors'].min()}–{found['survivors'].max()})")
    dropped_share = fractions - found["survivors"] / args.candidates
    print(f"  {'… of which: survivors (full runs) / dropped ones':<52}{(found['survivors'] / args.candidates).mean():>14.1%}"
          f" / {dropped_share.mean():.1%}")
    print(f"  {'true best dropped (the rule bounds it by 5%)':<52}{found['dropped_best']:>5}/{tasks} = "
          f"{found['dropped_best'] / tasks:.1%}")
    shares = np.array([s for s, _, _ in found["pbest"]])
    truth = np.array([t for _, t, _ in found["pbest"]])
    gaps = np.array([g for _, _, g in found["pbest"]])
    plain = np.array([s for s, _ in found["plain"]])
    print(f"\n(b) reliability of P(best) on the full run's card (every candidate of every task): m-out-of-n bootstrap, "
          f"m = ⌈n^{args.gamma:g}⌉ (the card's), and the plain n-out-of-n bootstrap")
    print(f"  {'P(best) bin':<16}{'m-of-n: cands':>14}{'mean P':>8}{'true best':>11}{'n-of-n: cands':>15}{'mean P':>8}"
          f"{'true best':>11}")
    for low, high in [(0, 0.05), (0.05, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.0001)]:
        cells = []
        for values in (shares, plain):
            inside = (values >= low) & (values < high)
            cells.append(f"{inside.sum():>14}{values[inside].mean():>8.3f}{truth[inside].mean():>11.1%}" if inside.any()
                         else f"{0:>14}{'—':>8}{'—':>11}")
        print(f"  [{low:.2f}, {min(high, 1):.2f}{']' if high > 1 else ')'}{'':<3}{cells[0]} {cells[1]}")
    for label, values in (("m-out-of-n", shares), ("n-out-of-n", plain)):
        top = values >= 0.9
        print(f"  {label}: P(best) ≥ 0.9: {top.sum()} candidates, the true best in "
              f"{truth[top].mean() if top.any() else float('nan'):.1%}   goal ≥ 90%; Brier score "
              f"{np.mean((values - truth) ** 2):.4f}")
    missed = (shares >= 0.9) & ~truth
    if missed.any():
        print(f"  … m-out-of-n: the {missed.sum()} others were {np.median(gaps[missed]) * 100:.2f} pp (median; max "
              f"{gaps[missed].max() * 100:.2f} pp) below the true best")
    count, rate, rows = power_check(found["settle"], args.power_sims, np.random.default_rng(args.seed + 1))
    print(f"\n(c) the settle sentence: {count} pairs the full run could not separate; {args.power_sims} fresh tasks "
          "each at the stated size")
    if rows:
        sizes = np.array([n for _, _, n, _ in rows])
        print(f"  stated sizes: median {np.median(sizes):,.0f} images (min {sizes.min():,}, max {sizes.max():,})")
        for label, chosen in (("stated n < 500", sizes < 500), ("stated n ≥ 500", sizes >= 500)):
            if chosen.any():
                print(f"  {label:<16} {chosen.sum():>4} pairs, separated in "
                      f"{np.mean([r[3] for r, c in zip(rows, chosen) if c]):.1%}")
    print(f"  separated at the stated size: {rate:.1%}   goal 80% ± 5%")
    print(f"\n{time.perf_counter() - began:,.0f} s")


if __name__ == "__main__":
    main()
