"""core.run.jobs: a detached evaluation is watched through the store and stopped with SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

from core.run import jobs
from core.store import ResultsStore
from tests.conftest import shared_data


def test_sigterm_stops_after_a_batch_and_marks_the_run_resumable(tmp_path, monkeypatch, tiny_models_toml):
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    store = ResultsStore(tmp_path / "results.duckdb", timeout_s=60)
    job = jobs.launch_evaluation(["tiny_convnext"], "cue-conflict", str(shared_data("cue-conflict")), limit=1280)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (store.runs().empty or int(store.runs()["done"][0]) == 0):
        assert job.running, Path(job.log).read_text()[-1500:]
        time.sleep(0.05)
    jobs.cancel(job)
    while job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    run = store.runs().iloc[0]
    assert run["status"] == "stopped", Path(job.log).read_text()[-1500:]
    assert 0 < run["done"] < 1280 and run["done"] % 32 == 0
    assert "resume" in Path(job.log).read_text()
