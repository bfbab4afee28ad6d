"""`task run` finds a model that cannot load before it reads any image: one line naming the model and the fix, the
other models run; `strict` stops before starting."""

from __future__ import annotations

import pytest

import core.task.run as task_run
from core.models.registry import ModelSpec
from core.store import ResultsStore
from core.task import scan_task
from core.task.run import ModelsUnavailable, run_task
from tests.fixtures.task_folders import digits_folder


@pytest.fixture
def task_store(tmp_path, tiny_models_toml):
    digits_folder(tmp_path / "images", per_class=3)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_task(*scan_task("preflight", tmp_path / "images"))
    return store


@pytest.fixture
def events(monkeypatch):
    """What happened, in order: each line said and each image read."""
    happened: list[str] = []
    read = task_run._prepared_image

    def recorded(sha, *args, **kwargs):
        happened.append("image")
        return read(sha, *args, **kwargs)

    monkeypatch.setattr(task_run, "_prepared_image", recorded)
    return happened


def _wrong_arch(tiny_specs) -> ModelSpec:
    good = tiny_specs["tiny_convnext"]
    return ModelSpec("typo_convnext", "checkpoint", good.source, family="convnet", arch="test_convnxt")


def test_a_wrong_arch_is_named_before_any_image_is_read_and_the_others_finish(task_store, tiny_specs, events):
    summary = run_task("preflight", [_wrong_arch(tiny_specs), "tiny_convnext"], shots=(1,), corruptions=(),
                       store=task_store, device="cpu", say=events.append)
    said = [event for event in events if event != "image"]
    skipped = next(line for line in said if line.startswith("Not run: typo_convnext: "))
    assert events.index(skipped) < events.index("image")  # named before the first image was read
    assert "`arch = \"test_convnxt\"` is not a timm architecture (did you mean test_convnext" in skipped
    assert "Fix `arch` in models.toml" in skipped and "\n" not in skipped
    assert set(summary.failed) == {"typo_convnext"}
    assert summary.features == {"tiny_convnext": 30} and summary.fits["tiny_convnext"] > 0
    assert "typo_convnext" not in summary.fits


def test_strict_stops_before_starting(task_store, tiny_specs, events):
    with pytest.raises(ModelsUnavailable, match=r"Nothing was started \(--strict\): typo_convnext: `arch"):
        run_task("preflight", [_wrong_arch(tiny_specs), "tiny_convnext"], shots=(1,), corruptions=(),
                 store=task_store, device="cpu", say=events.append, strict=True)
    assert events == []  # no image read, and the reason is said once: in the error
    assert task_store.task_row_counts("preflight") == ResultsStore(task_store.path).task_row_counts("preflight")


def test_weights_missing_are_found_first_and_say_what_to_fetch(task_store, tiny_specs, events, monkeypatch):
    """A hub model without weights on a machine that may not download (the default): one line with the command."""
    monkeypatch.setenv("BAE_ALLOW_DOWNLOADS", "0")
    absent = ModelSpec("absent_resnet", "timm", "resnet18.a1_in1k", family="convnet")
    summary = run_task("preflight", [absent, "tiny_convnext"], shots=(1,), corruptions=(), store=task_store,
                       device="cpu", say=events.append)
    line = next(event for event in events if event.startswith("Not run: absent_resnet"))
    assert events.index(line) < events.index("image")
    assert "python -m core download absent_resnet" in line and set(summary.failed) == {"absent_resnet"}
    with pytest.raises(ModelsUnavailable, match="No model can load: absent_resnet"):
        run_task("preflight", [absent], shots=(1,), corruptions=(), store=task_store, device="cpu", say=events.append)


@pytest.fixture
def load_calls(monkeypatch) -> list:
    """The names of the models `ResolvedModel.load` loads from now on, in order."""
    from core.models.resolved import ResolvedModel

    calls = []
    real_load = ResolvedModel.load

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return real_load(self, *args, **kwargs)

    monkeypatch.setattr(ResolvedModel, "load", counted)
    return calls


def test_a_model_loaded_by_the_caller_is_used_and_not_loaded_again(task_store, request):
    """`run_task(loaded=...)` (the race hands over its survivors): the given model computes the features, and
    `ResolvedModel.load` is never called for it."""
    from core.models.resolved import resolve_model

    resolved = resolve_model("tiny_convnext")
    given = resolved.load(device="cpu")
    calls = request.getfixturevalue("load_calls")  # counting from here: `given` was loaded before
    summary = run_task("preflight", [resolved], shots=(1,), corruptions=(), store=task_store, device="cpu",
                       say=lambda _: None, loaded={"tiny_convnext": given})
    assert calls == [] and summary.features == {"tiny_convnext": 30} and summary.fits["tiny_convnext"] > 0


def test_the_race_loads_each_model_once(tmp_path, tiny_models_toml, load_calls):
    """One preflight (`ready_models`) for the race and its survivors' full run: every model is loaded once."""
    from core.task.race import race_task

    digits_folder(tmp_path / "images", per_class=12)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_task(*scan_task("once", tmp_path / "images"))
    calls = load_calls
    summary = race_task("once", ["tiny_convnext", "tiny_vit"], shots=(1,), corruptions=(), severities=(1,),
                        store=store, device="cpu", say=lambda _: None, first=10)
    assert summary.raced and sorted(calls) == ["tiny_convnext", "tiny_vit"]
