"""core.run.study: the runs each claim reads, marked against empty, authors-only and full stores."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from core.models.preprocess import INVARIANCE_VARIANTS
from core.store import ResultsStore, RunInfo
from core.run.study import (BENCHMARK_IMAGES, INVARIANCE_LIMIT, PAPER_MODELS, Facts, build_plan, claim_summary,
                             gather_facts, order_for_verdicts, plan, plan_rows, study_runs)

SHIFTED = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-hard", "imagenet-c")
N_SETTINGS = sum(len(settings) for settings in INVARIANCE_VARIANTS.values())


@pytest.fixture
def store(tmp_path):
    return ResultsStore(tmp_path / "results.duckdb")


def _run(store, model, benchmark, *, variant="", source="ours", status="done", limit=None, done=1, n=10):
    run_id = f"{source}-{model}-{benchmark}-{variant}-{limit}"
    store.start_run(RunInfo(run_id, model, benchmark, variant, "paper", n, source=source, sample_limit=limit,
                            sample_seed=None if limit is None else 0))
    store.write_batch([{"run_id": run_id, "image_id": f"img{i}.png", "label": 1, "labels": [], "pred": 1,
                        "correct": True} for i in range(done)])
    if status != "running":
        store.finish_run(run_id, status)
    return run_id


def _states(store, tmp_path, models=PAPER_MODELS):
    return build_plan(models, data_root=tmp_path / "data", store=store, timing=False, say=lambda _: None)


def _by(states, kind, model, benchmark, variant=""):
    found = [s for s in states if (s.run.kind, s.run.model, s.run.benchmark, s.run.variant)
             == (kind, model, benchmark, variant)]
    assert len(found) == 1, (kind, model, benchmark, variant)
    return found[0]


def test_the_study_lists_each_claims_runs_once():
    runs = study_runs()
    evaluate = [run for run in runs if run.kind == "evaluate"]
    assert len(evaluate) == 4 * (1 + len(SHIFTED) + 2) + 4 * N_SETTINGS  # val, shifted, cue-conflict, PUG; invariance
    assert sum(run.kind == "probe" for run in runs) == 4 and sum(run.kind == "import" for run in runs) == 1
    val = [run for run in evaluate if run.benchmark == "imagenet-val" and not run.variant]
    assert all(run.claims == (1, 2, 3, 4) for run in val)  # one run feeds claims 1-4
    variants = {run.variant for run in evaluate if run.variant}
    assert variants == {f"{kind}={value:g}" for kind, values in INVARIANCE_VARIANTS.items() for value in values}
    assert all(run.limit == INVARIANCE_LIMIT and run.claims == (8,) for run in evaluate if run.variant)
    assert len({(r.kind, r.model, r.benchmark, r.variant) for r in runs}) == len(runs)


def test_empty_store_marks_everything_blocked_with_the_commands_that_unblock_it(store, tmp_path):
    states = _states(store, tmp_path)
    assert {state.status for state in states} == {"blocked"}
    cue = _by(states, "evaluate", "vit_sup", "cue-conflict")
    assert cue.unblock == ("python -m core download cue-conflict", "python -m core download vit_sup")
    assert _by(states, "import", "authors", "cue-conflict").unblock == ("python -m core download paper-decisions",)
    assert "download imagenet-val" in _by(states, "evaluate", "convnext_clip", "imagenet-val").unblock[0]
    assert _by(states, "probe", "vit_clip", "transfer").unblock[0].startswith("put a transfer dataset")
    summary = {row["claim"]: row for row in claim_summary(states)}
    assert summary[4]["runs"] == 4 * 7 and summary[4]["blocked"] == 28 and summary[8]["runs"] == 4 * N_SETTINGS
    assert order_for_verdicts(states) == []


def test_only_the_authors_decisions_mark_claim_5_stored_and_nothing_else(store, tmp_path):
    for model in PAPER_MODELS:
        _run(store, model, "cue-conflict", source="authors", done=3)
    states = _states(store, tmp_path)
    claim5 = [state for state in states if 5 in state.run.claims]
    assert {(state.status, state.source) for state in claim5} == {("stored", "authors")}
    assert all(state.status == "blocked" for state in states if 5 not in state.run.claims)
    assert {row["claim"]: row["stored"] for row in claim_summary(states)}[5] == 5
    assert {row["what next"] for row in plan_rows(states) if row["claim"] == 5} == {"the authors' released decisions"}


def test_full_synthetic_store_is_all_stored(store, tmp_path):
    for model in PAPER_MODELS:
        _run(store, model, "cue-conflict", source="authors")
        for benchmark in ("imagenet-val", *SHIFTED, "cue-conflict", "pug-imagenet"):
            _run(store, model, benchmark)
        for kind, values in INVARIANCE_VARIANTS.items():
            for value in values:
                _run(store, model, "imagenet-val", variant=f"{kind}={value:g}", limit=INVARIANCE_LIMIT)
        store.write_probe({"probe_id": f"p-{model}", "model": model, "dataset": "flowers", "test_accuracy": 0.9})
    states = _states(store, tmp_path)
    assert {state.status for state in states} == {"stored"}
    assert {state.source for state in states if state.run.kind == "evaluate"} == {"ours"}
    assert {row["what next"] for row in plan_rows(states) if row["kind"] == "evaluate"} == {"measured here (ours)"}
    assert {state.run.benchmark for state in states if state.run.kind == "probe"} == {"flowers"}


def test_a_limited_sample_is_not_the_full_run_and_a_failed_run_is_not_stored(store, tmp_path):
    _run(store, "vit_sup", "imagenet-v2", limit=100)
    _run(store, "vit_sup", "imagenet-a", status="stopped", done=4)
    states = _states(store, tmp_path)
    assert _by(states, "evaluate", "vit_sup", "imagenet-v2").status == "blocked"
    stopped = _by(states, "evaluate", "vit_sup", "imagenet-a")
    assert stopped.status == "blocked" and stopped.done == 4


def _facts(**changes) -> Facts:
    facts = Facts(runs=pd.DataFrame(columns=["run_id", "model", "benchmark", "variant", "protocol", "source",
                                             "status", "done", "sample_limit"]),
                  data={"cue-conflict": "/data/cue-conflict", "pug-imagenet": "/data/pug"},
                  models={model: () for model in PAPER_MODELS}, speed={model: 0.1 for model in PAPER_MODELS},
                  decisions_downloaded=True)
    return replace(facts, **changes)


def test_runnable_runs_get_their_time_and_partial_runs_resume(tmp_path):
    runs = pd.DataFrame([{"run_id": "r", "model": "vit_sup", "benchmark": "cue-conflict", "variant": "",
                          "protocol": "paper", "source": "ours", "status": "stopped", "done": 280,
                          "sample_limit": None}])
    states = plan(study_runs(), _facts(runs=runs))
    fresh = _by(states, "evaluate", "convnext_sup", "cue-conflict")
    assert fresh.status == "runnable" and fresh.seconds == pytest.approx(1280 * 0.1)
    assert fresh.command.endswith("--benchmark cue-conflict --data /data/cue-conflict --protocol paper")
    partial = _by(states, "evaluate", "vit_sup", "cue-conflict")
    assert partial.status == "runnable" and partial.done == 280 and partial.seconds == pytest.approx(1000 * 0.1)
    pug = _by(states, "evaluate", "vit_sup", "pug-imagenet")
    assert pug.seconds == pytest.approx(BENCHMARK_IMAGES["pug-imagenet"] * 0.1)
    assert _by(states, "evaluate", "vit_sup", "imagenet-r").status == "blocked"
    running = plan(study_runs(), _facts(runs=runs.assign(status="running"), evaluation_running=True))
    assert _by(running, "evaluate", "vit_sup", "cue-conflict").status == "running"


def test_missing_weights_or_head_block_only_that_model(tmp_path):
    models = {model: () for model in PAPER_MODELS} | {"vit_clip": ("python -m core zero-shot-head vit_clip",)}
    states = plan(study_runs(), _facts(models=models))
    assert _by(states, "evaluate", "vit_clip", "cue-conflict").unblock == ("python -m core zero-shot-head vit_clip",)
    assert _by(states, "evaluate", "convnext_clip", "cue-conflict").status == "runnable"


def test_verdicts_soonest_cue_conflict_first_then_cheapest_claim():
    states = plan(study_runs(), _facts())
    order = order_for_verdicts(states)
    assert [state.run.benchmark for state in order] == ["cue-conflict"] * 5 + ["pug-imagenet"] * 4
    assert order[0].run.kind == "import"
    slow_cue = plan(study_runs(), _facts(speed={model: 9.0 for model in PAPER_MODELS}))
    assert order_for_verdicts(slow_cue)[1].run.benchmark == "cue-conflict"  # first even when slower


def test_model_timing_is_measured_once_per_model_and_device(monkeypatch, tmp_path):
    import core.models.load as load
    from core.run.study import time_models

    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path))
    first = time_models(["effnet_lite0"], device="cpu", say=lambda _: None)
    assert 0 < first["effnet_lite0"] < 60
    monkeypatch.setattr(load, "load_model", lambda *a, **k: pytest.fail("timed again"))
    assert time_models(["effnet_lite0"], device="cpu", say=lambda _: None) == first
    store = ResultsStore(tmp_path / "results.duckdb")
    monkeypatch.setattr(load, "best_device", lambda: "cpu")
    facts = gather_facts(("effnet_lite0",), data_root=tmp_path, store=store, timing=False)
    assert facts.speed["effnet_lite0"] == pytest.approx(first["effnet_lite0"] + 0.01)  # decoding added


def test_a_finished_run_here_calibrates_better_than_the_timing(store, tmp_path, monkeypatch):
    import core.models.load as load

    monkeypatch.setattr(load, "best_device", lambda: "cpu")
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path))
    for run_id, rate, device in (("a", 4.0, "cpu"), ("b", 2.0, "cpu"), ("c", 100.0, "cuda:0")):
        store.start_run(RunInfo(run_id, "effnet_lite0", "imagenet-r", "", "paper", 10))
        store.finish_run(run_id, "done", images_per_s=rate, device=device)
    facts = gather_facts(("effnet_lite0",), data_root=tmp_path, store=store, timing=False)
    assert facts.speed["effnet_lite0"] == pytest.approx((1 / 4 + 1 / 2) / 2)  # median of the CPU runs only
    states = plan(study_runs(("effnet_lite0",)), replace(facts, data={"cue-conflict": "/x"}))
    assert _by(states, "evaluate", "effnet_lite0", "cue-conflict").seconds == pytest.approx(1280 * 0.375)
