"""AppTest: the Shape vs texture page on real decisions (authors, humans) and a measured run."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.run.evaluation import evaluate

from core.run.decisions import import_author_decisions, import_human_decisions
from core.store import ResultsStore
from tests.conftest import shared_data


def _page(monkeypatch, db) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    at = AppTest.from_file("../../app.py", default_timeout=120).run()
    at.switch_page("views/shape_texture.py").run()
    return at


def test_empty_store_gives_the_commands(monkeypatch, tmp_path):
    at = _page(monkeypatch, tmp_path / "none.duckdb")
    assert not at.exception
    assert "python -m core download cue-conflict" in at.info[0].value


def test_shape_bias_of_authors_humans_and_a_measured_run(monkeypatch, tmp_path, tiny_models_toml):
    cue = shared_data("cue-conflict")
    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(authors, store, say=lambda _: None)
    import_human_decisions(humans, store, say=lambda _: None)
    evaluate(["tiny_vit"], "cue-conflict", cue, limit=64, store=store, workers=0,
             say=lambda _: None)
    latest = evaluate(["tiny_vit"], "cue-conflict", cue, limit=48, seed=7, store=store,
                      workers=0, say=lambda _: None)[0]  # a second sample of the same model: it replaces the first
    at = _page(monkeypatch, store.path)
    assert not at.exception
    table = at.dataframe[0].value.set_index("label")
    decided = store.query("SELECT count(*) AS n FROM predictions WHERE run_id = ? AND shape <> texture",
                          [latest.run_id])["n"].iloc[0]
    assert table.loc["Tiny ViT (random) · measured (paper)", "n"] == decided  # not both runs' images pooled
    assert table.loc["ViT-clip (ViT-B/16 LAION-400M) · authors' release", "shape_bias"] == pytest.approx(0.465, abs=0.01)
    assert table.loc["Humans (10 observers, pooled)", "n"] == 12_000
    assert "Tiny ViT (random) · measured (paper)" in table.index
    assert len(at.get("download_button")) >= 6  # PNG, SVG, CSV for both charts
    at.multiselect(key="shape_gallery_shape").set_value(["cat"])
    at.selectbox(key="shape_gallery_agree").select("shown disagree")
    at.run()
    assert not at.exception
    assert any("conflict images match" in caption.value for caption in at.caption)


def test_gallery_finds_the_images_of_imported_decisions(monkeypatch, tmp_path):
    # authors' and humans' decisions carry no path: the gallery finds each image in the downloaded copy
    cue = shared_data("cue-conflict")
    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(authors, store, say=lambda _: None)
    import_human_decisions(humans, store, say=lambda _: None)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cue-conflict").symlink_to(cue)
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    at = _page(monkeypatch, store.path)
    assert not at.exception
    captions = [caption.value for caption in at.caption]
    assert not any("image file not available" in caption for caption in captions)
    assert len(at.get("image")) == 24
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "nowhere"))  # no copy anywhere: said so, no exception
    at = _page(monkeypatch, store.path)
    assert not at.exception
    assert sum("image file not available" in caption.value for caption in at.caption) == 24


def test_gallery_is_paged(monkeypatch, tmp_path):
    import re

    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(shared_data("cue-conflict-paper-models"), store, say=lambda _: None)
    at = _page(monkeypatch, store.path)
    assert not at.exception

    def shown():
        for caption in at.caption:
            found = re.match(r"Images ([\d,]+)–([\d,]+) of ([\d,]+) that match", caption.value)
            if found:
                return tuple(int(group.replace(",", "")) for group in found.groups())
        raise AssertionError("no 'Images a–b of n' caption")

    def cards():
        return [caption.value for caption in at.caption if " shape · " in caption.value]

    first, last, total = shown()
    assert (first, last) == (1, 24) and total > 48 and len(cards()) == 24
    page_one = cards()
    at.number_input(key="shape_gallery_page").set_value(2).run()
    assert not at.exception
    assert shown() == (25, 48, total) and len(cards()) == 24 and cards() != page_one
    assert at.query_params["shape_gallery_page"] in (["2"], "2")
    at.multiselect(key="shape_gallery_shape").set_value(["cat"]).run()  # another list: back to its first page
    assert not at.exception and shown()[0] == 1 and shown()[2] < total


def test_an_old_label_link_and_a_new_key_link_open_the_same_view(monkeypatch, tmp_path):
    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(authors, store, say=lambda _: None)
    import_human_decisions(humans, store, say=lambda _: None)
    views = []
    for makers in (["ViT-clip (ViT-B/16 LAION-400M) · authors' release", "Humans (10 observers, pooled)"],
                   ["vit_clip.authors", "humans"]):
        monkeypatch.setenv("BAE_RESULTS_DB", str(store.path))
        at = AppTest.from_file("../../app.py", default_timeout=120)
        at.query_params["shape_makers"] = makers
        at.run()
        at.switch_page("views/shape_texture.py").run()
        assert not at.exception
        views.append((at.multiselect(key="shape_makers").value, sorted(at.dataframe[0].value["label"])))
        written = at.query_params["shape_makers"]
        assert sorted(written if isinstance(written, list) else [written]) == ["humans", "vit_clip.authors"]
    assert views[0] == views[1] and len(views[0][0]) == 2


def test_a_cold_open_reads_every_makers_rows_on_one_connection(monkeypatch, tmp_path):
    """The four authors' runs and ten observers: the page read each maker's rows, and each run's paths, on a
    connection of their own (over 20); now one connection reads them all (the runs list takes its own)."""
    import duckdb

    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(authors, store, say=lambda _: None)
    import_human_decisions(humans, store, say=lambda _: None)
    opened = []
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: opened.append(args) or connect(*args, **kwargs))
    at = _page(monkeypatch, store.path)
    assert not at.exception
    table = at.dataframe[0].value.set_index("label")
    assert table.loc["Humans (10 observers, pooled)", "n"] == 12_000
    assert len(opened) <= 4, opened
