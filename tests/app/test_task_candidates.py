"""The Your task page's Candidates panel (AppTest): a shortlist from the published tables, added to models.toml in
one click; in view mode the shortlist shows and the add action is refused. The card's prior-departure sentence."""

from __future__ import annotations

import shutil
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_task_page import _page, task_store  # noqa: F401 - the digits task, run with two tiny models
from tests.unit.data import published as tables


@pytest.fixture
def published_here(monkeypatch, tmp_path, tiny_models_toml):
    """timm's and open_clip's tables and timm's benchmarks (real names, synthetic numbers), and a models.toml of
    this test's own (a copy of the tiny models')."""
    from core.data.catalogue import benchmarks_folder

    monkeypatch.setattr(tables, "timm_population", tables.candidate_population)
    tables.write_tables(monkeypatch, tmp_path / "data")
    benchmarks_folder().mkdir(parents=True)
    for name, data in tables.benchmark_files().items():
        (benchmarks_folder() / name).write_bytes(data)
    toml = tmp_path / "models.toml"
    shutil.copy(tiny_models_toml, toml)
    monkeypatch.setenv("BAE_MODELS_TOML", str(toml))
    return toml


def _text(at: AppTest) -> str:
    return "\n".join(str(block.value) for block in [*at.markdown, *at.caption, *at.info, *at.success, *at.error])


def _shortlist(at: AppTest) -> AppTest:
    at.number_input(key="task_cand_max_params").set_value(30.0)
    at.slider(key="task_cand_top").set_value(5)
    next(button for button in at.button if button.label == "Shortlist").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "checkpoint" in frame.value.columns)


def test_the_panel_shortlists_and_adds_once(monkeypatch, task_store, published_here):  # noqa: F811
    at = _shortlist(_page(monkeypatch, task_store, view_only=False))
    table = _table(at)
    assert 0 < len(table) <= 5 and (table["params_m"] <= 30).all()
    assert set(table["tag"]) <= {"[T]", "[O]"} and table["pretraining"].str.split(" ").str[0].nunique() >= 3
    text = _text(at)
    assert "Prior: ImageNet top-1 ([T] timm's results-imagenet.csv" in text and "Download size: not stated" in text
    assert at.multiselect(key="task_cand_chosen").value == table["checkpoint"].tolist()
    at.button(key="task_cand_add").click().run()
    assert not at.exception
    entries = tomllib.loads(published_here.read_text())["model"]
    keys = {entry["name"] for entry in entries}
    assert set(table["key"]) <= keys and "Added 5 to models.toml; nothing downloaded" in _text(at)
    _shortlist(at)  # again: every one is registered now, under the key it was added as
    again = _table(at)
    assert (again["registered"] == again["key"]).all() and "registered already" in _text(at)
    assert len(tomllib.loads(published_here.read_text())["model"]) == len(entries)  # nothing added twice


def test_view_mode_shortlists_but_refuses_to_add(monkeypatch, task_store, published_here):  # noqa: F811
    at = _shortlist(_page(monkeypatch, task_store, view_only=True))
    assert len(_table(at)) > 0
    assert "View mode: adding models to models.toml is switched off" in _text(at)
    assert not [button for button in at.button if button.key == "task_cand_add"]
    before = published_here.read_text()
    from core.errors import ViewOnly
    from core.task.candidates import Constraints, add_candidates, shortlist

    with pytest.raises(ViewOnly):  # and core refuses whatever a page shows
        add_candidates(shortlist(Constraints(top=2)).candidates)
    assert published_here.read_text() == before


def test_bad_constraints_get_one_line_and_the_card_names_the_prior(monkeypatch, task_store, published_here):  # noqa: F811
    at = _page(monkeypatch, task_store, view_only=False)
    # the tiny models are local files: no publisher lists them, so the card says there is no prior's pick
    assert "No model run here has a published ImageNet top-1 for its exact checkpoint" in _text(at)
    at.number_input(key="task_cand_max_params").set_value(0.5)
    next(button for button in at.button if button.label == "Shortlist").click().run()
    assert not at.exception and "No published checkpoint meets --max-params 0.5" in _text(at)


def test_missing_tables_say_which_download(monkeypatch, task_store, tmp_path):  # noqa: F811
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "empty"))
    at = _page(monkeypatch, task_store, view_only=False)
    next(button for button in at.button if button.label == "Shortlist").click().run()
    assert not at.exception and "python -m core download timm-results openclip-results" in _text(at)
