"""A bare clone (no ../shared) passes the test command: the tests that read the development data skip with one
line saying what is missing and how to get it, and none fails; in CI (`CI=true`), such a skip fails the run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Representative: pure reads of the decisions, and an app page that imports them (it once failed with KeyError).
FILES = ["tests/unit/metrics/test_shape_bias.py",
         "tests/app/test_evaluations_page.py::test_runs_are_listed_with_their_source"]


def _pytest(tmp_path, *files, ci: bool) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "PYTEST_ADDOPTS")}
    env["BAE_SHARED_DIR"] = str(tmp_path / "empty-shared")
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def test_tests_that_read_the_development_data_skip_with_one_line_where_it_is_missing(tmp_path):
    result = _pytest(tmp_path, *FILES, ci=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips and "failed" not in result.stdout and "error" not in result.stdout.lower()
    assert all("needs the development data" in line and "BAE_SHARED_DIR" in line and "python -m core download" in line
               for line in skips), skips
    assert re.search(r"\b[1-9]\d* skipped", result.stdout)


def test_in_ci_a_skip_for_missing_development_data_fails_the_run(tmp_path):
    result = _pytest(tmp_path, FILES[0], ci=True)
    assert result.returncode == 1, result.stdout[-2000:]
    skipped = re.search(r"(\d+) skipped", result.stdout)[1]
    assert f"\nCI=true: {skipped} test(s) skipped for missing development data" in result.stdout, result.stdout[-1500:]
