"""The Your task page (AppTest): the decision card and the evidence in normal mode, no writing control in view mode."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures.task_folders import digits_folder, run_digits_task


@pytest.fixture(scope="module")
def task_store(tmp_path_factory, tiny_models_toml):
    store, _, _, _ = run_digits_task(tmp_path_factory.mktemp("task_page"), ["tiny_convnext", "tiny_clip"])
    return store.path


def _page(monkeypatch, store_path, *, view_only: bool) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(store_path))
    monkeypatch.setenv("BAE_VIEW_ONLY", "1" if view_only else "0")
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.switch_page("views/task.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return "\n".join(str(block.value) for block in [*at.markdown, *at.caption, *at.info])


def test_page_shows_the_card_and_every_section(monkeypatch, task_store):
    at = _page(monkeypatch, task_store, view_only=False)
    text = _text(at)
    assert "For accuracy:" in text and "paired over" in text
    assert at.selectbox(key="task_name").value == "digits"
    for header in ("How accuracy grows with labelled examples", "Is each model calibrated?",
                   "How each model degrades on blurred, noisy or darker images", "Where the models agree and disagree"):
        assert header in [h.value for h in at.subheader]
    assert "Capped:" not in text  # 8 images per class: 4 train, enough for k = 2
    at.radio(key="task_priority").set_value("calibration").run()
    assert not at.exception and "For calibration:" in _text(at)
    at.radio(key="task_priority").set_value("mix").run()
    assert not at.exception and "For mix:" in _text(at)
    assert at.query_params["task_priority"] == ["mix"] or at.query_params["task_priority"] == "mix"
    assert "Add or run a task" in [h.value for h in at.subheader]


def test_view_mode_shows_results_and_refuses_task_writes(monkeypatch, task_store):
    at = _page(monkeypatch, task_store, view_only=True)
    text = _text(at)
    assert "For accuracy:" in text
    assert "View mode: adding and running tasks is switched off" in text
    assert "Add or run a task" not in [h.value for h in at.subheader]


def test_view_mode_refuses_task_add_on_the_command_line(monkeypatch, tmp_path):
    from core.cli import main

    digits_folder(tmp_path / "images", per_class=3)
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    assert main(["task", "add", "digits", "--data", str(tmp_path / "images")]) == 2
    assert not (tmp_path / "results.duckdb").exists()


def test_card_shows_p_best_the_race_and_the_page_offers_a_race(monkeypatch, task_store, tmp_path):
    import shutil

    from core.store import ResultsStore

    raced = tmp_path / "raced.duckdb"
    shutil.copy(task_store, raced)
    ResultsStore(raced).write_task_race("digits", {
        "looks": [100, 200], "survivors": ["tiny_convnext", "tiny_clip"], "race_passes": 300, "full_passes": 1200,
        "drops": [{"candidate": "Tiny ViT · 2-shot probe", "model": "tiny_vit", "round": 1, "n": 100,
                   "leader": "Tiny ConvNeXt · linear probe", "difference": -0.25, "upper": -0.08}]})
    at = _page(monkeypatch, raced, view_only=False)
    text = _text(at)
    assert "Chance of being best" in text
    assert "Dropped in round 1 (100 test images): Tiny ViT · 2-shot probe − Tiny ConvNeXt · linear probe top-1 = " \
           "-25.0 pp" in text
    assert ("The race (α = 5%) computed 300 forward passes where a full run of every model needed 1,200: 75% saved."
            in text)
    # the page's P(best) line is the report's (`p_best_text`), naming its method
    shares = [line for line in text.splitlines() if line.startswith("Chance of being best (m-out-of-n bootstrap, m = ")]
    assert len(shares) == 1 and shares[0].count("%") >= 3  # one share per candidate on the card
    assert at.checkbox(key="task_run_race").value is False
