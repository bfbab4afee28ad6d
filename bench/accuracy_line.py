"""Accuracy on the line: what the Robustness page's population chart costs on a store of the full study.

Opens the Robustness page with Streamlit's AppTest on a full-study store (bench/paper_scale.py builds one) with
the published population downloaded (`python -m core download timm-results openclip-results`), then times: the
first open (the ImageNet-1k-trained line), one model fewer, the line fitted on every published model, and
back (cached). Also the parts: reading
the population, the lines' bootstrap (1,000 refits per set), the effective robustness table, the chart's spec
size. Each pass runs in a fresh process; medians over passes.

    BAE_DATA_DIR=<folder with published/> bash scripts/dev python bench/accuracy_line.py \
        --store /tmp/paper_scale/results.duckdb [--repeat 3]

The store's predictions are synthetic (timing only): never report them as results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _time(function) -> tuple[float, object]:
    began = time.perf_counter()
    value = function()
    return time.perf_counter() - began, value


def one_pass(store: Path) -> dict:
    from streamlit.testing.v1 import AppTest

    from core.analysis.accuracy_line import effective_robustness_table, population_lines
    from core.data.population import population

    os.environ["BAE_RESULTS_DB"] = str(store)
    row = {}
    row["read_population_s"], table = _time(population)
    row["population_rows"] = len(table)
    row["lines_bootstrap_s"], lines = _time(lambda: population_lines(table))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    row["first_open_s"], _ = _time(lambda: at.switch_page("views/robustness.py").run())
    row["exception"] = at.exception[0].value if at.exception else ""
    ours = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    row["er_rows"] = len(ours)
    widget = at.multiselect(key="robustness_models")
    widget.set_value(list(widget.value)[:-1])
    row["one_model_fewer_s"], _ = _time(at.run)
    at.radio(key="robustness_fit_on").set_value("all")
    row["fit_on_all_s"], _ = _time(at.run)
    at.radio(key="robustness_fit_on").set_value("in1k")  # the default line again: cached
    row["fit_on_in1k_again_s"], _ = _time(at.run)
    row.update(_chart_cost(table, lines))
    return row


def _chart_cost(table, lines) -> dict:
    """Building the chart's spec (what the page caches) and its size with four models placed on the lines."""
    import pandas as pd

    from core.analysis.accuracy_line import LINE_SETS, effective_robustness_table, line_bands
    from core.analysis.line_chart import accuracy_on_the_line

    models = [f"model {i}" for i in range(4)]
    ours = pd.DataFrame([{"model": m, "benchmark": b, "accuracy": 0.6 + 0.05 * i, "ci_low": 0.59 + 0.05 * i,
                          "ci_high": 0.61 + 0.05 * i, "n": 10_000} for i, m in enumerate(models)
                         for b in ("imagenet-val", *LINE_SETS)])
    began = time.perf_counter()
    er = effective_robustness_table(ours, lines).assign(label=lambda f: f["model"])
    er_s = time.perf_counter() - began
    bands = line_bands(lines, 0.001, 0.99)
    began = time.perf_counter()
    chart = accuracy_on_the_line(table[["benchmark", "kind", "point", "imagenet", "shifted"]], bands, er,
                                 pd.DataFrame(columns=["label", "benchmark", "imagenet", "shifted", "tag"]),
                                 labels=models, kinds=sorted(set(table["kind"])),
                                 set_labels={key: key for key in LINE_SETS})
    spec = json.dumps(chart.to_dict(validate=False))
    return {"er_table_4_models_s": er_s, "chart_spec_build_s": time.perf_counter() - began,
            "chart_spec_kib": len(spec) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/paper_scale/results.duckdb"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_pass(args.store)), flush=True)
        return
    passes = []
    for _ in range(args.repeat):
        env = {**os.environ, "BAE_CACHE_DIR": str(args.store.parent / "cache")}
        output = subprocess.run([sys.executable, __file__, "--store", str(args.store), "--one"], env=env, cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout
        passes.append(json.loads([line for line in output.splitlines() if line.startswith("{")][-1]))
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.repeat} pass(es), medians\n")
    print("| step | seconds or size |\n|---|---|")
    for name in passes[0]:
        values = [p[name] for p in passes]
        shown = f"{np.median(values):.2f}" if isinstance(values[0], float) else values[0]
        print(f"| {name} | {shown} |")


if __name__ == "__main__":
    main()
