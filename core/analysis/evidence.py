"""The one place that reads the results store for the findings: tidy evidence frames per claim.

`collect_evidence` picks each claim's runs (our runs under the paper protocol first; for cue-conflict
the authors' released decisions where we have not run a model) and computes the numbers with their
95% intervals through `core.analysis.tables` and `core.metrics`; `assess` hands them to the verdict
rules of `core.analysis.claims`.
"""

from __future__ import annotations

import numpy as np

from core.analysis.claims import (PAPER_MODELS, ClaimResult, claim_calibration, claim_invariance, claim_mistakes,
                                  claim_pug, claim_robustness, claim_shape_bias, claim_texture, claim_transfer)

__all__ = ["collect_evidence", "assess"]


def _latest(runs, benchmark: str, *, source: str = "ours", protocol: str = "paper"):
    """One run per paper model (the latest under `protocol`, else under any protocol)."""
    chosen = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == "") & (runs["source"] == source)
                  & runs["model"].isin(PAPER_MODELS)]
    preferred = chosen[chosen["protocol"] == protocol]
    chosen = preferred if not preferred.empty else chosen
    return chosen.drop_duplicates("model", keep="last")


def _predictions(store, run_ids, columns: tuple[str, ...]):
    import pandas as pd

    if not len(run_ids):
        return pd.DataFrame(columns=["run_id", *columns])
    marks = ", ".join("?" for _ in run_ids)
    return store.query(f"SELECT run_id, {', '.join(columns)} FROM predictions WHERE run_id IN ({marks}) "
                       "AND error IS NULL", list(run_ids))


def collect_evidence(store=None, *, n_resamples: int = 300) -> dict:
    """Tidy evidence frames per claim from the results store, through core.analysis.tables and core.metrics.

    Returns {claim key: (frames..., runs used)} in the shape `assess` takes. Only the paper's four model
    keys count; our runs under the `paper` protocol first; for cue-conflict, a model we have not run
    falls back to the authors' released decisions (labelled as such).
    """
    import pandas as pd

    from core.analysis.tables import (SHIFTED, accuracy_with_interval, condition_accuracy_table, file_names,
                               robustness_table, shape_bias_table)
    from core.metrics import (bootstrap_interval, ece_bootstrap_interval, error_ratio_intervals,
                              expected_calibration_error)
    from core.models.preprocess import parse_variant
    from core.store import ResultsStore

    store = store or ResultsStore()
    runs = store.runs()
    evidence: dict = {}
    if runs.empty:
        return evidence
    runs = runs[runs["status"] == "done"] if "status" in runs else runs

    # ImageNet val: claims 1-3
    val = _latest(runs, "imagenet-val")
    rows = _predictions(store, tuple(val["run_id"]), ("image_id", "pred", "conf", "correct"))
    ratio_frames, ece_rows, gap_rows = [], [], []
    for run in val.itertuples():
        mine = rows[rows["run_id"] == run.run_id]
        if mine.empty:
            continue
        try:
            ratios = error_ratio_intervals(list(file_names(mine["image_id"])), mine["pred"].to_numpy(),
                                           n_resamples=n_resamples)
            ratio_frames.append(ratios.assign(model=run.model, source="ours", run_id=run.run_id))
        except ValueError:
            pass  # not the official val file names: ImageNet-X cannot annotate them
        confidence = mine["conf"].to_numpy(dtype=np.float64)
        correct = mine["correct"].to_numpy(dtype=bool)
        ece = expected_calibration_error(confidence, correct, n_bins=15)
        low, high = ece_bootstrap_interval(confidence, correct, n_bins=15, n_resamples=n_resamples)
        ece_rows.append({"model": run.model, "value": ece, "ci_low": min(low, ece), "ci_high": max(high, ece),
                         "n": len(confidence), "source": "ours", "run_id": run.run_id})
        difference = confidence - correct
        gap = float(difference.mean())
        low, high = bootstrap_interval(lambda i: float(difference[i].mean()), len(difference),
                                       n_resamples=n_resamples)
        gap_rows.append({"model": run.model, "value": gap, "ci_low": min(low, gap), "ci_high": max(high, gap),
                         "n": len(difference), "source": "ours"})
    ratios = pd.concat(ratio_frames, ignore_index=True) if ratio_frames else None
    evidence["mistakes"] = {"ratios": ratios, "runs": val}
    evidence["texture"] = {"ratios": ratios, "runs": val}
    evidence["calibration"] = {"ece": pd.DataFrame(ece_rows) if ece_rows else None,
                               "gap": pd.DataFrame(gap_rows) if gap_rows else None, "runs": val}

    # robustness: claim 4
    robust_runs = pd.concat([_latest(runs, b) for b in ("imagenet-val", *SHIFTED)], ignore_index=True)
    robust_ids = tuple(robust_runs["run_id"])
    robust_counts = store.accuracy_counts(robust_ids, by_condition=True) if robust_ids else None
    real_counts = store.accuracy_counts(robust_ids, real=True) if robust_ids else None
    evidence["robustness"] = {"table": robustness_table(robust_runs, robust_counts, real_counts,
                                                        n_resamples=n_resamples)
                              if robust_counts is not None and len(robust_counts) else None,
                              "shifted": SHIFTED, "runs": robust_runs}

    # cue-conflict: claim 5 (ours first, else the authors' release, per model)
    ours = _latest(runs, "cue-conflict")
    authors = _latest(runs, "cue-conflict", source="authors")
    cue = pd.concat([ours, authors[~authors["model"].isin(ours["model"])]], ignore_index=True)
    decisions = _predictions(store, tuple(cue["run_id"]), ("image_id", "shape", "texture", "decision16"))
    shape = None
    if len(decisions):
        decisions = decisions.merge(cue[["run_id", "model", "source"]], on="run_id")
        decisions = decisions.assign(maker=decisions["model"])
        shape = shape_bias_table(decisions, n_resamples=n_resamples).rename(
            columns={"maker": "model", "shape_bias": "value"})
        shape["n"] = shape["decisions"]
        shape = shape.merge(cue[["model", "source", "run_id"]], on="model")
    evidence["shape_bias"] = {"table": shape, "runs": cue}

    # PUG: claim 6
    pug = _latest(runs, "pug-imagenet")
    pug_rows = _predictions(store, tuple(pug["run_id"]), ("condition", "correct"))
    pug_numbers, pug_chart = None, None
    if len(pug_rows):
        pug_rows = pug_rows.merge(pug[["run_id", "model"]], on="run_id")
        pug_numbers = pd.DataFrame([{"model": model, **accuracy_with_interval(group["correct"].astype(float),
                                                                              n_resamples=n_resamples)}
                                    for model, group in pug_rows.groupby("model", sort=False)])
        pug_numbers = pug_numbers.rename(columns={"accuracy": "value"}).assign(source="ours")
        pug_counts = store.accuracy_counts(tuple(pug["run_id"]), by_condition=True)
        pug_chart = condition_accuracy_table(pug_counts, dict(zip(pug["run_id"], pug["model"])),
                                             n_resamples=n_resamples).rename(columns={"label": "model"})
    evidence["pug"] = {"table": pug_numbers, "chart": pug_chart, "runs": pug}

    # linear probes: claim 7
    probes = store.probes() if "probes" in _tables(store) else pd.DataFrame()
    transfer = None
    if len(probes):
        probes = probes[probes["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "dataset", "convention"],
                                                                           keep="last")
        settings = probes.groupby(["dataset", "convention"])["model"].nunique()
        common = settings[settings == len(PAPER_MODELS)].index
        if len(common):
            used = probes.set_index(["dataset", "convention"]).loc[list(common)].reset_index()
        else:
            used = probes
        transfer = used.groupby("model", sort=False).agg(value=("test_accuracy", "mean"), ci_low=("ci_low", "mean"),
                                                          ci_high=("ci_high", "mean"), n=("n_test", "sum")).reset_index()
        transfer["source"] = "ours"
        evidence["transfer_detail"] = used
    evidence["transfer"] = {"table": transfer, "runs": probes if len(probes) else None}

    # invariance: claim 8 (variant runs of imagenet-val, mean accuracy over each kind's settings)
    variant_runs = runs[(runs["benchmark"] == "imagenet-val") & (runs["variant"] != "") & (runs["source"] == "ours")
                        & runs["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "variant", "protocol"],
                                                                           keep="last")
    invariance = None
    if len(variant_runs):
        variant_rows = _predictions(store, tuple(variant_runs["run_id"]), ("correct",))
        records = []
        for run in variant_runs.itertuples():
            correct = variant_rows.loc[variant_rows["run_id"] == run.run_id, "correct"].astype(float)
            parsed = parse_variant(run.variant)
            if correct.empty or not parsed:
                continue
            records.append({"model": run.model, "kind": parsed[0], "setting": parsed[1],
                            **accuracy_with_interval(correct, n_resamples=n_resamples)})
        if records:
            per_setting = pd.DataFrame(records)
            invariance = per_setting.groupby(["model", "kind"], sort=False).agg(
                value=("accuracy", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                n=("n", "sum"), settings=("setting", "count")).reset_index().assign(source="ours")
    evidence["invariance"] = {"table": invariance, "runs": variant_runs}
    return evidence


def _tables(store) -> set[str]:
    frame = store.query("SELECT table_name FROM information_schema.tables")
    return set(frame["table_name"]) if len(frame) else set()


def assess(evidence: dict) -> list[ClaimResult]:
    """Every claim's result from `collect_evidence`'s frames (missing frames give 'not measured')."""
    get = lambda key, name: (evidence.get(key) or {}).get(name)  # noqa: E731
    results = [claim_mistakes(get("mistakes", "ratios")), claim_texture(get("texture", "ratios")),
               claim_calibration(get("calibration", "ece"), get("calibration", "gap")),
               claim_robustness(get("robustness", "table"), get("robustness", "shifted") or ()),
               claim_shape_bias(get("shape_bias", "table")), claim_pug(get("pug", "table")),
               claim_transfer(get("transfer", "table")), claim_invariance(get("invariance", "table"))]
    for result in results:
        result.runs = get(result.claim.key, "runs")
        if result.claim.key == "pug":
            result.chart_table = get("pug", "chart")
        if result.claim.key == "transfer":
            result.chart_table = evidence.get("transfer_detail")
    return results
