"""ImageNet-ReaL paired with ImageNet val: does the effective-robustness interval on ReaL keep its 95%?

Checks by simulation the interval the Robustness section's card beyond the paper states for ReaL
(`core.metrics.effective_robustness.paired_relabelled_accuracy`: one bootstrap of the val images for both
label sets, Efron & Tibshirani 1993, Ch. 6; percentile interval). Each trial draws N val images from a known
model (top-1 `--val` on val, ReaL agreeing with val on `--agree` of the images, a share without ReaL labels),
then computes ER on ReaL = ReaL top-1 − line(val top-1) against a fixed line (slope 0.95, intercept 0.45 on
logit axes, near timm's ReaL line), its 95% interval from `--resamples` paired replicates, and, for
comparison, from independent resamples of the two sets (the earlier scheme). Reports each scheme's coverage
of the true ER (the same quantity computed on the model's true rates) and its median width.

    bash scripts/dev python bench/real_pairing.py [--trials 1000] [--images 10000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from core.metrics.effective_robustness import effective_robustness_replicates, inverse_transform, \
        paired_relabelled_accuracy, transform_accuracy
    from core.metrics.paired import stratified_accuracy

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--val", type=float, default=0.82)
    parser.add_argument("--agree", type=float, default=0.95)
    parser.add_argument("--unlabelled", type=float, default=0.063, help="share of val images without ReaL labels "
                                                                          "(3,163 of 50,000)")
    args = parser.parse_args()
    slope, intercept = 0.95, 0.45
    line = lambda acc: inverse_transform(intercept + slope * transform_accuracy(acc))  # noqa: E731
    # the true rates: ReaL's hit equals val's on `agree` of the images; P(real hit) = val·agree + (1−val)(1−agree)
    true_real = args.val * args.agree + (1 - args.val) * (1 - args.agree)
    truth = true_real - float(line(args.val))
    rng = np.random.default_rng(0)
    R = args.resamples
    slopes, intercepts = np.full(R, slope), np.full(R, intercept)
    hits = {"paired": 0, "independent": 0}
    widths = {"paired": [], "independent": []}
    for _ in range(args.trials):
        val = rng.random(args.images) < args.val
        real = np.where(rng.random(args.images) < args.agree, val, ~val).astype(float)
        real[rng.random(args.images) < args.unlabelled] = np.nan
        # cells: distinct (val, real) patterns with their counts
        keys = val.astype(int) * 3 + np.nan_to_num(real, nan=2).astype(int)
        codes, counts = np.unique(keys, return_counts=True)
        cell_val = (codes // 3).astype(float)[:, None]
        cell_real = np.where(codes % 3 == 2, np.nan, codes % 3).astype(float)[:, None]
        seed = int(rng.integers(2**31))
        _, val_reps, _, real_reps = paired_relabelled_accuracy(cell_val, cell_real, counts, n_resamples=R, seed=seed)
        paired = effective_robustness_replicates(val_reps[0], real_reps[0], slopes, intercepts)
        labelled = ~np.isnan(cell_real[:, 0])
        _, alone_val = stratified_accuracy(cell_val, counts, n_resamples=R, seed=seed + 1)
        _, alone_real = stratified_accuracy(cell_real[labelled], counts[labelled], n_resamples=R, seed=seed + 2)
        independent = effective_robustness_replicates(alone_val[0], alone_real[0], slopes, intercepts)
        for name, reps in (("paired", paired), ("independent", independent)):
            low, high = np.percentile(reps, [2.5, 97.5])
            hits[name] += low <= truth <= high
            widths[name].append(high - low)
    print(f"{args.trials} trials of {args.images:,} images; val top-1 {args.val:.0%}, ReaL agrees on {args.agree:.0%}, "
          f"{args.unlabelled:.1%} without ReaL labels; true ER on ReaL {truth:+.4f}\n")
    print("| scheme | coverage of the true ER (nominal 95%) | median width (pp) |")
    print("|---|---|---|")
    for name in hits:
        print(f"| {name} | {hits[name] / args.trials:.1%} | {100 * np.median(widths[name]):.2f} |")


if __name__ == "__main__":
    main()
