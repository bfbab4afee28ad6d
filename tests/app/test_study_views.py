"""AppTest: Home's "Get started" box on an empty store, and the study plan on Evaluations."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.run import jobs
from core.store import ResultsStore, RunInfo


def _app(monkeypatch, tmp_path, page: str | None = None, **params) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file("../../app.py", default_timeout=180)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_empty_store_shows_get_started_and_one_click_starts_quickstart(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(jobs, "launch", lambda arguments, name: started.append(arguments) or jobs.Job(
        999999, ("python", "-m", "core", *arguments), str(tmp_path / "log"), 0.0))
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert any(header.value == "Get started" for header in at.subheader)
    assert any("copy the cue-conflict images" in caption.value.lower() for caption in at.caption)
    at.button(key="home_get_started").click().run()
    assert not at.exception
    assert started == [["quickstart"]]


def test_a_store_with_results_has_no_get_started_box(monkeypatch, tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(RunInfo("r1", "effnet_lite0", "cue-conflict", "", "paper", 1))
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert not any(header.value == "Get started" for header in at.subheader)


def test_evaluations_shows_the_plan_and_opens_at_a_claim_from_the_url(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path, "views/evaluations.py")
    assert not at.exception
    plan = next(frame.value for frame in at.dataframe if "what next" in frame.value.columns)
    assert set(plan["status"]) == {"blocked"} and set(plan["claim"]) == set(range(1, 9))
    assert "python -m core download cue-conflict" in " ".join(plan.loc[plan["claim"] == 5, "what next"])
    assert at.button(key="evaluations_run_missing").disabled  # nothing runnable on an empty machine
    at = _app(monkeypatch, tmp_path, "views/evaluations.py", claim="5")
    plan = next(frame.value for frame in at.dataframe if "what next" in frame.value.columns)
    assert set(plan["claim"]) == {5} and at.selectbox(key="evaluations_plan_claim").value == 5


def test_authors_decisions_show_as_stored_in_the_plan(monkeypatch, tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    for model in ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip"):
        store.start_run(RunInfo(f"a-{model}", model, "cue-conflict", "", "paper", 1, source="authors"))
        store.finish_run(f"a-{model}", "done")
    at = _app(monkeypatch, tmp_path, "views/evaluations.py", claim="5")
    assert not at.exception
    plan = next(frame.value for frame in at.dataframe if "what next" in frame.value.columns)
    assert set(plan["status"]) == {"stored"} and len(plan) == 5


def test_a_first_click_that_failed_shows_its_last_lines_and_the_button_again(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "quickstart.log"
    log.write_text("Download the 1,280 cue-conflict images: 0%\n\x1b[A\x1b[2Kcue-conflict: HTTP 404 from the mirror. "
                   "Offline? Copy the cue-conflict images …\n")
    os.utime(log, (1, 1))  # ended long ago
    done = jobs.Job(os.getpid(), ("python", "-m", "core", "quickstart"), str(log), 1.0)
    monkeypatch.setattr(jobs.Job, "running", property(lambda job: False))
    jobs._write([done])
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    error = " ".join(element.value for element in at.error)
    assert "stopped before the results were stored" in error and "HTTP 404 from the mirror" in error
    assert "\x1b" not in error and "[A" not in error
    assert at.button(key="home_get_started")
