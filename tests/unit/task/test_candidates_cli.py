"""`python -m core task candidates`: the shortlist printed, `--add` writes it to models.toml once, bad input gets one
line (published tables served by the local mirror in the publishers' formats)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from core.cli import main
from tests.unit.data.test_download import server  # noqa: F401 - the mirror fixture
from tests.unit.task.test_candidates import tables_here  # noqa: F401 - the downloaded tables


def _entries() -> list[dict]:
    path = Path(os.environ["BAE_MODELS_TOML"])
    return tomllib.loads(path.read_text())["model"] if path.exists() else []


def test_add_then_models_lists_them_and_adding_again_adds_nothing(tables_here, capsys):  # noqa: F811
    assert main(["task", "candidates", "parts", "--max-params", "30", "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert "Prior: ImageNet top-1 ([T] timm's results-imagenet.csv" in out and "--add" in out
    assert not _entries()  # nothing written without --add
    assert main(["task", "candidates", "parts", "--max-params", "30", "--top", "4", "--add"]) == 0
    out = capsys.readouterr().out
    added = _entries()
    assert len(added) == 4 and "Added 4 models to models.toml" in out and "Nothing was downloaded" in out
    assert all(entry["library"] == "timm" and entry["family"] in ("vit", "convnet") for entry in added)
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert all(entry["name"] in listed for entry in added)
    assert main(["task", "candidates", "parts", "--max-params", "30", "--top", "4", "--add"]) == 0
    out = capsys.readouterr().out
    assert "Added 0 models to models.toml; 4 not added:" in out and "already registered as" in out
    assert _entries() == added  # not added twice
    # the rows now say which key each checkpoint is registered under
    assert main(["task", "candidates", "parts", "--max-params", "30", "--top", "4"]) == 0
    assert sum(entry["name"] in line for line in capsys.readouterr().out.splitlines() for entry in added) >= 4


def test_view_mode_refuses_to_add(tables_here, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("BAE_VIEW_ONLY", "1")
    assert main(["task", "candidates", "parts", "--top", "3", "--add"]) == 2
    assert "View mode is on" in capsys.readouterr().err and not _entries()


def test_bad_input_gets_one_line(tables_here, capsys):  # noqa: F811
    cases = {("--on", "m1", "--min-speed", "5"): "Unknown machine `m1` for --on",
             ("--pretraining", "jft3"): "Unknown pretraining source `jft3`",
             ("--max-params", "0.1"): "No published checkpoint meets --max-params 0.1. The smallest",
             ("--library", "keras"): "Expected --library among timm, open_clip"}
    for args, message in cases.items():
        assert main(["task", "candidates", "parts", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
