"""A real race on this machine: `task run --race` against the full `task run`, wall time and forward passes.

Usage:
    HF_HOME=/tmp/hf bash scripts/dev python bench/race_real.py [--models effnet_lite0,vit_sup,convnext_clip]
        [--per-class 40] [--first 50]

The task is scikit-learn's handwritten digits at 224 px (`tests.fixtures.task_folders.digits_folder`), 10
classes × `--per-class` images (30% test), with the default shots and draws, `--corruptions` × 3 severities.
Each mode runs in a fresh process with its own results store and cache folder (no zero-shot head or feature
reused across modes): first the race (`core.task.race.race_task`, round 1 on `--first` test images), then the
full run of every model. Models with random weights (`python ../shared/tools/random_paper_weights.py /tmp/hf`,
then HF_HOME=/tmp/hf) load through the app's real path and cost what the real ones cost; their zero-shot heads
are at chance, but a linear probe on random convolutional features can be strong on simple images such as these
digits, so which model wins is not known in advance. The table gives wall time, forward passes and each mode's
pick.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder


def _one(args) -> None:
    """One mode in this process: add the task, run it (race or full), print a JSON line of what it did."""
    from core.store import ResultsStore
    from core.task import scan_task
    from core.task.decision import decision_card
    from core.task.measures import read_task
    from core.task.race import race_task
    from core.task.run import run_task

    work = Path(args.work)
    store = ResultsStore(Path(os.environ["BAE_RESULTS_DB"]))
    store.add_task(*scan_task("digits", work / "images", templates=work / "templates.txt"))
    models = args.models.split(",")
    corruptions = tuple(args.corruptions.split(","))
    began = time.perf_counter()
    if args.mode == "race":
        summary = race_task("digits", models, shots=(1, 2, 4, 8, 16), corruptions=corruptions, severities=(1, 3, 5),
                            store=store, device="cpu", say=lambda line: print(line, file=sys.stderr),
                            first=args.first)
        passes, extra = summary.race_passes, {"full_passes": summary.full_passes, "drops": summary.drops,
                                              "survivors": summary.survivors}
    else:
        summary = run_task("digits", models, shots=(1, 2, 4, 8, 16), corruptions=corruptions, severities=(1, 3, 5),
                           store=store, device="cpu", say=lambda line: print(line, file=sys.stderr))
        passes, extra = sum(summary.features.values()), {}
    wall = time.perf_counter() - began
    card = decision_card(read_task(store, "digits"), "accuracy")
    print(json.dumps({"mode": args.mode, "wall_s": wall, "passes": passes, "pick": card.top,
                      "p_best": dict(card.p_best), **extra}))


_CORRUPTIONS = ("gaussian_noise", "defocus_blur", "motion_blur", "contrast", "jpeg_compression")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="effnet_lite0,vit_sup,convnext_clip")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--corruptions", default=",".join(_CORRUPTIONS), help="comma-separated (default: the five)")
    parser.add_argument("--mode", choices=["race", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        _one(args)
        return
    from tests.fixtures.task_folders import digits_folder

    work = Path(tempfile.mkdtemp(prefix="race-real-"))
    digits_folder(work / "images", per_class=args.per_class, side=224)
    (work / "templates.txt").write_text("a photo of the number {}.\n")
    results = {}
    for mode in ("race", "full"):
        env = {**os.environ, "BAE_RESULTS_DB": str(work / f"{mode}.duckdb"), "BAE_CACHE_DIR": str(work / f"cache-{mode}")}
        done = subprocess.run([sys.executable, __file__, "--mode", mode, "--work", str(work), "--models", args.models,
                               "--first", str(args.first), "--corruptions", args.corruptions], env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{mode} failed")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        print(done.stderr.strip(), file=sys.stderr)
    race, full = results["race"], results["full"]
    print(f"digits task, {args.per_class} images × 10 classes at 224 px; models {args.models}; corruptions "
          f"{args.corruptions} × severities 1,3,5; race round 1 on {args.first} test images; torch on CPU, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| | wall time (s) | forward passes | pick (accuracy) |\n|---|---|---|---|")
    for name, result in (("race", race), ("full run", full)):
        print(f"| {name} | {result['wall_s']:,.0f} | {result['passes']:,} | {result['pick']} |")
    print(f"| race / full | {race['wall_s'] / full['wall_s']:.0%} | {race['passes'] / full['passes']:.0%} | "
          f"{'same' if race['pick'] == full['pick'] else 'different'} |")
    print("dropped: " + "; ".join(f"{d['candidate']} in round {d['round']} ({d['n']} images, "
                                 f"{d['difference'] * 100:+.1f} pp)" for d in race["drops"]))
    print("P(best), full run: " + ", ".join(f"{name} {share:.2f}" for name, share in full["p_best"].items()))


if __name__ == "__main__":
    main()
