"""`python -m core study` and `quickstart` end to end: the offline model on a mirror-served mini cue-conflict."""

from __future__ import annotations

import pytest

from core.cli import main
from core.data.cue_conflict import AUTHOR_MODELS
from core.data.sources import SOURCES
from core.store import ResultsStore

from tests.fixtures.quickstart_mirror import decision_files
from tests.unit.data import mirror as mini


@pytest.fixture
def served(monkeypatch, tmp_path):
    server = mini.Mirror()
    files, _, _ = mini.cue_conflict()
    server.files.update(files)
    decisions, sources = decision_files()
    server.files.update(decisions)
    for name, source in sources.items():
        monkeypatch.setitem(SOURCES, name, source)  # this mini copy's checksums
    monkeypatch.setenv("BAE_DATA_MIRROR", server.url)
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    yield server
    server.close()


def test_study_runs_the_runnable_runs_then_adds_nothing_and_quickstart_completes(served, capsys):
    assert main(["download", "cue-conflict"]) == 0
    assert main(["study", "--models", "effnet_lite0", "--plan", "--no-timing"]) == 0
    plan = capsys.readouterr().out
    line = next(line for line in plan.splitlines() if line.strip().startswith("cue-conflict ") and "effnet_lite0" in line)
    assert "runnable" in line and "1 runs can start now" in plan
    assert main(["study", "--models", "effnet_lite0", "--no-timing"]) == 0
    assert "1 run(s) finished" in capsys.readouterr().out
    store = ResultsStore()
    runs = store.runs()
    ours = runs[(runs["source"] == "ours")]
    assert list(ours["model"]) == ["effnet_lite0"] and list(ours["benchmark"]) == ["cue-conflict"]
    assert ours["status"].item() == "done" and ours["done"].item() == 1280
    assert main(["study", "--models", "effnet_lite0", "--no-timing"]) == 0  # a second study adds nothing
    assert "Nothing to run" in capsys.readouterr().out
    assert len(ResultsStore().runs()) == len(runs)
    assert main(["study", "--models", "effnet_lite0", "--plan", "--no-timing"]) == 0
    replanned = capsys.readouterr().out
    assert "stored" in next(line for line in replanned.splitlines()
                            if line.strip().startswith("cue-conflict ") and "effnet_lite0" in line)
    assert main(["quickstart"]) == 0  # downloads and imports the decisions; the evaluation is already stored
    runs = ResultsStore().runs()
    assert set(runs.loc[runs["source"] == "authors", "model"]) == set(AUTHOR_MODELS.values())
    assert (runs["source"] == "humans").sum() == 10
    assert (runs["source"] == "ours").sum() == 1


def test_quickstart_offline_says_what_to_copy_where(served, capsys):
    served.files.clear()
    assert main(["quickstart"]) == 2
    error = capsys.readouterr().err
    assert "Offline? Copy the cue-conflict images" in error and "cue-conflict-paper-models" in error
    assert "Traceback" not in error
