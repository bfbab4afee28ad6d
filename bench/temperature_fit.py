"""Temperature scaling of one run: time and peak memory of the fit the app and `evaluate` use
(`core.metrics.fit_temperature`: Newton steps on 1/T over float32 row chunks) against the fit it
replaced (scipy's bounded `minimize_scalar` over a float64 copy of the logits), on the same n × 1000
float16-exact logits. Each method runs in its own process, so each peak RSS is its own.

    bash scripts/dev python bench/temperature_fit.py [--images 50000]

Prints seconds, peak RSS above the logits already in memory, and T / held-out ECE of both.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _logits(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 1000, n)
    logits = np.empty((n, 1000), dtype=np.float32)
    for start in range(0, n, 1000):  # in chunks: the baseline is the matrix, not a float64 temporary
        block = 2 * rng.standard_normal((min(1000, n - start), 1000), dtype=np.float32)
        block[np.arange(len(block)), labels[start:start + len(block)]] += rng.normal(5, 2, len(block)).astype(np.float32)
        logits[start:start + len(block)] = block.astype(np.float16)  # what the store keeps
    return logits, labels


def _previous_fit(logits, labels, *, seed: int = 0, n_bins: int = 15) -> tuple[float, float]:
    """The fit before issue 7 (float64, scipy bounded search over log T): (T, held-out ECE)."""
    from scipy.optimize import minimize_scalar

    from core.metrics import expected_calibration_error
    from core.metrics.calibration import negative_log_likelihood, softmax

    logits = np.asarray(logits, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(labels))
    fit, test = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    result = minimize_scalar(lambda log_t: negative_log_likelihood(logits[fit], labels[fit], temperature=np.exp(log_t)),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    temperature = float(np.exp(result.x))
    probs = softmax(logits[test], temperature=temperature)
    return temperature, expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == labels[test], n_bins=n_bins)


def _one(method: str, n: int) -> dict:
    from core.metrics import fit_temperature

    logits, labels = _logits(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    if method == "new":
        fit = fit_temperature(logits, labels, seed=0)
        temperature, ece = fit.temperature, fit.ece_after
    else:
        temperature, ece = _previous_fit(logits, labels)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "seconds": seconds, "extra_mib": peak - base, "temperature": temperature, "ece": ece}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--method", choices=("new", "previous"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        print(json.dumps(_one(args.method, args.images)))
        return
    for method in ("new", "previous"):
        out = subprocess.run([sys.executable, __file__, "--images", str(args.images), "--method", method],
                             capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{method:>8}: {args.images:,} × 1000 logits, fit on half: {row['seconds']:.2f} s, peak RSS "
              f"+{row['extra_mib']:.0f} MiB above the logits; T = {row['temperature']:.5f}, held-out ECE {row['ece']:.5f}")


if __name__ == "__main__":
    main()
