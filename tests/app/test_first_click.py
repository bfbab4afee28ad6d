"""Home's first click, to the end: "Get first results" starts the real background job (`quickstart`, downloads from
a local mirror in the publishers' layout), the box shows one line per step with its percentage, and when the job
is done Home says so and links to Shape vs texture and Findings."""

from __future__ import annotations

import sys
import time

from streamlit.testing.v1 import AppTest

from core.run import jobs
from core.run.study import QUICKSTART_STEPS
from tests.fixtures import quickstart_mirror
from tests.unit.data import mirror


def _progress_lines(at: AppTest) -> list[str]:
    return [element.proto.text for element in at.get("progress")]


def test_the_first_click_ends_in_results_with_clean_progress_on_the_way(monkeypatch, tmp_path):
    server = mirror.Mirror()
    files, _ = quickstart_mirror.served()
    server.files.update(files)
    monkeypatch.setenv("BAE_DATA_MIRROR", server.url)
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path / "cache"))  # its own jobs list and logs
    # the real job, run with the mirror's small entries in place (`python -m core quickstart` otherwise)
    monkeypatch.setattr(jobs, "_command", lambda arguments: [sys.executable, "-m", "tests.fixtures.quickstart_mirror",
                                                             *arguments])
    try:
        at = AppTest.from_file("../../app.py", default_timeout=180).run()
        assert not at.exception
        assert [header.value for header in at.subheader][:1] == ["Get started"]
        at.button(key="home_get_started").click().run()
        assert not at.exception
        job = jobs.latest("quickstart")
        assert job is not None and "quickstart" in job.command

        seen, deadline = [], time.monotonic() + 420
        while time.monotonic() < deadline:
            lines = _progress_lines(at)
            seen += lines
            if any(header.value == "First results are ready" for header in at.subheader):
                break
            assert not at.exception and not any("stopped before" in error.value for error in at.error), \
                jobs.log_tail(job, 20)
            time.sleep(1.0)
            at.run()
        else:
            raise AssertionError(f"not finished in time; log:\n{jobs.log_tail(job, 20)}")

        assert seen, "no progress was shown while the job ran"
        labels = {line.rsplit(": ", 1)[0] for line in seen}
        assert labels <= set(QUICKSTART_STEPS) and len(labels) == len(QUICKSTART_STEPS)  # one line per step
        assert all(line.endswith("%") and "\x1b" not in line and "[A" not in line for line in seen)
        assert not job.running
        success = " ".join(element.value for element in at.success)
        assert f"classified the {quickstart_mirror.IMAGES} cue-conflict images" in success, success
        links = [element.proto.page for element in at.get("page_link")]  # the pages' URL paths
        assert "shape-texture" in links and "findings" in links, links
        assert "Get first results" not in [button.label for button in at.button]
    finally:
        server.close()
