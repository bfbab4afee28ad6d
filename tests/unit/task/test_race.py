"""`task run --race` end to end with the tiny models on the digits: rounds on stratified samples, drops by the rule
(recomputed here from the stored features), survivors run in full, dropped models computed nothing more, a rerun
computes nothing, a later full run reuses every stored feature; bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.store import ResultsStore
from core.task import scan_task
from core.task.race import race_task, stratified_order
from core.task.run import run_task
from tests.fixtures.task_folders import digits_folder

MODELS = ["tiny_convnext", "tiny_clip", "tiny_vit"]
RUN = dict(shots=(1, 4), corruptions=("gaussian_noise",), severities=(2,), device="cpu", say=lambda _: None)


@pytest.fixture(scope="module")
def raced(tmp_path_factory, tiny_models_toml):
    root = tmp_path_factory.mktemp("race")
    digits_folder(root / "images", per_class=30)
    (root / "templates.txt").write_text("a photo of the number {}.\n")
    store = ResultsStore(root / "results.duckdb")
    store.add_task(*scan_task("digits", root / "images", templates=root / "templates.txt"))
    summary = race_task("digits", MODELS, store=store, first=20, alpha=0.5, **RUN)
    return store, summary


def test_stratified_order_keeps_every_prefix_stratified():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    order = stratified_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    for size in (10, 20, 50):
        counts = np.bincount(labels[order[:size]], minlength=4)
        assert np.abs(counts - size * np.array([0.4, 0.3, 0.2, 0.1])).max() <= 1
    assert (stratified_order(labels, seed=3) == order).all()


def test_race_drops_by_the_rule_and_runs_the_survivors_in_full(raced):
    store, summary = raced
    assert summary.raced and summary.looks[0] == 20 and summary.looks[-1] == 90
    assert summary.drops, "expected the race to drop a tiny model at alpha = 0.5"
    dropped = {drop["model"] for drop in summary.drops}
    assert set(summary.survivors) == set(MODELS) - dropped and summary.survivors
    fitted = set(store.query("SELECT DISTINCT model FROM task_fits")["model"])
    assert fitted == set(summary.survivors)  # a dropped model stores no prediction: the card pairs on every image
    for drop in summary.drops:
        assert drop["difference"] < 0 and drop["upper"] < 0 and drop["n"] == summary.looks[drop["round"] - 1]
    assert 0 < summary.race_passes < summary.full_passes
    record = store.task_race("digits")
    assert record["drops"] == summary.drops and record["race_passes"] == summary.race_passes


def test_card_and_report_show_the_race_p_best_and_one_kshot_interval(raced, tmp_path):
    import io
    import zipfile

    import pandas as pd
    from pptx import Presentation

    from core.task.report import write_task_report

    store, summary = raced
    html = write_task_report("digits", "html", tmp_path / "r.html", store=store).read_text()
    first = summary.drops[0]
    assert f"Dropped in round {first['round']} ({first['n']:,} test images): {first['candidate']}" in html
    from core.task.decision import p_best_text
    from core.task.report import task_sections

    said = p_best_text(task_sections(store, "digits")[1])  # the report's card, with the page's labels
    assert said.startswith("Chance of being best (m-out-of-n bootstrap, m = ")
    assert said.replace("<", "&lt;") in html and "forward passes where a full run of every model needed" in html
    deck = Presentation(str(write_task_report("digits", "pptx", tmp_path / "r.pptx", store=store)))
    text = " ".join(shape.text_frame.text for shape in deck.slides[0].shapes if shape.has_text_frame)
    assert said in text and "Dropped in round" in text
    archive = zipfile.ZipFile(write_task_report("digits", "zip", tmp_path / "r.zip", store=store))
    summary_csv = pd.read_csv(io.BytesIO(archive.read("summary.csv")))
    kshot_csv = pd.read_csv(io.BytesIO(archive.read("kshot.csv")))
    curve = {f"{r.label} · {r.k}-shot probe": (r.ci_low, r.ci_high) for r in kshot_csv.itertuples()}
    shown = summary_csv[summary_csv["candidate"].str.endswith("-shot probe")]
    assert len(shown)
    for row in shown.itertuples():  # the report's table and curve give a k-shot candidate one interval
        assert (row.ci_low, row.ci_high) == pytest.approx(curve[row.candidate], abs=1e-9)


def test_a_rerun_computes_nothing_and_a_full_run_reuses_the_race_features(raced):
    store, summary = raced
    again = race_task("digits", MODELS, store=store, first=20, alpha=0.5, **RUN)
    assert again.race_passes == 0 and again.drops == summary.drops  # resumed: same rounds from stored features
    before = store.task_row_counts("digits")["task_features"]
    full = run_task("digits", MODELS, store=store, **RUN)
    computed = sum(full.features.values())
    assert store.task_row_counts("digits")["task_features"] == before + computed
    # exactly what the race left out: the dropped models' features not yet stored
    assert computed == summary.full_passes - summary.race_passes


def test_one_model_has_nothing_to_race(raced):
    store, _ = raced
    with pytest.raises(UserError, match="nothing to race"):
        race_task("digits", ["tiny_clip"], store=store, **RUN)


def test_a_task_too_small_for_a_round_runs_without_a_race(raced):
    store, _ = raced
    said = []
    summary = race_task("digits", MODELS, store=store, first=500, **{**RUN, "say": said.append})
    assert not summary.raced and "fewer than the race's first sample of 500" in summary.message
    assert any("without a race" in line for line in said)


def test_cli_races_and_says_what_it_saved(raced, monkeypatch, capsys):
    from core.cli import main

    store, _ = raced
    monkeypatch.setenv("BAE_RESULTS_DB", str(store.path))
    common = ["--shots", "1,4", "--corruptions", "gaussian_noise", "--severities", "2"]
    assert main(["task", "run", "digits", "--models", ",".join(MODELS), "--race", "--race-first", "20", *common]) == 0
    out = capsys.readouterr().out
    assert "digits: the race computed" in out and "forward passes where a full run of every model needed" in out
    assert store.task_race("digits")["first"] == 20
    assert main(["task", "run", "digits", "--models", "tiny_clip", "--race", *common]) == 2
    assert "Only one model: there is nothing to race." in capsys.readouterr().err
