"""`task run` end to end on real images in non-ImageNet label spaces: stored once, rerun computes nothing,
an added model computes only itself; zero-shot for CLIP models with the task's names and templates."""

from __future__ import annotations

import numpy as np
import pytest

from core.store import ResultsStore
from core.task import scan_task
from core.task.run import run_task
from tests.fixtures.task_folders import digits_folder, run_digits_task


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def digits_task(tmp_path_factory, tiny_models_toml):
    """The digits as a 10-class far-domain task with two-template prompts, run with a tiny ConvNeXt and CLIP."""
    return run_digits_task(tmp_path_factory.mktemp("digits"), ["tiny_convnext", "tiny_clip"], per_class=10,
                           templates=("a photo of the number {}.", "a drawing of {}."), severities=(2,))


def test_one_pass_stores_features_fits_and_predictions(digits_task):
    store, spec, images, summary = digits_task
    n_all, n_test = len(images), sum(image.split == "test" for image in images)
    assert summary.features == {"tiny_convnext": n_all + n_test, "tiny_clip": n_all + n_test}
    fits = store.query("SELECT model, method, count(*) AS n FROM task_fits GROUP BY ALL ORDER BY ALL")
    assert fits.to_dict("records") == [
        {"model": "tiny_clip", "method": "k-shot", "n": 10}, {"model": "tiny_clip", "method": "probe", "n": 2},
        {"model": "tiny_clip", "method": "zero-shot", "n": 2},
        {"model": "tiny_convnext", "method": "k-shot", "n": 10}, {"model": "tiny_convnext", "method": "probe", "n": 2}]
    rows = store.query("SELECT * FROM task_predictions WHERE model = 'tiny_clip' AND method = 'zero-shot' AND "
                       "condition = 'clean' ORDER BY image_id")
    assert len(rows) == n_test and rows["pred"].between(0, 9).all()
    assert np.allclose(rows["correct"], rows["pred"] == rows["label"])
    kshot = store.query("SELECT k, draw, n_train FROM task_fits WHERE method = 'k-shot' AND model = 'tiny_clip' "
                        "ORDER BY k, draw")
    assert kshot["n_train"].tolist() == [10] * 5 + [20] * 5


def test_zero_shot_head_is_keyed_by_the_task_names_and_templates(digits_task):
    from core.models.resolved import resolve_model
    from core.models.zero_shot import head_key, load_head

    store, spec, _, _ = digits_task
    model = resolve_model("tiny_clip")
    templates = ("a photo of the number {}.", "a drawing of {}.")
    head = load_head(model.spec, spec.prompt_names, templates,
                     key=head_key(model.spec, spec.prompt_names, templates, weights=model.weights_key))
    assert head is not None and tuple(head.shape) == (32, 10)


def test_rerun_adds_no_rows_and_an_added_model_computes_only_itself(digits_task):
    store, _, images, _ = digits_task
    before = store.task_row_counts("digits")
    again = run_task("digits", ["tiny_convnext", "tiny_clip"], shots=(1, 2), corruptions=("gaussian_noise",),
                     severities=(2,), store=store, device="cpu", say=_quiet)
    assert again.features == {} and again.fits == {"tiny_convnext": 0, "tiny_clip": 0}
    assert store.task_row_counts("digits") == before
    added = run_task("digits", ["tiny_convnext", "tiny_clip", "tiny_vit"], shots=(1, 2),
                     corruptions=("gaussian_noise",), severities=(2,), store=store, device="cpu", say=_quiet)
    assert set(added.features) == {"tiny_vit"}
    assert added.fits == {"tiny_convnext": 0, "tiny_clip": 0, "tiny_vit": 12}


def test_stop_request_leaves_a_resumable_run(tmp_path, tiny_models_toml):
    digits_folder(tmp_path / "images", per_class=6)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_task(*scan_task("stopped", tmp_path / "images"))
    stopped = run_task("stopped", ["tiny_convnext"], shots=(1,), corruptions=(), store=store, device="cpu",
                       stop={"requested": True}, say=_quiet)
    assert stopped.stopped and store.query("SELECT count(*) AS n FROM task_fits")["n"][0] == 0
    resumed = run_task("stopped", ["tiny_convnext"], shots=(1,), corruptions=(), store=store, device="cpu", say=_quiet)
    assert not resumed.stopped and resumed.features == {"tiny_convnext": 60}


def test_resolved_models_are_not_resolved_again(tmp_path, tiny_models_toml, monkeypatch):
    """`task run` resolves each model once (the CLI) and passes the resolved objects down (issue 33)."""
    import core.models.resolved as resolved_module

    digits_folder(tmp_path / "images", per_class=3)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_task(*scan_task("once", tmp_path / "images"))
    model = resolved_module.resolve_model("tiny_convnext")

    def again(spec):
        raise AssertionError(f"{spec} resolved a second time")

    monkeypatch.setattr(resolved_module, "resolve_model", again)
    summary = run_task("once", [model], shots=(1,), corruptions=(), store=store, device="cpu",
                       stop={"requested": True}, say=_quiet)
    assert summary.stopped


def test_keys_stay_what_stored_results_were_keyed_by():
    """Feature keys, fit keys and run ids are one hash (`core.store.content_key`); the values below came from the
    three copies it replaced (issue 33), so stored features, fits and runs keep being found."""
    from pathlib import Path

    from core.run.evaluation import run_id_for
    from core.store import content_key
    from core.task.fits import _digest

    assert content_key(dict(kind="task-features", model="vit_clip", weights="w1", preprocess="p1",
                            condition="contrast/3", seed=0)) == "bf04b3a6c304e94713f7"
    assert _digest({"images": "abc", "cs": (0.1, 1.0), "seed": 0, "solver": "lbfgs"}, "fk", "k-shot", 4, 2) \
        == "a4a79107fe05beee96af"
    assert run_id_for(model="effnet_lite0", weights="w", benchmark="cue-conflict", variant="", path=Path("/x")) \
        == "e8a9c0c75ed2dd8d7f81"


def test_the_offline_model_separates_digits_well_above_chance(tmp_path):
    """Real weights: ImageNet features of effnet_lite0 carry the digits' shapes (far-domain transfer)."""
    digits_folder(tmp_path / "images", per_class=10)
    store = ResultsStore(tmp_path / "results.duckdb")
    store.add_task(*scan_task("digits", tmp_path / "images"))
    run_task("digits", ["effnet_lite0"], shots=(4,), corruptions=(), store=store, device="cpu", say=_quiet)
    accuracy = store.query("SELECT avg(correct::DOUBLE) AS a FROM task_predictions WHERE method = 'probe'")["a"][0]
    assert accuracy > 0.5  # chance is 0.1


def test_unknown_task_and_corruption_get_one_line(tmp_path):
    from core.errors import UserError

    store = ResultsStore(tmp_path / "results.duckdb")
    with pytest.raises(UserError, match="No task named `nope`"):
        run_task("nope", ["effnet_lite0"], store=store, say=_quiet)
    digits_folder(tmp_path / "images", per_class=3)
    store.add_task(*scan_task("few", tmp_path / "images"))
    with pytest.raises(UserError, match="Did you mean gaussian_noise"):
        run_task("few", ["effnet_lite0"], corruptions=("gaussian_nois",), store=store, say=_quiet)


@pytest.mark.parametrize("fmt", ["html", "zip", "pptx"])
def test_task_report_formats(digits_task, tmp_path, fmt):
    import zipfile

    from core.task.report import write_task_report

    store, _, _, _ = digits_task
    path = write_task_report("digits", fmt, tmp_path / f"digits.{fmt}", store=store)
    if fmt == "html":
        text = path.read_text()
        assert "For accuracy:" in text and "paired over" in text and text.count("<svg") >= 4
        assert "<script" not in text and "src=\"http" not in text  # opens offline
    elif fmt == "zip":
        names = zipfile.ZipFile(path).namelist()
        assert {"decision.csv", "summary.csv", "kshot.png", "corruptions.svg", "kappa.csv"} <= set(names)
    else:
        from pptx import Presentation

        assert len(Presentation(str(path)).slides) >= 5


def test_reading_a_task_imports_no_torch(digits_task):
    from tests.unit.test_layout import _imported_after

    store, _, _, _ = digits_task
    then = (f"from core.store import ResultsStore\nfrom core.task import decision, measures\n"
            f"data = measures.read_task(ResultsStore({str(store.path)!r}), 'digits')\n"
            "measures.summary_table(data); measures.kappa_table(data); measures.disagreements(data)\n"
            "assert decision.decision_card(data, 'mix').top")
    assert _imported_after(("core.task.measures",), then) == []


def test_clean_and_corrupted_inputs_share_full_batches_and_a_stop_mid_run_keeps_them(tmp_path, tiny_models_toml,
                                                                                     monkeypatch):
    """Each model's inputs queue across images and conditions: every forward batch but the last is full (the
    test split's corrupted versions do not make batches of a few images), and a stop mid-run stores what ran."""
    import core.run.inference as inference

    digits_folder(tmp_path / "images", per_class=6)
    store = ResultsStore(tmp_path / "results.duckdb")
    spec, images, report = scan_task("batched", tmp_path / "images")
    store.add_task(spec, images, report)
    n_test = sum(image.split == "test" for image in images)
    sizes, stop, real = [], {}, inference.image_features

    def counted(loaded, batch):
        sizes.append(len(batch))
        if len(sizes) == 3:
            stop["requested"] = True
        return real(loaded, batch)

    monkeypatch.setattr(inference, "image_features", counted)
    stopped = run_task("batched", ["tiny_convnext"], shots=(1,), corruptions=("gaussian_noise", "contrast"),
                       severities=(1, 5), batch_size=8, store=store, device="cpu", stop=stop, say=_quiet)
    assert stopped.stopped and sizes[:3] == [8, 8, 8]
    stored = store.query("SELECT count(*) AS n FROM task_features")["n"][0]
    assert stored == sum(sizes) == stopped.features["tiny_convnext"]
    sizes.clear()
    resumed = run_task("batched", ["tiny_convnext"], shots=(1,), corruptions=("gaussian_noise", "contrast"),
                       severities=(1, 5), batch_size=8, store=store, device="cpu", say=_quiet)
    total = len(images) + 4 * n_test
    assert resumed.features["tiny_convnext"] == total - stored
    assert all(size == 8 for size in sizes[:-1]) and 1 <= sizes[-1] <= 8
