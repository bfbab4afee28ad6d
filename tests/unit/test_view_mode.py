"""View mode (BAE_VIEW_ONLY=1): every write path in core refuses with its one-line message, and reads work."""

from __future__ import annotations

import pytest

from core.errors import UserError, ViewOnly
from core.models.registry import ModelSpec
from core.store import ResultsStore, RunInfo


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("BAE_VIEW_ONLY", raising=False)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(RunInfo("r1", "effnet_lite0", "cue-conflict", "", "paper", 1, data_root="/x"))
    pin = store.add_pin("robustness", "chart", {"robustness_models": ["a"]}, chart="{}", note="n")
    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    return store, pin


def _refused(call, what: str) -> None:
    with pytest.raises(ViewOnly) as error:
        call()
    message = str(error.value)
    assert isinstance(error.value, UserError) and "\n" not in message
    assert message.startswith("View mode is on (BAE_VIEW_ONLY=1)") and what in message


def test_store_writes_refuse_and_reads_work(store):
    store, pin = store
    _refused(lambda: store.start_run(RunInfo("r2", "effnet_lite0", "cue-conflict", "", "paper", 1, data_root="/x")),
             "results store")
    _refused(lambda: store.finish_run("r1", "done"), "results store")
    _refused(lambda: store.delete_run("r1"), "results store")
    _refused(lambda: store.add_pin("robustness", "t", {}), "results store")
    _refused(lambda: store.move_pin(pin, 1), "results store")
    _refused(lambda: store.delete_pin(pin), "results store")
    _refused(lambda: store.update_pin_note(pin, "x"), "results store")
    assert list(store.runs()["run_id"]) == ["r1"] and len(store.pins()) == 1  # nothing changed, reads work


def test_jobs_downloads_models_and_heads_refuse(tmp_path, monkeypatch):
    from core.data import download
    from core.models import zero_shot
    from core.models.registry import append_user_model
    from core.run import jobs

    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    monkeypatch.setenv("BAE_MODELS_TOML", str(tmp_path / "models.toml"))
    _refused(lambda: jobs.launch_evaluation(["effnet_lite0"], "cue-conflict", str(tmp_path)), "jobs")
    _refused(lambda: download.download("cue-conflict", say=lambda _: None), "downloads")
    _refused(lambda: append_user_model(ModelSpec("m1", "timm", "resnet50.a1_in1k", family="convnet")), "models.toml")
    _refused(lambda: zero_shot._save_atomic(None, tmp_path / "head.pt"), "zero-shot heads")
    assert not (tmp_path / "models.toml").exists() and not (tmp_path / "x").exists()
    assert not any(tmp_path.iterdir())


def test_downloads_of_weights_are_off_in_view_mode(monkeypatch):
    from core.config import allow_downloads

    monkeypatch.setenv("BAE_ALLOW_DOWNLOADS", "1")
    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    assert not allow_downloads()
    monkeypatch.setenv("BAE_VIEW_ONLY", "0")
    assert allow_downloads()
