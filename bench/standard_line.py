"""The standard line on timm's published tables: how much the fit choice moves the line's prediction.

Reproduces the table of issue #32: the line's prediction of shifted top-1 at an ImageNet top-1 of 85.7% (the
paper's supervised models), fitted on every timm checkpoint vs on the ImageNet-1k-trained ones only (Taori et al.,
NeurIPS 2020, Sec. 3, https://arxiv.org/abs/2007.00644), one point per checkpoint, with the bootstrap band over
resampled checkpoints. Reads the published tables where `python -m core download timm-results openclip-results`
put them (set BAE_DATA_DIR to read another folder).

    bash scripts/dev python bench/standard_line.py [--at 0.857] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from core.analysis.accuracy_line import FIT_ON, LINE_SETS, population_lines
    from core.data.population import checkpoints, population
    from core.metrics.effective_robustness import _predict

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--at", type=float, default=0.857, help="ImageNet top-1 (fraction) to predict at")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    table = population()
    names = checkpoints(table)
    timm = names[names["publisher"] == "timm"]
    print(f"{len(timm):,} timm checkpoints ({int((timm['sizes'].str.contains(',')).sum()):,} at two or more sizes); "
          "pretraining: " + ", ".join(f"{k} {v:,}" for k, v in timm["pretraining"].value_counts().items()))
    lines = {fit_on: population_lines(table, fit_on=fit_on, n_resamples=args.resamples) for fit_on in FIT_ON}
    print(f"\nThe line's prediction at ImageNet top-1 {args.at:.1%} (95% band over resampled checkpoints)\n")
    print("| set | " + " | ".join(f"{FIT_ON[k]}" for k in FIT_ON) + " | in1k − every timm (pp) |")
    print("|---|" + "---|" * (len(FIT_ON) + 1))
    for benchmark in LINE_SETS:
        cells, predicted = [], {}
        for fit_on, found in lines.items():
            line = found.get(benchmark)
            if line is None:
                cells.append("—")
                continue
            value = float(line.fit.predict(args.at))
            draws = _predict(line.slopes, line.intercepts, [args.at], line.fit.transform)[:, 0]
            low, high = sorted(draws)[int(0.025 * len(draws))], sorted(draws)[int(0.975 * len(draws)) - 1]
            predicted[fit_on] = value
            cells.append(f"{value:.1%} [{low:.1%}, {high:.1%}] (n={len(line.imagenet):,})")
        shift = (predicted["in1k"] - predicted["timm"]) * 100 if {"in1k", "timm"} <= set(predicted) else float("nan")
        print(f"| {benchmark} | " + " | ".join(cells) + f" | {shift:+.1f} |")


if __name__ == "__main__":
    main()
