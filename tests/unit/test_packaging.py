"""`pip install .`: the package, its data files and the `bae` command, in a fresh virtual environment.

Nothing is downloaded: the new environment sees the project environment's packages through a .pth file, and
pip installs only this project (`--no-deps --no-build-isolation`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_dependencies_are_read_from_requirements_txt():
    """One list: pyproject.toml declares its dependencies dynamic, read from the file `bash scripts/dev` installs,
    and that file holds only lines setuptools reads (no -r, -c, -e or pip options)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dependencies" not in project["project"] and "dependencies" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not [line for line in lines if line.startswith("-") or " #" in line]
    assert project["project"]["scripts"] == {"bae": "core.cli:main"}


def _copy_of_the_checkout(target: Path) -> Path:
    """The files a clone has (tracked, or new and not ignored), so the build leaves the checkout untouched."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the copy to install from is made from its file list")
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pip_install_gives_the_bae_command_and_an_app_that_starts(tmp_path):
    source = _copy_of_the_checkout(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip: the project's
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    bae = venv / "bin" / "bae"
    env = {**os.environ, "BAE_HOME": str(tmp_path / "home")}
    for key in ("BAE_CACHE_DIR", "BAE_MODELS_TOML"):
        env.pop(key, None)  # the installed package's own defaults, under BAE_HOME
    helped = subprocess.run([bae, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: bae"), helped.stderr
    assert all(name in helped.stdout for name in ("evaluate", "quickstart", "task", "app"))
    listed = subprocess.run([bae, "task", "list"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    where = subprocess.run([python, "-c", "import core.config as c; print(c.PROJECT_ROOT, c.is_checkout(), "
                                          "c.cache_dir())"], capture_output=True, text=True, env=env, cwd=tmp_path)
    root, checkout, cache = where.stdout.split()
    assert Path(root) == Path(purelib) and checkout == "False" and Path(cache) == tmp_path / "home" / "cache"
    assert (Path(purelib) / "core" / "data" / "imagenet_classes.tsv").is_file()

    home = subprocess.run([python, "-c", "from streamlit.testing.v1 import AppTest; import sys; "
                                         "at = AppTest.from_file(sys.argv[1], default_timeout=120).run(); "
                                         "print(len(at.exception), at.title[0].value)", f"{purelib}/app.py"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert home.stdout.split(None, 1) == ["0", "Beyond Accuracy Explorer\n"], home.stdout + home.stderr[-2000:]

    port = _free_port()
    command = subprocess.run([bae, "app", "--print-command", f"--server.port={port}"], capture_output=True,
                             text=True, env=env, cwd=tmp_path).stdout
    assert f"{purelib}/app.py" in command and "--server.address=127.0.0.1" in command  # the app's own settings
    server = subprocess.Popen([bae, "app", f"--server.port={port}"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, healthy = time.monotonic() + 90, False
        while time.monotonic() < deadline and server.poll() is None and not healthy:
            try:
                healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok"
            except OSError:
                time.sleep(0.5)
        assert healthy, (server.poll(), server.stdout.read() if server.poll() is not None else "")
    finally:
        server.terminate()
        server.wait(timeout=30)
