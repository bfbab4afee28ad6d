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


def test_predict_with_a_corruption_names_it_and_changes_the_answer(tmp_path, capsys):
    path = tmp_path / "coffee.png"
    path.write_bytes(encoded(photo("coffee")))
    assert main(["predict", str(path), "--models", "effnet_lite0", "--corruption", "gaussian_noise",
                 "--severity", "0"]) == 0
    clean = capsys.readouterr().out.strip().splitlines()[0]
    assert clean.startswith("coffee.png · clean\teffnet_lite0\tespresso")
    assert main(["predict", str(path), "--models", "effnet_lite0", "--corruption", "gaussian_noise",
                 "--severity", "5"]) == 0
    noisy = capsys.readouterr().out.strip().splitlines()[0]
    assert noisy.startswith("coffee.png · Gaussian noise 5\teffnet_lite0\t")
    # the espresso probability falls under severity-5 noise
    def espresso(line):
        return next(float(part.rsplit(" ", 1)[1].rstrip("%")) for part in line.split("\t")[2].split(", ")
                    if part.startswith("espresso")) if "espresso" in line else 0.0
    assert espresso(noisy) < espresso(clean)


def test_predict_corruption_mistakes_get_messages(tmp_path, capsys):
    path = tmp_path / "coffee.png"
    path.write_bytes(encoded(photo("coffee")))
    assert main(["predict", str(path), "--models", "effnet_lite0", "--corruption", "gausian_noise"]) == 2
    assert "Unknown corruption 'gausian_noise'. Did you mean gaussian_noise" in capsys.readouterr().err
    assert main(["predict", str(path), "--models", "effnet_lite0", "--severity", "2"]) == 2
    assert "--severity needs --corruption" in capsys.readouterr().err


def test_explain_writes_an_overlay_and_the_raw_map_per_model(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    path = tmp_path / "coffee.png"
    path.write_bytes(encoded(photo("coffee")))
    out = tmp_path / "maps"
    assert main(["explain", str(path), "--models", "effnet_lite0,vit_sup", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "python -m core download vit_sup" in captured.err  # the missing model is explained, the other runs
    line = captured.out.strip().splitlines()[0]
    assert line.startswith("coffee.png\teffnet_lite0\tespresso") and "Grad-CAM" in line
    heatmap = np.load(out / "coffee_effnet_lite0.npy")
    assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0 and abs(float(heatmap.max()) - 1) < 1e-3  # scaled to [0, 1] by grad-cam
    with Image.open(out / "coffee_effnet_lite0.png") as overlay:
        assert overlay.size == (224, 224) and overlay.mode == "RGB"
    assert sorted(p.name for p in out.iterdir()) == ["coffee_effnet_lite0.npy", "coffee_effnet_lite0.png"]


def test_ctrl_c_during_evaluate_ends_with_the_one_line_stop_message(tmp_path, monkeypatch, capsys):
    import core.run.evaluation
    from core.cli import STOPPED_MESSAGE

    def interrupted(*args, **kwargs):  # Ctrl-C mid-run: evaluate marks its runs `stopped` and re-raises
        raise KeyboardInterrupt

    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    monkeypatch.setattr(core.run.evaluation, "evaluate", interrupted)
    assert main(["evaluate", "--models", "effnet_lite0", "--benchmark", "cue-conflict", "--data", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == STOPPED_MESSAGE


def test_task_run_progress_is_shown_on_one_line_or_a_line_per_message():
    """`task run` shows the run's own progress sentence (issue 33: it was built once a second and dropped)."""
    import io

    from core.cli._common import message_line

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        progress, close = message_line(stream)
        progress(1, 10, "1/10 images · 2.0/s · about 5 s left")
        progress(10, 10, "10/10 images · 2.0/s · about 0 s left")
        close()
    assert log.getvalue() == "1/10 images · 2.0/s · about 5 s left\n10/10 images · 2.0/s · about 0 s left\n"
    assert terminal.getvalue() == ("\r1/10 images · 2.0/s · about 5 s left\r10/10 images · 2.0/s · about 0 s left"
                                   "\n")


def test_building_the_command_line_imports_no_numpy():
    """`python -m core --help` stays quick: the task defaults come from `core.task.spec`, not the folder reader."""
    import subprocess
    import sys

    from core.config import PROJECT_ROOT

    code = "import sys, core.cli; core.cli._parser(); print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
def test_step_progress_in_a_log_is_plain_lines_a_tenth_apart():
    import io

    from core.cli._common import step_bars

    log = io.StringIO()  # not a terminal, as a background job's log
    progress, close = step_bars(log)
    for done in range(0, 1001, 25):
        progress("Download the images", done, 1000)
    progress("Import the decisions", 1, 2)
    close()
    lines = log.getvalue().splitlines()
    assert lines == [f"Download the images: {percent}%" for percent in range(0, 101, 10)] + ["Import the decisions: 50%"]


def test_every_command_prints_its_help():
    """argparse formats help text with %: a bare percent sign in a help string crashes `--help` (it did for
    `task run --help`)."""
    import contextlib
    import io

    from core.cli import _parser

    parser, _ = _parser()
    stack = [parser]
    while stack:
        current = stack.pop()
        with contextlib.redirect_stdout(io.StringIO()):
            current.format_help()  # raises ValueError on a bad format character
        for action in current._actions:
            if isinstance(action.choices, dict):
                stack.extend(action.choices.values())
