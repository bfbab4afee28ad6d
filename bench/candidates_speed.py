"""Candidates: how long the shortlist takes on the full published tables (goal: at most 1 s, CLI and page click,
without importing torch).

Needs the real pinned downloads in BAE_DATA_DIR (`python -m core download timm-results openclip-results
timm-benchmarks`, about 1.5 MB; or the same files from timm's and open_clip's repositories at the pinned commits).
Times, each in fresh processes, medians over `--repeat`:

- cli_s: `python -m core task candidates NAME …` from process start to exit (wall clock), for three constraint sets;
  and whether torch (or timm, open_clip) was imported.
- first_s: the first `shortlist()` in a process that has already imported what a page has (pandas, numpy): the cost
  of the page's first click (the tables read and parsed).
- warm_s: a second click with other constraints (the tables cached in the process).
- apptest_click_rerun_s: in the app (Streamlit's AppTest, the Your task page with no task stored), each Shortlist
  click's whole rerun of the page script, the first one included.

    BAE_DATA_DIR=/tmp/published-data bash scripts/dev python bench/candidates_speed.py [--repeat 5]

CPU time (user + sys) is printed too: on a shared machine the wall clock also counts other processes' turns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = (["--top", "12"], ["--max-params", "30", "--min-speed", "50", "--on", "i7-12700h"],
        ["--pretraining", "in1k,in22k,clip", "--prior", "shifted", "--top", "8"])
_CLI = ("import sys, time\nfrom core.cli import main\ncode = main(sys.argv[1:])\n"
        "print('IMPORTED', ','.join(name for name in ('torch', 'timm', 'open_clip') if name in sys.modules), "
        "file=sys.stderr)\nraise SystemExit(code)\n")
_PAGE = ("import json, time, resource\nimport numpy, pandas  # a page has them already\n"
         "from core.task.candidates import Constraints, shortlist\n"
         "began = time.perf_counter(); cpu = resource.getrusage(resource.RUSAGE_SELF)\n"
         "first = shortlist(Constraints())\nfirst_s = time.perf_counter() - began\n"
         "after = resource.getrusage(resource.RUSAGE_SELF)\n"
         "began = time.perf_counter(); shortlist(Constraints(max_params=30, min_speed=50, machine='i7-12700h'))\n"
         "warm_s = time.perf_counter() - began\n"
         "import sys\nprint(json.dumps({'first_s': first_s, 'first_cpu_s': after.ru_utime + after.ru_stime - "
         "cpu.ru_utime - cpu.ru_stime, 'warm_s': warm_s, 'listed': first.considered, "
         "'torch': 'torch' in sys.modules}))\n")


_APP = ("import json, os, sys, tempfile, time\nfrom streamlit.testing.v1 import AppTest\n"
        "os.environ['BAE_RESULTS_DB'] = os.path.join(tempfile.mkdtemp(), 'results.duckdb')\n"
        "at = AppTest.from_file('app.py', default_timeout=300).run()\nat.switch_page('views/task.py').run()\n"
        "clicks = []\nfor top in (12, 8, 12):\n"
        "    at.slider(key='task_cand_top').set_value(top)\n"
        "    button = next(b for b in at.button if b.label == 'Shortlist')\n"
        "    began = time.perf_counter(); button.click().run(); clicks.append(time.perf_counter() - began)\n"
        "    assert not at.exception, at.exception\n"
        "rows = next(len(f.value) for f in at.dataframe if 'checkpoint' in f.value.columns)\n"
        "print(json.dumps({'clicks_s': clicks, 'rows': rows, 'torch': 'torch' in sys.modules}))\n")
"""The page itself (AppTest, no task stored: the panel shows in the empty state): three Shortlist clicks, each a
full rerun of the page script."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_once(args: list[str]) -> dict:
    before = _children_cpu()
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CLI, "task", "candidates", "bench_task", *args], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"candidates {' '.join(args)} failed: {done.stderr[-800:]}")
    imported = next(line for line in done.stderr.splitlines() if line.startswith("IMPORTED")).split(" ", 1)[-1]
    return {"wall_s": wall, "cpu_s": _children_cpu() - before, "heavy_imports": imported.strip(),
            "rows": sum(1 for line in done.stdout.splitlines() if "  [T]  " in line or "  [O]  " in line)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from core.data.catalogue import read_catalogue

    print(f"published checkpoints listed: {len(read_catalogue()):,} (BAE_DATA_DIR={os.environ.get('BAE_DATA_DIR')})")
    for constraint in ARGS:
        runs = [cli_once(constraint) for _ in range(args.repeat)]
        print(json.dumps({"cli": " ".join(constraint), "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
                          "wall_s_max": round(max(r["wall_s"] for r in runs), 3),
                          "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
                          "rows": runs[0]["rows"], "heavy_imports": runs[0]["heavy_imports"] or "none"}))
    pages = []
    for _ in range(args.repeat):
        done = subprocess.run([sys.executable, "-c", _PAGE], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            raise SystemExit(done.stderr[-800:])
        pages.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps({"page_first_click_s_median": round(statistics.median(p["first_s"] for p in pages), 3),
                      "page_first_click_cpu_s_median": round(statistics.median(p["first_cpu_s"] for p in pages), 3),
                      "page_next_click_s_median": round(statistics.median(p["warm_s"] for p in pages), 4),
                      "torch_imported": any(p["torch"] for p in pages)}))
    done = subprocess.run([sys.executable, "-c", _APP], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-800:])
    app = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({"apptest_click_rerun_s": [round(value, 3) for value in app["clicks_s"]], "rows": app["rows"],
                      "torch_imported_by_the_page": app["torch"]}))


if __name__ == "__main__":
    main()
