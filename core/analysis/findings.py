"""The findings as tables and charts, shared by the Findings page and the exports: our numbers beside
the paper's, the runs that fed each claim, and each claim's evidence chart."""

from __future__ import annotations

import math

from core.analysis.claims import PAPER_MODELS, ClaimResult, Part
from core.metrics.paired import COMBINATION_RULE

__all__ = ["paper_reference", "SOURCE_LABELS", "model_labels", "numbers_table", "runs_table", "evidence_chart",
           "part_line", "difference_line", "claim_rule", "VERDICT_RULE"]

VERDICT_RULE = ("Each part is decided on the difference it states, with its 95% bootstrap interval, paired over "
                "the same images wherever both sides were measured on them. " + COMBINATION_RULE)
"""The verdict rule in words, for the Findings page, the HTML report and the deck."""


def paper_reference(claim_key: str):
    """The paper's value per model for a claim's measure (model, paper, tag, paper_source); empty if it
    published none. Means over figure-estimated values keep the [E] tag and say so."""
    import pandas as pd

    from core.paper import paper_values

    def mean_of(metric: str, what: str):
        values = paper_values(metric)
        if values.empty:
            return pd.DataFrame(columns=["model", "paper", "tag", "paper_source"])
        grouped = values.groupby("model", sort=False).agg(paper=("value", "mean"), tag=("tag", "first")).reset_index()
        return grouped.assign(paper_source=f"mean of the paper's {what} (each {values['source'].iloc[0]})")

    def single(metric: str, key: str):
        values = paper_values(metric)
        values = values[values["key"] == key]
        return values.rename(columns={"value": "paper", "source": "paper_source"})[["model", "paper", "tag",
                                                                                    "paper_source"]]

    if claim_key == "mistakes":
        return mean_of("imagenet_x_error_ratio", "16 per-factor error ratios")
    if claim_key == "texture":
        return single("imagenet_x_error_ratio", "texture")
    if claim_key == "calibration":
        return single("ece", "imagenet-val")
    if claim_key == "robustness":
        return single("robustness_top1", "average")
    if claim_key == "shape_bias":
        return single("shape_bias", "cue-conflict")
    if claim_key == "pug":
        return mean_of("pug_top1", "per-factor top-1")
    return pd.DataFrame(columns=["model", "paper", "tag", "paper_source"])


SOURCE_LABELS = {"ours": "our run", "authors": "authors' released decisions", "humans": "human observers"}


def model_labels() -> dict[str, str]:
    """{model key: display label} from the registry (keys for anything it does not list)."""
    from core.models import registry

    specs, _ = registry()
    return {spec.name: spec.display for spec in specs}


def _side_name(estimate, labels: dict[str, str]) -> str:
    return labels.get(estimate.label, estimate.label) if estimate is not None else "?"


def difference_line(part: Part, labels: dict[str, str] | None = None) -> str:
    """"A − B = +0.041 [+0.006, +0.074], paired over 1,200 images" for a part's difference ('' without one);
    where Holm's correction is what keeps a part from *contradicted*, its adjusted p-value too."""
    diff = part.difference
    if diff is None or math.isnan(diff.value) or math.isnan(diff.ci_low):
        return ""
    labels = labels if labels is not None else model_labels()
    a_name, b_name = part.sides or (_side_name(part.a, labels), _side_name(part.b, labels))
    line = f"{a_name} − {b_name} = {diff.value:+.3f} [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}], {diff.method}"
    if part.verdict == "inconclusive" and (diff.ci_low > 0 or diff.ci_high < 0):
        line += f" (Holm-adjusted p = {part.adjusted_p:.2f} over the claim's parts)"
    return line


def claim_rule(result: ClaimResult) -> str:
    """How this claim's parts were combined, in one sentence for its card."""
    n = len(result.parts)
    if n == 1:
        return "Decided on the difference's 95% interval (contradicted also needs p < 0.05)."
    return (f"Each part on its difference's 95% interval; reproduced only if all {n} parts are, contradicted if one "
            f"is at a Holm-adjusted p < 0.05 over the {n}.")


def part_line(part: Part, labels: dict[str, str] | None = None) -> str:
    """A part in one line: what it states, the two values with their 95% intervals, and the difference."""
    line = part.text
    if part.a is not None and part.b is not None:
        line += (f" ({part.a.value:.3f} [{part.a.ci_low:.3f}, {part.a.ci_high:.3f}] vs {part.b.value:.3f} "
                 f"[{part.b.ci_low:.3f}, {part.b.ci_high:.3f}])")
    difference = difference_line(part, labels)
    return line + (f": {difference}" if difference else "")


def _ordered(frame, column: str = "model"):
    order = {m: i for i, m in enumerate(PAPER_MODELS)}
    return frame.assign(_o=frame[column].map(order).fillna(99)).sort_values("_o", kind="stable").drop(columns="_o")


def numbers_table(result: ClaimResult, labels: dict[str, str] | None = None):
    """Our number per model with its 95% interval, what fed it, and the paper's value with its tag."""
    import pandas as pd

    labels = labels or model_labels()
    numbers = result.numbers
    columns = ["model", "ours", "95% interval", "n", "from", "paper", "paper tag"]
    if numbers is None or len(numbers) == 0:
        return pd.DataFrame(columns=columns)
    if "kind" in numbers:
        numbers = numbers.assign(model_key=numbers["model"])
    paper = paper_reference(result.claim.key)
    merged = _ordered(numbers).merge(paper, on="model", how="left")
    rows = []
    for row in merged.to_dict("records"):
        name = labels.get(row["model"], row["model"]) + (f" · {row['kind']}" if "kind" in row else "")
        rows.append({"model": name, "ours": round(float(row["value"]), 4),
                     "95% interval": f"{row['ci_low']:.4f} – {row['ci_high']:.4f}", "n": int(row.get("n", 0) or 0),
                     "from": SOURCE_LABELS.get(row.get("source", "ours"), row.get("source", "ours")),
                     "paper": None if pd.isna(row.get("paper")) else round(float(row["paper"]), 4),
                     "paper tag": None if pd.isna(row.get("tag")) else f"[{row['tag']}]"})
    return pd.DataFrame(rows, columns=columns)


def runs_table(result: ClaimResult):
    """The runs that fed a card: run id, model, benchmark, source (ours vs authors), protocol, weights."""
    import pandas as pd

    runs = result.runs
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=["run_id", "model", "benchmark", "source"])
    if "probe_id" in runs:
        keep = [c for c in ("probe_id", "model", "dataset", "convention", "protocol", "data_fingerprint") if c in runs]
        return runs[keep].assign(source="ours").reset_index(drop=True)
    keep = [c for c in ("run_id", "model", "benchmark", "variant", "source", "protocol", "weights_key",
                        "preprocess_key", "data_fingerprint", "packages") if c in runs]
    return runs[keep].reset_index(drop=True)


def evidence_chart(result: ClaimResult, labels: dict[str, str] | None = None):
    """The claim's evidence, drawn by the analysis page's own chart builder; None when there is no data."""
    from core.analysis import charts
    from core.data.imagenet_x import FACTORS
    from core.paper import paper_values

    labels = labels or model_labels()
    key = result.claim.key
    table = result.chart_table if result.chart_table is not None else result.numbers
    if table is None or len(table) == 0:
        return None
    table = _ordered(table.copy())
    table["label"] = table["model"].map(lambda m: labels.get(m, m))

    def reference(metric, column, keys=None):
        ref = paper_values(metric)
        ref = ref[ref["model"].isin(set(table["model"]))]
        if keys is not None:
            ref = ref[ref["key"].isin(keys)]
        return ref.assign(label=ref["model"].map(lambda m: labels.get(m, m)), **{column: ref["key"]})

    if key in ("mistakes", "texture"):
        return charts.grouped_bars(table, x="factor", order=[*FACTORS, "mean"], value="error_ratio",
                                   title="error ratio", reference=reference("imagenet_x_error_ratio", "factor"),
                                   percent=False, label_angle=-40, baseline=1.0)
    if key == "calibration":
        ref = reference("ece", "measure", ["imagenet-val"]).assign(measure="ECE, ImageNet val")
        return charts.grouped_bars(table.assign(measure="ECE, ImageNet val"), x="measure", order=None, value="value",
                                   title="expected calibration error", reference=ref, percent=False)
    if key == "robustness":
        present = [b for b in ("imagenet-val", *result.extra.get("shifted", ())) if b in set(table["benchmark"])] \
            or list(dict.fromkeys(table["benchmark"]))
        return charts.grouped_bars(table, x="benchmark", order=present, value="accuracy", title="top-1",
                                   reference=reference("robustness_top1", "benchmark", present), label_angle=-30)
    if key == "shape_bias":
        overall = table.rename(columns={"value": "shape_bias"})
        overall["label"] = [labels.get(m, m) + (" · authors' release" if s == "authors" else " · measured")
                            for m, s in zip(overall["model"], overall["source"])]
        by_model = dict(zip(overall["model"], overall["label"]))
        ref = paper_values("shape_bias")
        ref = ref[ref["model"].isin(by_model)]
        ref = ref.assign(label=ref["model"].map(by_model))
        return charts.shape_bias_overall(overall, ref)
    if key == "pug":
        from core.data.pug import PUG_FACTORS

        return charts.grouped_bars(table, x="condition", order=list(PUG_FACTORS), value="accuracy", title="top-1",
                                   reference=reference("pug_top1", "condition"), label_angle=-30)
    if key == "transfer":
        table = table.assign(setting=table["dataset"] + table["convention"].fillna("").str.startswith("VTAB").map(
            {True: " · VTAB-1k", False: ""}))
        return charts.grouped_bars(table, x="setting", order=None, value="test_accuracy", title="test accuracy")
    if key == "invariance":
        return charts.grouped_bars(table, x="kind", order=["scale", "shift", "resolution"], value="value",
                                   title="mean top-1 over the settings")
    if key == "effective_robustness":  # the claim beyond the paper (core.analysis.beyond)
        from core.analysis.beyond import effective_robustness_chart

        return effective_robustness_chart(table, labels)
    return None
