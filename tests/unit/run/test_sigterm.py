"""SIGTERM to an evaluation's whole process group (what `timeout`, systemd, a container stop or a job runner
send): the loader workers leave shutdown to the main process, so the run stops as resumable (`stopped`, the
status Ctrl-C gives) with a one-line message, and a resume ends with the rows of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from core.cli import STOPPED_MESSAGE
from core.run import jobs
from core.run.evaluation import evaluate
from core.store import ResultsStore
from tests.conftest import shared_data

LIMIT = 512  # 16 batches of 32: the signal comes after the first commit, long before the end
COLUMNS = ["image_id", "pred", "top5", "top5_prob", "prob_true", "correct", "decision16"]


def _wait(job, deadline: float) -> str:
    while job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not job.running, "the evaluation did not stop"
    return Path(job.log).read_text()


def test_sigterm_to_the_group_stops_as_resumable_and_a_resume_equals_an_uninterrupted_run(
        tmp_path, monkeypatch, tiny_models_toml):
    cue = shared_data("cue-conflict")
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    store = ResultsStore(tmp_path / "results.duckdb", timeout_s=60)
    deadline = time.monotonic() + 300
    job = jobs.launch_evaluation(["tiny_convnext"], "cue-conflict", str(cue), limit=LIMIT)  # 2 loader workers on CPU
    while time.monotonic() < deadline and (store.runs().empty or int(store.runs()["done"][0]) == 0):
        assert job.running, Path(job.log).read_text()[-1500:]
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGTERM)  # the job is its own session: its group holds the main process and workers
    log = _wait(job, deadline)
    run = store.runs().iloc[0]
    assert run["status"] == "stopped", log[-1500:]
    assert 0 < run["done"] < LIMIT
    assert "Traceback" not in log and "killed by signal" not in log, log[-1500:]
    stopped = [line for line in log.splitlines() if "resume" in line]
    assert len(stopped) == 1 and stopped[0] == STOPPED_MESSAGE, log[-800:]
    assert "tiny_convnext: stopped, " in log, log[-800:]

    resumed = jobs.launch_evaluation(["tiny_convnext"], "cue-conflict", str(cue), limit=LIMIT)
    log = _wait(resumed, deadline + 300)
    runs = store.runs()
    assert len(runs) == 1 and runs["status"].iloc[0] == "done" and int(runs["done"].iloc[0]) == LIMIT, log[-1500:]

    reference_store = ResultsStore(tmp_path / "reference.duckdb")
    reference = evaluate(["tiny_convnext"], "cue-conflict", cue, limit=LIMIT, seed=0, store=reference_store, workers=0,
                         say=lambda _: None)[0]
    assert reference.run_id == runs["run_id"].iloc[0]  # the same run, so the same key
    ours = store.predictions(reference.run_id)[COLUMNS].sort_values("image_id").reset_index(drop=True)
    theirs = reference_store.predictions(reference.run_id)[COLUMNS].sort_values("image_id").reset_index(drop=True)
    assert len(ours) == len(theirs) == LIMIT and ours["image_id"].is_unique
    assert (ours["image_id"] == theirs["image_id"]).all()
    assert (ours["pred"] == theirs["pred"]).all() and (ours["decision16"] == theirs["decision16"]).all()
    np.testing.assert_allclose(np.stack(ours["top5_prob"]), np.stack(theirs["top5_prob"]), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(ours["prob_true"].astype(float), theirs["prob_true"].astype(float), rtol=1e-3,
                               atol=1e-6, equal_nan=True)
