"""core.cli: the commands print what users need and exit with meaningful codes."""

from __future__ import annotations

from core.cli import main
from tests.conftest import encoded, photo


def test_models_lists_status(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "effnet_lite0" in out and "live" in out
    assert "vit_sup" in out and "needs weights" in out


def test_predict_prints_top5_for_the_offline_model(tmp_path, capsys):
    path = tmp_path / "coffee.png"
    path.write_bytes(encoded(photo("coffee")))
    assert main(["predict", str(path), "--models", "effnet_lite0"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert line.startswith("coffee.png\teffnet_lite0\tespresso")


def test_predict_explains_bad_files_and_missing_weights(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    assert main(["predict", str(bad), str(tmp_path / "missing.jpg"), "--models", "vit_sup"]) == 0
    err = capsys.readouterr().err
    assert "notes.txt is not an image" in err
    assert "missing.jpg: cannot read" in err
    assert "python -m core download vit_sup" in err


def test_unknown_model_is_a_user_error(capsys):
    assert main(["download", "vit_sop"]) == 1
    assert "Did you mean: vit_sup" in capsys.readouterr().err
