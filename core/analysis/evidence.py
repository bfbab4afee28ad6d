"""The one place that reads the results store for the findings: tidy evidence frames per claim.

`collect_evidence` picks each claim's runs (our runs under the paper protocol first; for cue-conflict
the authors' released decisions where we have not run a model) and computes the numbers with their
95% intervals through `core.analysis.tables` and `core.metrics`, and each claim part's difference,
paired over the images both sides share, through `core.analysis.differences`; `assess` hands them to
the verdict rules of `core.analysis.claims`.
"""

from __future__ import annotations

from core.analysis.claims import (PAPER_MODELS, ClaimResult, claim_calibration, claim_invariance, claim_mistakes,
                                  claim_pug, claim_robustness, claim_shape_bias, claim_texture, claim_transfer,
                                  robustness_sets)

from core.analysis.revisions import one_revision
from core.analysis.differences import (CLIP, N_RESAMPLES, SUPERVISED, accuracy_differences, counts_from_cells,
                                       outcome_cells, relabelled_cells, shape_bias_differences, split_cells,
                                       val_differences)

__all__ = ["SECTIONS", "section_inputs", "collect_section", "collect_evidence", "assess"]


def _latest(runs, benchmark: str, *, source: str = "ours", protocol: str = "paper"):
    """One run per paper model (the latest under `protocol`, else under any protocol)."""
    chosen = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == "") & (runs["source"] == source)
                  & runs["model"].isin(PAPER_MODELS)]
    preferred = chosen[chosen["protocol"] == protocol]
    chosen, _ = one_revision(preferred if not preferred.empty else chosen)  # one data revision per benchmark
    return chosen.drop_duplicates("model", keep="last")


def _predictions(store, run_ids, columns: tuple[str, ...]):
    """Readable rows by run and image id: the bootstraps resample them by position, so the order must not depend
    on the order the rows were written in (two copies of the same results state the same intervals)."""
    return store.prediction_columns(run_ids, columns, readable_only=True, by_image=True)


def _val_rows(store, val, annotations) -> dict:
    """{model: its readable val rows (image_id, pred, conf, correct, and annotation or file_name)}, as
    `differences.val_differences` takes them: keyed by a hash of the image id with each image's ImageNet-X row
    found in DuckDB (`ResultsStore.keyed_columns`); the ids themselves and their file names where two ids of a
    run share a hash (or an image is listed twice in a run)."""
    from core.analysis.tables import file_names

    run_ids = tuple(val["run_id"])
    keyed = store.keyed_columns(run_ids, ("pred", "conf", "correct"), annotations["file_name"])
    by_model = {run.model: rows.rename(columns={"key": "image_id", "match": "annotation"})
                for run, rows in zip(val.itertuples(), keyed) if len(rows)}
    if all(rows["image_id"].is_unique for rows in by_model.values()):
        return by_model
    rows = _predictions(store, run_ids, ("image_id", "pred", "conf", "correct"))
    by_model = {}
    for run in val.itertuples():
        mine = rows[rows["run_id"] == run.run_id]
        if len(mine):
            by_model[run.model] = mine.assign(file_name=file_names(mine["image_id"]))
    return by_model


SECTIONS = ("val", "robustness", "shape_bias", "pug", "transfer", "invariance")
"""The parts of the evidence, each read from its own runs: ImageNet val (claims 1–3), robustness (4),
cue-conflict (5), PUG (6), linear probes (7), invariance (8)."""


def section_inputs(runs, name: str, store=None):
    """The finished runs a section reads (a frame of runs; for `transfer`, the store's probes): what it is
    computed from, so a cache keyed by their ids recomputes a section only when its own runs change."""
    import pandas as pd

    from core.analysis.tables import SHIFTED

    runs = runs[runs["status"] == "done"] if "status" in runs else runs
    if name == "val":
        return _latest(runs, "imagenet-val")
    if name == "robustness":
        return pd.concat([_latest(runs, b) for b in ("imagenet-val", *SHIFTED)], ignore_index=True)
    if name == "shape_bias":  # ours first, else the authors' release, per model
        ours = _latest(runs, "cue-conflict")
        authors = _latest(runs, "cue-conflict", source="authors")
        return pd.concat([ours, authors[~authors["model"].isin(ours["model"])]], ignore_index=True)
    if name == "pug":
        return _latest(runs, "pug-imagenet")
    if name == "invariance":  # variant runs of imagenet-val
        return runs[(runs["benchmark"] == "imagenet-val") & (runs["variant"] != "") & (runs["source"] == "ours")
                    & runs["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "variant", "protocol"], keep="last")
    if name == "transfer":
        from core.store import ResultsStore

        store = store or ResultsStore()
        return store.probes() if "probes" in store.table_names() else pd.DataFrame()
    raise ValueError(f"unknown evidence section {name!r}")


def collect_evidence(store=None, *, n_resamples: int = 300, n_differences: int = N_RESAMPLES) -> dict:
    """Tidy evidence frames per claim from the results store, through core.analysis.tables and core.metrics.

    Returns {claim key: (frames..., runs used, differences)} in the shape `assess` takes; `n_resamples`
    bootstrap replicates for the per-model intervals, `n_differences` for the differences (and for the
    val numbers, which come from the same replicates). Only the paper's four model
    keys count; our runs under the `paper` protocol first; for cue-conflict, a model we have not run
    falls back to the authors' released decisions (labelled as such). The sum of `collect_section` over
    `SECTIONS`.
    """
    from core.store import ResultsStore

    store = store or ResultsStore()
    runs = store.runs()
    evidence: dict = {}
    if runs.empty:
        return evidence
    for name in SECTIONS:
        evidence.update(collect_section(store, name, section_inputs(runs, name, store), n_resamples=n_resamples,
                                        n_differences=n_differences))
    return evidence


def collect_section(store, name: str, used, *, n_resamples: int = 300, n_differences: int = N_RESAMPLES) -> dict:
    """One section's evidence entries, from the runs (or probes) `section_inputs` gave it and nothing else."""
    import pandas as pd

    from core.analysis.tables import (SHIFTED, accuracy_with_interval, condition_accuracy_table,
                                      robustness_table, shape_bias_table)

    evidence: dict = {}
    if name == "val":  # claims 1-3: every model's numbers and every difference from one set of replicates
        from core.data.imagenet_x import imagenet_x_annotations

        val = used
        by_model = _val_rows(store, val, imagenet_x_annotations())
        found = val_differences(by_model, imagenet_x_annotations(), n_resamples=n_differences) if by_model else {}
        run_ids = dict(zip(val["model"], val["run_id"]))

        def tagged(frame):
            if frame is None or len(frame) == 0:
                return None
            return frame.assign(source="ours", run_id=frame["model"].map(run_ids))

        ratios = tagged(found.get("ratios"))
        evidence["mistakes"] = {"ratios": ratios, "runs": val, "differences": found.get("mistakes", {})}
        evidence["texture"] = {"ratios": ratios, "runs": val, "differences": found.get("texture", {})}
        evidence["calibration"] = {"ece": tagged(found.get("ece")), "gap": tagged(found.get("gap")), "runs": val,
                                   "differences": found.get("calibration", {})}
    elif name == "robustness":  # claim 4
        robust_runs = used
        # one scan for every set's outcome cells (per image, which models have it and got it right): the
        # per-model counts of the table and the paired differences both come from it
        triples = [(run.run_id, run.benchmark, PAPER_MODELS.index(run.model)) for run in robust_runs.itertuples()]
        real_triples = [(run_id, "imagenet-real", k) for run_id, bench, k in triples if bench == "imagenet-val"]
        # val and ReaL outcomes of each val image read together (the card beyond the paper resamples them as one);
        # the other sets in one scan
        val_real = outcome_cells(store, [(run_id, "imagenet-val", k) for run_id, _, k in real_triples],
                                 len(PAPER_MODELS), real="paired")
        cells = outcome_cells(store, [triple for triple in triples if triple[1] != "imagenet-val"],
                              len(PAPER_MODELS), by_condition=True)
        cells = pd.concat([cells, relabelled_cells(val_real, len(PAPER_MODELS), "imagenet-val|", real=False)],
                          ignore_index=True).sort_values("stratum", kind="stable", ignore_index=True)
        real_cells = relabelled_cells(val_real, len(PAPER_MODELS))
        robust_counts = counts_from_cells(cells, triples)
        real_counts = counts_from_cells(real_cells, real_triples)
        robust_table = robustness_table(robust_runs, robust_counts, real_counts, n_resamples=n_resamples) \
            if len(robust_counts) else None
        present = robustness_sets(robust_table, SHIFTED)
        cell_sets = split_cells(cells, [b for b in present if b != "imagenet-real"])
        if "imagenet-real" in present:
            cell_sets.append(("imagenet-real", real_cells))
        robust_differences = accuracy_differences(cell_sets, PAPER_MODELS, [("supervised-clip", SUPERVISED, CLIP)],
                                                  n_resamples=n_differences) if cell_sets else {}
        evidence["robustness"] = {"table": robust_table, "shifted": SHIFTED, "runs": robust_runs,
                                  "differences": robust_differences, "cells": cells, "val_real_cells": val_real}
    elif name == "shape_bias":  # claim 5
        cue = used
        decisions = _predictions(store, tuple(cue["run_id"]), ("image_id", "shape", "texture", "decision16"))
        shape, shape_differences = None, {}
        if len(decisions):
            decisions = decisions.merge(cue[["run_id", "model", "source"]], on="run_id")
            decisions = decisions.assign(maker=decisions["model"])
            shape = shape_bias_table(decisions, n_resamples=n_resamples).rename(
                columns={"maker": "model", "shape_bias": "value"})
            shape["n"] = shape["decisions"]
            shape = shape.merge(cue[["model", "source", "run_id"]], on="model")
            shape_differences = shape_bias_differences(
                {model: group for model, group in decisions.groupby("model", sort=False)}, n_resamples=n_differences)
        evidence["shape_bias"] = {"table": shape, "runs": cue, "differences": shape_differences}
    elif name == "pug":  # claim 6
        pug = used
        pug_rows = _predictions(store, tuple(pug["run_id"]), ("condition", "correct"))
        pug_numbers, pug_chart, pug_differences = None, None, {}
        if len(pug_rows):
            pug_rows = pug_rows.merge(pug[["run_id", "model"]], on="run_id")
            pug_numbers = pd.DataFrame([{"model": model, **accuracy_with_interval(group["correct"].astype(float),
                                                                                  n_resamples=n_resamples)}
                                        for model, group in pug_rows.groupby("model", sort=False)])
            pug_numbers = pug_numbers.rename(columns={"accuracy": "value"}).assign(source="ours")
            pug_counts = store.accuracy_counts(tuple(pug["run_id"]), by_condition=True)
            pug_chart = condition_accuracy_table(pug_counts, dict(zip(pug["run_id"], pug["model"])),
                                                 n_resamples=n_resamples).rename(columns={"label": "model"})
            cells = outcome_cells(store, [(run.run_id, "pug-imagenet", PAPER_MODELS.index(run.model))
                                          for run in pug.itertuples()], len(PAPER_MODELS))
            pug_differences = accuracy_differences([("pug-imagenet", cells)], PAPER_MODELS, _PARADIGMS,
                                                   n_resamples=n_differences)
        evidence["pug"] = {"table": pug_numbers, "chart": pug_chart, "runs": pug, "differences": pug_differences}
    elif name == "transfer":  # claim 7
        probes, transfer = used, None
        if len(probes):
            probes = probes[probes["model"].isin(PAPER_MODELS)].drop_duplicates(["model", "dataset", "convention"],
                                                                               keep="last")
            settings = probes.groupby(["dataset", "convention"])["model"].nunique()
            common = settings[settings == len(PAPER_MODELS)].index
            if len(common):
                chosen = probes.set_index(["dataset", "convention"]).loc[list(common)].reset_index()
            else:
                chosen = probes
            transfer = chosen.groupby("model", sort=False).agg(
                value=("test_accuracy", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                n=("n_test", "sum")).reset_index()
            transfer["source"] = "ours"
            evidence["transfer_detail"] = chosen
        evidence["transfer"] = {"table": transfer, "runs": probes if len(probes) else None}
    elif name == "invariance":  # claim 8: mean accuracy over each kind's settings
        from core.models.preprocess import parse_variant

        variant_runs = used
        invariance, invariance_differences = None, {}
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
                invariance_differences = _invariance_differences(store, variant_runs, parse_variant, n_differences)
        evidence["invariance"] = {"table": invariance, "runs": variant_runs, "differences": invariance_differences}
    else:
        raise ValueError(f"unknown evidence section {name!r}")
    return evidence


_PARADIGMS = [("convnext_sup-vit_sup", ("convnext_sup",), ("vit_sup",)),
              ("convnext_clip-vit_clip", ("convnext_clip",), ("vit_clip",))]


def _invariance_differences(store, variant_runs, parse_variant, n_resamples: int) -> dict:
    """Claim 8's differences per transform kind: a − b of the mean top-1 over the kind's settings, each
    setting (a variant run per model on the same images) resampled on its own."""
    found = {}
    # one run per model and setting (the paper protocol's where there are both): one bit per model
    preferred = variant_runs.assign(_paper=variant_runs["protocol"] == "paper").sort_values("_paper", kind="stable")
    variant_runs = preferred.drop_duplicates(["model", "variant"], keep="last")
    triples = []
    for run in variant_runs.itertuples():
        parsed = parse_variant(run.variant)
        if parsed:
            triples.append((run.run_id, f"{parsed[0]}|{run.variant}", PAPER_MODELS.index(run.model)))
    if not triples:
        return found
    kinds = ("scale", "shift", "resolution")
    for kind, cells in split_cells(outcome_cells(store, triples, len(PAPER_MODELS)), kinds):
        comparisons = [(f"{kind}:convnext_sup-vit_sup", ("convnext_sup",), ("vit_sup",)),
                       (f"{kind}:vit_clip-convnext_clip", ("vit_clip",), ("convnext_clip",))]
        found.update(accuracy_differences([(f"invariance-{kind}", cells)], PAPER_MODELS, comparisons,
                                          n_resamples=n_resamples))
    return found


def assess(evidence: dict) -> list[ClaimResult]:
    """Every claim's result from `collect_evidence`'s frames (missing frames give 'not measured')."""
    get = lambda key, name: (evidence.get(key) or {}).get(name)  # noqa: E731
    diffs = lambda key: get(key, "differences") or {}  # noqa: E731
    results = [claim_mistakes(get("mistakes", "ratios"), diffs("mistakes")),
               claim_texture(get("texture", "ratios"), diffs("texture")),
               claim_calibration(get("calibration", "ece"), get("calibration", "gap"), diffs("calibration")),
               claim_robustness(get("robustness", "table"), get("robustness", "shifted") or (), diffs("robustness")),
               claim_shape_bias(get("shape_bias", "table"), diffs("shape_bias")),
               claim_pug(get("pug", "table"), diffs("pug")), claim_transfer(get("transfer", "table")),
               claim_invariance(get("invariance", "table"), diffs("invariance"))]
    for result in results:
        result.runs = get(result.claim.key, "runs")
        if result.claim.key == "pug":
            result.chart_table = get("pug", "chart")
        if result.claim.key == "transfer":
            result.chart_table = evidence.get("transfer_detail")
    return results
