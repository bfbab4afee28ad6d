"""AppTest: the Evaluations page reads the store, validates folders and runs evaluate in the background."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.run import jobs
from core.store import ResultsStore
from tests.conftest import shared_data


def _page(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    at = AppTest.from_file("../../app.py", default_timeout=120).run()
    at.switch_page("views/evaluations.py").run()
    return at


def test_empty_store_says_how_to_fill_it(monkeypatch, tmp_path):
    at = _page(monkeypatch, tmp_path)
    assert not at.exception
    assert any("python -m core evaluate" in info.value for info in at.info)


def test_runs_are_listed_with_their_source(monkeypatch, tmp_path):
    from core.run.decisions import import_author_decisions

    import_author_decisions(shared_data("cue-conflict-paper-models"), ResultsStore(tmp_path / "results.duckdb"),
                            say=lambda _: None)
    at = _page(monkeypatch, tmp_path)
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["source"]) == {"authors"} and set(table["images"]) == {1280}


def test_a_bad_folder_is_explained_before_anything_starts(monkeypatch, tmp_path):
    at = _page(monkeypatch, tmp_path)
    at.selectbox(key="evaluations_benchmark").select("imagenet-v2")
    at.text_input(key="evaluations_data").input(str(tmp_path / "nowhere"))
    next(button for button in at.button if button.label == "Start in the background").click().run()
    assert not at.exception
    assert any("does not exist" in error.value for error in at.error)
    assert not [job for job in jobs.jobs() if job.running]


def test_start_runs_evaluate_in_the_background(monkeypatch, tmp_path, tiny_models_toml):
    at = _page(monkeypatch, tmp_path)
    at.multiselect(key="evaluations_models").set_value(["tiny_vit"])
    at.selectbox(key="evaluations_benchmark").select("cue-conflict")
    at.text_input(key="evaluations_data").input(str(shared_data("cue-conflict")))
    at.number_input(key="evaluations_limit").set_value(16)
    next(button for button in at.button if button.label == "Start in the background").click().run()
    assert not at.exception
    assert any("Started" in success.value for success in at.success)
    job = jobs.jobs()[0]
    deadline = time.monotonic() + 120
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)
    runs = ResultsStore(tmp_path / "results.duckdb").runs()
    assert list(runs["status"]) == ["done"] and list(runs["done"]) == [16], Path(job.log).read_text()[-1000:]
    at.run()
    assert at.dataframe[0].value["images"].tolist() == [16]


def test_ray_choice_is_passed_to_the_background_command(monkeypatch, tmp_path, tiny_models_toml):
    launched = []
    monkeypatch.setattr(jobs, "launch", lambda arguments, name: launched.append(arguments) or
                        jobs.Job(0, tuple(arguments), str(tmp_path / "log"), time.time()))
    at = _page(monkeypatch, tmp_path)
    at.multiselect(key="evaluations_models").set_value(["tiny_vit"])
    at.selectbox(key="evaluations_benchmark").select("cue-conflict")
    at.text_input(key="evaluations_data").input(str(shared_data("cue-conflict")))
    at.selectbox(key="evaluations_ray").select("Ray cluster at…")
    start = next(button for button in at.button if button.label == "Start in the background")
    start.click().run()
    assert not at.exception and not launched
    assert any("address" in warning.value for warning in at.warning)  # an address is needed first
    at.text_input(key="evaluations_ray_address").input("10.0.0.5:6379")
    next(button for button in at.button if button.label == "Start in the background").click().run()
    at.selectbox(key="evaluations_ray").select("Ray on this machine")
    next(button for button in at.button if button.label == "Start in the background").click().run()
    assert not at.exception
    assert [arguments[arguments.index("--ray") + 1] for arguments in launched] == ["10.0.0.5:6379", "local"]
